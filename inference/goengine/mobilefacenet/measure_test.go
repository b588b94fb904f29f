package mobilefacenet_test

import (
	"context"
	"encoding/csv"
	"fmt"
	"image"
	"math"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/faceverify/faceverify/inference"
	"github.com/faceverify/faceverify/inference/goengine/mobilefacenet"
	"github.com/faceverify/faceverify/inference/onnx"
	"github.com/faceverify/faceverify/internal/testenv"
)

func setup(t *testing.T) (dir, td string) {
	dir, _ = filepath.Abs("../../..")
	if _, err := os.Stat(filepath.Join(dir, "models", "tflite", "MobileFaceNet.tflite")); err != nil {
		testenv.Missing(t, "models not fetched (run `make models`)")
	}
	td = filepath.Join(dir, "..", "shared", "testdata")
	if _, err := os.Stat(filepath.Join(td, "pairs.csv")); err != nil {
		testenv.Missing(t, "labelled photos not found in ../shared/testdata")
	}
	return dir, td
}

type pairStats struct {
	sameMin, diffMax float64
	n                int
}

func (s pairStats) String() string {
	return fmt.Sprintf("same-person min %.3f, different-person max %.3f, margin %+.3f over %d pairs", s.sameMin, s.diffMax, s.sameMin-s.diffMax, s.n)
}

// TestPairs scores pairs.csv with MobileFaceNet (RGB as trained) on the
// pipeline's aligned crops: same-person pairs must score above every
// different-person pair. With FACEVERIFY_MEASURE=1 it also prints the B,G,R
// variant, the pipeline's own embedder (fr_feature.onnx on the Go engine)
// and the per-face times.
func TestPairs(t *testing.T) {
	dir, td := setup(t)
	cfg := inference.DefaultConfig()
	cfg.ModelsDir = filepath.Join(dir, "models")
	cfg.Engine = inference.EngineGo
	eng, err := onnx.New(cfg, nil)
	if err != nil {
		t.Fatal(err)
	}
	f, err := os.Open(filepath.Join(td, "pairs.csv"))
	if err != nil {
		t.Fatal(err)
	}
	rows, err := csv.NewReader(f).ReadAll()
	f.Close()
	if err != nil {
		t.Fatal(err)
	}
	type face struct {
		aligned *image.RGBA
		emb     []float32
	}
	faces := map[string]*face{}
	var embedTime time.Duration
	var embeds int
	get := func(name string) *face {
		if fc, ok := faces[name]; ok {
			return fc
		}
		fh, err := os.Open(filepath.Join(td, name))
		if err != nil {
			t.Fatal(err)
		}
		defer fh.Close()
		img, err := inference.Decode(fh, cfg.MaxPixels)
		if err != nil {
			faces[name] = nil
			return nil
		}
		an, err := eng.Analyze(context.Background(), img, inference.Options{Embed: true})
		if err != nil {
			t.Fatal(err)
		}
		if an.Decision != inference.DecisionOK || an.Subject < 0 {
			faces[name] = nil // refused by the pipeline (e.g. LOW_QUALITY)
			return nil
		}
		s := an.Faces[an.Subject]
		embedTime += an.Timings.Embed
		embeds++
		fc := &face{aligned: inference.ToOpaqueRGBA(s.Aligned, nil), emb: s.Embedding}
		faces[name] = fc
		return fc
	}
	measure := os.Getenv("FACEVERIFY_MEASURE") != ""
	orders := []inference.ChannelOrder{inference.RGB}
	if measure {
		orders = append(orders, inference.BGR)
	}
	for _, order := range orders {
		mfn, err := mobilefacenet.New(filepath.Join(dir, "models", "tflite", "MobileFaceNet.tflite"), order)
		if err != nil {
			t.Fatal(err)
		}
		st := pairStats{sameMin: 2, diffMax: -2}
		ref := pairStats{sameMin: 2, diffMax: -2}
		a, b := make([]float32, mobilefacenet.Dim), make([]float32, mobilefacenet.Dim)
		var runTime time.Duration
		runs := 0
		for _, r := range rows[1:] {
			fa, fb := get(r[0]), get(r[1])
			if fa == nil || fb == nil {
				continue
			}
			t0 := time.Now()
			if err := mfn.Embed2(fa.aligned, fb.aligned, a, b); err != nil {
				t.Fatal(err)
			}
			runTime += time.Since(t0)
			runs++
			var cos, rc float64
			for i := range a {
				cos += float64(a[i]) * float64(b[i])
			}
			for i := range fa.emb {
				rc += float64(fa.emb[i]) * float64(fb.emb[i])
			}
			if r[2] == "1" {
				st.sameMin, ref.sameMin = math.Min(st.sameMin, cos), math.Min(ref.sameMin, rc)
			} else {
				st.diffMax, ref.diffMax = math.Max(st.diffMax, cos), math.Max(ref.diffMax, rc)
			}
			st.n++
			ref.n++
		}
		if order == inference.RGB && st.sameMin <= st.diffMax {
			t.Errorf("MobileFaceNet RGB does not separate pairs.csv: %v", st)
		}
		t.Logf("MobileFaceNet %s: %v; %.1f ms per face", order, st, float64(runTime.Microseconds())/1000/float64(2*max(runs, 1)))
		if measure && order == inference.RGB {
			t.Logf("fr_feature.onnx (current embedder, Go engine): %v; %.1f ms per face (alignment included)", ref, float64(embedTime.Microseconds())/1000/float64(max(embeds, 1)))
		}
	}
}
