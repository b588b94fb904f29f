package main

import (
	"log/slog"
	"os"
	"runtime/debug"

	"github.com/faceverify/faceverify/gateway"
)

// goHeapHeadroom is the Go heap allowed beside the decode budget: request
// bodies (a full 8 MiB selfie is ~19 MiB in flight as JSON and bytes), the
// store's page cache, analysis buffers. ONNX Runtime's memory is not Go
// heap and is not counted.
const goHeapHeadroom = 128 << 20

// setMemoryLimit makes the Go runtime collect garbage before its heap
// passes limits.decode_memory + 128 MiB (debug.SetMemoryLimit, a soft
// limit), unless GOMEMLIMIT is set. The decode budget bounds the pixel
// memory alive at once; without a limit the garbage collector would still
// let the heap grow to twice its last live peak (GOGC=100) before
// collecting, e.g. two 134 MB decodes just released plus two new ones.
// It returns the limit in force, in bytes.
func setMemoryLimit(cfg gateway.Config, log *slog.Logger) int64 {
	if os.Getenv("GOMEMLIMIT") != "" {
		limit := debug.SetMemoryLimit(-1)
		log.Info("Go memory limit from GOMEMLIMIT", "bytes", limit)
		return limit
	}
	limit := cfg.Limits.DecodeMemory + goHeapHeadroom
	debug.SetMemoryLimit(limit)
	log.Info("Go memory limit set", "bytes", limit, "decode_memory", cfg.Limits.DecodeMemory)
	return limit
}
