package onnx

import (
	"context"
	"path/filepath"
	"strings"
	"sync"
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

// TestGoEngineConcurrentAnalyze: concurrent Analyze calls on one Go-engine
// Engine (sessions serialised per model, kernels sharing one worker pool)
// give the results of sequential calls.
func TestGoEngineConcurrentAnalyze(t *testing.T) {
	td := testdataDir(t)
	cfg := inference.DefaultConfig()
	cfg.ModelsDir = filepath.Join(repoRoot(t), "models")
	cfg.Engine = inference.EngineGo
	e, err := New(cfg, nil)
	if err != nil {
		t.Skipf("models not available: %v", err)
	}
	defer e.Close()
	files := []string{"identity/person_a_01.jpg", "hard/two_faces.jpg", "liveness/spoof_print_01.jpg"}
	opts := inference.Options{Liveness: true, Embed: true}
	want := make([]inference.Analysis, len(files))
	for i, f := range files {
		want[i], _ = analyzeFile(t, e, filepath.Join(td, f), opts)
	}
	var wg sync.WaitGroup
	errs := make(chan string, 8)
	for g := 0; g < 3; g++ {
		wg.Add(1)
		go func(g int) {
			defer wg.Done()
			for k := 0; k < 2; k++ {
				i := (g + k) % len(files)
				an, _ := analyzeFile(t, e, filepath.Join(td, files[i]), opts)
				if an.Decision != want[i].Decision || len(an.Faces) != len(want[i].Faces) ||
					an.Faces[0].Liveness != want[i].Faces[0].Liveness ||
					inference.Cosine(an.Faces[0].Embedding, want[i].Faces[0].Embedding) < 0.999999 {
					errs <- files[i]
				}
			}
		}(g)
	}
	wg.Wait()
	close(errs)
	for f := range errs {
		t.Errorf("%s: concurrent result differs from the sequential one", f)
	}
}
