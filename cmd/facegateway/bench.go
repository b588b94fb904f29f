package main

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"os"
	"runtime"
	"runtime/pprof"
	"time"

	"github.com/faceverify/faceverify/gateway"
	"github.com/faceverify/faceverify/gateway/loadtest"
	"github.com/faceverify/faceverify/inference"
	"github.com/faceverify/faceverify/inference/onnx"
)

const benchUsage = `usage: facegateway bench [flags]

Starts the gateway in this process on 127.0.0.1 (SQLite in a temporary
directory, or replicas on PostgreSQL) with a partner reference API on
loopback, and drives it like kiosks: per verification a flow, a selfie
signed with a registered device key, status long polls to the decision.
Prints verifications/s (closed loop), p50/p99 at 50 % of that rate, peak
RSS, and
the process's CPU time (user + system, all cores) per verification beside
the wall time spent in model calls. CPU time, unlike wall time, is not
inflated by other load on a shared machine; it includes the load
generator's small share (JSON, base64, signing, polling).

  -models DIR       models directory (default: the gateway default)
  -selfie FILE      photo of the person at the kiosk (default cmd/facedemo/photos/identity/person_a_02.jpg);
                    its face is cut out as faceagent uploads it (3× the face box, ≤ 640 px, JPEG q90)
  -raw-selfie       submit -selfie as it is instead
  -reference FILE   the partner's reference (default cmd/facedemo/photos/identity/person_a_01.jpg)
  -workers N        processing.workers per replica (default: the gateway default)
  -threads N        inference.intra_op_threads (default 0: as serve, max(1, cores ÷ workers))
  -engine NAME      inference.engine: onnxruntime or go (default: the build's default)
  -embedder NAME    inference.embedder: fr_feature (default) or mobilefacenet, with its
                    default match threshold
  -prefetch N       reference.prefetch (default: the gateway default)
  -clients N        closed-loop concurrency (default 2 × workers × replicas)
  -n N              closed-loop verifications (default 60)
  -latency-n N      verifications at 50 % of the sustained rate (default 40; 0 skips)
  -walk D           initiation → selfie delay in the latency phase (default 1s)
  -status-wait D    long poll of each status call, GET /v1/status?wait=D, as faceagent's
                    session.status_wait (default 20s); 0s polls every 10 ms instead
  -postgres DSN     run on this PostgreSQL database (its tables are created)
  -replicas N       gateway replicas on the PostgreSQL database (default 1)
  -json             one JSON object instead of lines
  -cpuprofile FILE  write a CPU profile of the run (go tool pprof)

Exit status: 0 measured, 1 failed, 2 usage error.
`

