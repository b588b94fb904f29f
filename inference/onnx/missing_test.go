package onnx

import (
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/faceverify/faceverify/inference"
	"github.com/faceverify/faceverify/models"
)

// TestNewMissingRuntimeMessage: without the runtime library New says what
// is missing ("ONNX Runtime library"), where it looked (absolute), how the
// relative inference.models_dir was resolved, and the fix exactly once.
func TestNewMissingRuntimeMessage(t *testing.T) {
	if models.ORTLibrary() == "" {
		t.Skip("no pinned ONNX Runtime library for this platform")
	}
	if inference.DefaultEngine != inference.EngineORT {
		t.Skip("built without cgo: no ONNX Runtime")
	}
	wd := t.TempDir()
	t.Chdir(wd)
	if err := os.Mkdir("empty-models", 0o755); err != nil {
		t.Fatal(err)
	}
	cfg := inference.DefaultConfig()
	cfg.ModelsDir = "empty-models"
	_, err := New(cfg, nil)
	if !errors.Is(err, models.ErrMissing) {
		t.Fatalf("err %v, want one matching models.ErrMissing", err)
	}
	msg := err.Error()
	abs := filepath.Join(wd, "empty-models", models.ORTLibrary())
	for _, want := range []string{"ONNX Runtime library missing: " + abs, `inference.models_dir "empty-models" is relative to the working directory ` + wd} {
		if !strings.Contains(msg, want) {
			t.Errorf("message %q does not say %q", msg, want)
		}
	}
	if n := strings.Count(msg, "make models"); n != 1 {
		t.Errorf("message %q gives the `make models` hint %d times, want once", msg, n)
	}
	if strings.Contains(msg, "model file") {
		t.Errorf("message %q calls the runtime library a model file", msg)
	}

	// An absolute models directory needs no explanation of the working directory.
	cfg.ModelsDir = filepath.Join(wd, "empty-models")
	_, err = New(cfg, nil)
	if err == nil || strings.Contains(err.Error(), "relative") || !strings.Contains(err.Error(), abs) {
		t.Errorf("absolute models_dir: %v", err)
	}
}

// TestNewMissingExplicitRuntime: an inference.ort_library that does not
// exist is named with its own fix, not `make models`.
func TestNewMissingExplicitRuntime(t *testing.T) {
	if inference.DefaultEngine != inference.EngineORT {
		t.Skip("built without cgo: no ONNX Runtime")
	}
	cfg := inference.DefaultConfig()
	cfg.ORTLibrary = filepath.Join(t.TempDir(), "libonnxruntime.so")
	_, err := New(cfg, nil)
	if !errors.Is(err, models.ErrMissing) || !strings.Contains(err.Error(), "ONNX Runtime library missing: "+cfg.ORTLibrary) ||
		!strings.Contains(err.Error(), "inference.ort_library") {
		t.Errorf("err %v", err)
	}
}
