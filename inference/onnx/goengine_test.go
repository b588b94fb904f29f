//go:build cgo

package onnx

import (
	"context"
	"math"
	"os"
	"path/filepath"
	"sort"
	"testing"

	"github.com/faceverify/faceverify/inference"
)

// TestGoEngineDecisions analyses every shared photo with the pure-Go engine
// and with ONNX Runtime: decisions, face counts and subject boxes are
// identical, detector scores and liveness agree within 1e-4 and the
// subjects' embeddings have cosine similarity ≥ 0.9999 between the engines.
// (Same model input, outputs agree within 1e-5: goengine's TestParityONNX.
// Through the pipeline, landmark differences of ~1e-6 can move an aligned
// crop pixel across a rounding step, which moves an embedding value by up to
// ~1e-4.)
func TestGoEngineDecisions(t *testing.T) {
	td := testdataDir(t)
	ortEng := testEngine(t)
	cfg := inference.DefaultConfig()
	cfg.ModelsDir = filepath.Join(repoRoot(t), "models")
	cfg.Engine = inference.EngineGo
	goEng, err := New(cfg, nil)
	if err != nil {
		t.Fatal(err)
	}
	defer goEng.Close()
	var files []string
	for _, sub := range []string{"identity", "liveness", "hard"} {
		ents, err := os.ReadDir(filepath.Join(td, sub))
		if err != nil {
			t.Fatal(err)
		}
		for _, e := range ents {
			files = append(files, filepath.Join(sub, e.Name()))
		}
	}
	sort.Strings(files)
	opts := inference.Options{Liveness: true, Embed: true}
	n := 0
	worstEmb, minCos := 0.0, 1.0
	for _, f := range files {
		img, err := decodeFile(t, filepath.Join(td, f))
		if err != nil {
			continue // undecodable or too large: no model runs
		}
		want, err := ortEng.Analyze(context.Background(), img, opts)
		if err != nil {
			t.Fatal(err)
		}
		got, err := goEng.Analyze(context.Background(), img, opts)
		if err != nil {
			t.Fatal(err)
		}
		n++
		if got.Decision != want.Decision || len(got.Faces) != len(want.Faces) || got.Subject != want.Subject {
			t.Errorf("%s: Go engine %s with %d faces (subject %d), ONNX Runtime %s with %d (subject %d)",
				f, got.Decision, len(got.Faces), got.Subject, want.Decision, len(want.Faces), want.Subject)
			continue
		}
		for i := range got.Faces {
			g, w := got.Faces[i], want.Faces[i]
			if d := math.Abs(g.Score - w.Score); d > 1e-4 {
				t.Errorf("%s face %d: score %v vs %v", f, i, g.Score, w.Score)
			}
			if d := math.Abs(g.Liveness - w.Liveness); d > 1e-4 {
				t.Errorf("%s face %d: liveness %v vs %v", f, i, g.Liveness, w.Liveness)
			}
			if g.Live != w.Live {
				t.Errorf("%s face %d: live %v vs %v", f, i, g.Live, w.Live)
			}
			if len(g.Embedding) != len(w.Embedding) {
				t.Errorf("%s face %d: embedding of %d vs %d values", f, i, len(g.Embedding), len(w.Embedding))
				continue
			}
			var dot float64
			for k := range g.Embedding {
				dot += float64(g.Embedding[k]) * float64(w.Embedding[k])
				worstEmb = max(worstEmb, math.Abs(float64(g.Embedding[k]-w.Embedding[k])))
			}
			if len(g.Embedding) > 0 {
				minCos = min(minCos, dot)
			}
		}
	}
	if minCos < 0.9999 {
		t.Errorf("embeddings: cosine similarity between the engines down to %.6f, want ≥ 0.9999", minCos)
	}
	t.Logf("%d photos: identical decisions; embeddings max abs diff %.3g, cosine ≥ %.7f", n, worstEmb, minCos)
}
