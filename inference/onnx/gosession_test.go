package onnx

import (
	"context"
	"path/filepath"
	"strings"
	"testing"

	"github.com/faceverify/faceverify/inference"
)

// TestGoEngineNeedsNoRuntime: with inference.engine = "go" the engine loads
// and analyses although the configured ONNX Runtime library does not exist.
func TestGoEngineNeedsNoRuntime(t *testing.T) {
	cfg := inference.DefaultConfig()
	cfg.ModelsDir = filepath.Join(repoRoot(t), "models")
	cfg.Engine = inference.EngineGo
	cfg.ORTLibrary = filepath.Join(t.TempDir(), "absent.so")
	e, err := New(cfg, nil)
	if err != nil {
		if strings.Contains(err.Error(), "make models") {
			t.Skipf("models not available: %v", err)
		}
		t.Fatal(err)
	}
	defer e.Close()
	an, err := e.Analyze(context.Background(), imageOf(320, 240), inference.Options{Liveness: true})
	if err != nil {
		t.Fatal(err)
	}
	if an.Decision != inference.DecisionNoFace {
		t.Errorf("grey image: decision %s, want NO_FACE", an.Decision)
	}
	if err := e.Close(); err != nil {
		t.Fatal(err)
	}
	if _, err := e.Analyze(context.Background(), imageOf(320, 240), inference.Options{}); err == nil {
		t.Error("Analyze after Close succeeded")
	}
}