// benchMain runs `facegateway bench` and returns the exit status.
func benchMain(ctx context.Context, args []string, stdout, stderr io.Writer) int {
	fs := flag.NewFlagSet("bench", flag.ContinueOnError)
	fs.SetOutput(stderr)
	fs.Usage = func() { fmt.Fprint(stderr, benchUsage) }
	cfg := gateway.DefaultConfig()
	models := fs.String("models", cfg.Inference.ModelsDir, "")
	selfie := fs.String("selfie", "cmd/facedemo/photos/identity/person_a_02.jpg", "")
	reference := fs.String("reference", "cmd/facedemo/photos/identity/person_a_01.jpg", "")
	workers := fs.Int("workers", cfg.Processing.Workers, "")
	threads := fs.Int("threads", 0, "")
	engine := fs.String("engine", cfg.Inference.Engine, "")
	embedder := fs.String("embedder", cfg.Inference.Embedder, "")
	prefetch := fs.Int("prefetch", cfg.Reference.Prefetch, "")
	clients := fs.Int("clients", 0, "")
	n := fs.Int("n", 60, "")
	latencyN := fs.Int("latency-n", 40, "")
	walk := fs.Duration("walk", time.Second, "")
	dsn := fs.String("postgres", "", "")
	replicas := fs.Int("replicas", 1, "")
	asJSON := fs.Bool("json", false, "")
	rawSelfie := fs.Bool("raw-selfie", false, "")
	cpuProfile := fs.String("cpuprofile", "", "")
	statusWait := fs.Duration("status-wait", 20*time.Second, "")
	if err := fs.Parse(args); err != nil {
		if errors.Is(err, flag.ErrHelp) {
			return 0
		}
		return 2
	}
	if fs.NArg() > 0 || *workers < 1 || *n < 1 || *latencyN < 0 || *replicas < 1 || (*replicas > 1 && *dsn == "") {
		fmt.Fprint(stderr, "facegateway bench: bad arguments\n"+benchUsage)
		return 2
	}
	cfg.Processing.Workers = *workers
	cfg.Reference.Prefetch = *prefetch
	cfg.Inference.ModelsDir = *models
	cfg.Inference.IntraOpThreads = gatewayThreads(*threads, *workers)
	cfg.Inference.Engine, cfg.Inference.Embedder = *engine, *embedder
	cfg.Inference.ApplyEmbedderDefaults(false)
	if err := cfg.Inference.Validate(); err != nil {
		fmt.Fprintf(stderr, "facegateway bench: %v\n%s", err, benchUsage)
		return 2
	}
	if *cpuProfile != "" {
		f, err := os.Create(*cpuProfile)
		if err != nil {
			fmt.Fprintln(stderr, "facegateway bench:", err)
			return 1
		}
		defer f.Close()
		if err := pprof.StartCPUProfile(f); err != nil {
			fmt.Fprintln(stderr, "facegateway bench:", err)
			return 1
		}
		defer pprof.StopCPUProfile()
	}
	selfieBytes, err := os.ReadFile(*selfie)
	if err == nil {
		var refBytes []byte
		if refBytes, err = os.ReadFile(*reference); err == nil {
			err = runBench(ctx, cfg, selfieBytes, !*rawSelfie, refBytes, loadtest.Options{
				PostgresDSN: *dsn, Replicas: *replicas, Clients: *clients, Verifications: *n,
				LatencyVerifications: *latencyN, LatencyOff: *latencyN == 0, Walk: *walk,
				StatusWait: *statusWait,
			}, *asJSON, stdout, stderr)
		}
	}
	if err != nil {
		fmt.Fprintln(stderr, "facegateway bench:", err)
		return 1
	}
	return 0
}

func runBench(ctx context.Context, cfg gateway.Config, selfie []byte, crop bool, ref []byte, o loadtest.Options, asJSON bool, stdout, stderr io.Writer) error {
	log := slog.New(slog.NewTextHandler(stderr, &slog.HandlerOptions{Level: slog.LevelWarn}))
	eng, err := onnx.New(cfg.Inference, log)
	if err != nil {
		return err
	}
	defer eng.Close()
	if crop {
		if selfie, err = kioskCrop(ctx, eng, selfie, cfg.Inference.MaxPixels); err != nil {
			return fmt.Errorf("selfie: %w", err)
		}
	}
	dir, err := os.MkdirTemp("", "facegateway-bench-")
	if err != nil {
		return err
	}
	defer os.RemoveAll(dir)
	o.Analyzer, o.Selfie, o.Reference, o.Config, o.Dir = eng, selfie, ref, &cfg, dir
	rep, err := loadtest.Run(ctx, o)
	if err != nil {
		return err
	}
	if asJSON {
		return json.NewEncoder(stdout).Encode(rep)
	}
	fmt.Fprintf(stdout, "engine: %s, embedder: %s, intra-op threads: %d, reference prefetch: %d, cores: %d, jpeg decoder: %s\n",
		cfg.Inference.Engine, cfg.Inference.Embedder, cfg.Inference.IntraOpThreads, cfg.Reference.Prefetch, runtime.NumCPU(), inference.JPEGDecoderName())
	rep.Format(stdout)
	return nil
}

// kioskCrop cuts the subject face out of photo as faceagent's default
// session settings upload it (inference.CropFace, crop_scale 3, crop_max_side
// 640, JPEG quality 90).
func kioskCrop(ctx context.Context, a inference.Analyzer, photo []byte, maxPixels int) ([]byte, error) {
	img, err := inference.Decode(bytes.NewReader(photo), maxPixels)
	if err != nil {
		return nil, err
	}
	an, err := a.Analyze(ctx, img, inference.Options{})
	if err != nil {
		return nil, err
	}
	if an.Subject < 0 || an.Subject >= len(an.Faces) {
		return nil, fmt.Errorf("no usable face (%s)", an.Decision)
	}
	c, err := inference.CropFace(img, an.Faces[an.Subject].Box, 3, 640)
	if err != nil {
		return nil, err
	}
	return inference.EncodeJPEG(c, 90)
}
