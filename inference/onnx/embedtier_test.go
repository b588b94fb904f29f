package onnx

import (
	"context"
	"image"
	"path/filepath"
	"sync"
	"testing"
	"time"

	"github.com/faceverify/faceverify/inference"
	"github.com/faceverify/faceverify/internal/testenv"
)

var (
	tierMu   sync.Mutex
	tierEngs = map[string]*Engine{}
)

// tierEngine returns a shared Engine with the given embedder and engine
// ("" for the default), or skips the test when the models are missing.
func tierEngine(t testing.TB, embedder, engine string) *Engine {
	t.Helper()
	tierMu.Lock()
	defer tierMu.Unlock()
	key := embedder + "/" + engine
	if e, ok := tierEngs[key]; ok {
		return e
	}
	cfg := inference.DefaultConfig()
	cfg.ModelsDir = filepath.Join(repoRoot(t), "models")
	cfg.Embedder = embedder
	cfg.ApplyEmbedderDefaults(false)
	if engine != "" {
		cfg.Engine = engine
	}
	e, err := New(cfg, nil)
	if err != nil {
		t.Skipf("models not available (run `make models`): %v", err)
	}
	tierEngs[key] = e
	return e
}

// TestEmbedderTiers: each tier embeds the kiosk capture and the reference
// with its own model (name and length in the face), and on two pairs of
// ../shared/testdata the same person scores at or above the tier's default
// threshold and another person below it.
func TestEmbedderTiers(t *testing.T) {
	td := testdataDir(t)
	for _, tc := range []struct {
		embedder string
		dim      int
	}{
		{inference.EmbedderFRFeature, 512},
		{inference.EmbedderMobileFaceNet, 192},
	} {
		t.Run(tc.embedder, func(t *testing.T) {
			e := tierEngine(t, tc.embedder, "")
			if (e.Embedder != nil) != (tc.embedder == inference.EmbedderFRFeature) {
				t.Errorf("fr_feature.onnx loaded: %v, want only for the fr_feature tier", e.Embedder != nil)
			}
			embed := func(name string, opts inference.Options) []float32 {
				img, err := decodeFile(t, filepath.Join(td, "identity", name))
				if err != nil {
					t.Fatal(err)
				}
				a, err := e.Analyze(context.Background(), img, opts)
				if err != nil {
					t.Fatal(err)
				}
				if a.Decision != inference.DecisionOK || a.Subject < 0 {
					t.Fatalf("%s: decision %s", name, a.Decision)
				}
				f := a.Faces[a.Subject]
				if len(f.Embedding) != tc.dim || f.EmbeddingModel != tc.embedder {
					t.Fatalf("%s: %d-d embedding by %q, want %d-d by %q", name, len(f.Embedding), f.EmbeddingModel, tc.dim, tc.embedder)
				}
				return f.Embedding
			}
			probe := embed("person_a_01.jpg", inference.Options{Embed: true})
			same := embed("person_a_02.jpg", inference.Options{Embed: true, Reference: true})
			other := embed("person_b_01.jpg", inference.Options{Embed: true, Reference: true})
			th := inference.DefaultMatchThreshold(tc.embedder)
			if c := inference.Cosine(probe, same); c < th {
				t.Errorf("same person: cosine %.3f below the threshold %.2f", c, th)
			}
			if c := inference.Cosine(probe, other); c >= th {
				t.Errorf("different persons: cosine %.3f at or above the threshold %.2f", c, th)
			}
		})
	}
}

// BenchmarkEmbedTier is one face's embedding by each tier (the aligned
// crop given, as BenchmarkEmbed): fr_feature.onnx on ONNX Runtime and on
// the Go engine, MobileFaceNet (always the Go engine). cpu-ms/op is the
// process's CPU time per face.
func BenchmarkEmbedTier(b *testing.B) {
	for _, tc := range []struct{ name, embedder, engine string }{
		{"fr_feature-ort", inference.EmbedderFRFeature, inference.EngineORT},
		{"fr_feature-go", inference.EmbedderFRFeature, inference.EngineGo},
		{"mobilefacenet-go", inference.EmbedderMobileFaceNet, inference.EngineGo},
	} {
		b.Run(tc.name, func(b *testing.B) {
			_, img, _, lm := benchInput(b)
			e := tierEngine(b, tc.embedder, tc.engine)
			aligned := image.NewRGBA(image.Rect(0, 0, inference.ArcFaceSize, inference.ArcFaceSize))
			if _, err := inference.AlignFace(aligned, img, lm); err != nil {
				b.Fatal(err)
			}
			dst := make([]float32, inference.EmbeddingDim(tc.embedder))
			b.ReportAllocs()
			defer testenv.CPUMeter(b, time.Millisecond)()
			for b.Loop() {
				if _, err := e.faces.Embed(aligned, dst); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}
