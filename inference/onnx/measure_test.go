package onnx

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"sort"
	"strings"
	"testing"

	"github.com/faceverify/faceverify/inference"
)

// TestMeasure prints the numbers behind the chosen settings; it runs only
// with FACEVERIFY_MEASURE=1.
func TestMeasure(t *testing.T) {
	if os.Getenv("FACEVERIFY_MEASURE") == "" {
		t.Skip("set FACEVERIFY_MEASURE=1 to print measurements")
	}
	td := testdataDir(t)
	e := testEngine(t)
	ctx := context.Background()
	var files []string
	for _, sub := range []string{"identity", "liveness", "hard"} {
		m, _ := filepath.Glob(filepath.Join(td, sub, "*"))
		files = append(files, m...)
	}
	sort.Strings(files)
	// Detections at a low threshold.
	cfg := e.cfg
	e.cfg.DetectionThreshold = 0.3
	for _, f := range files {
		img, err := decodeFile(t, f)
		if err != nil {
			fmt.Printf("%-40s ERR %v\n", rel(td, f), err)
			continue
		}
		an, err := e.Analyze(ctx, img, inference.Options{})
		if err != nil {
			t.Fatal(err)
		}
		var parts []string
		for _, fc := range an.Faces {
			parts = append(parts, fmt.Sprintf("[%.0f,%.0f,%.0f,%.0f s=%.3f sh=%.0f br=%.0f tr=%v]", fc.Box.X, fc.Box.Y, fc.Box.W, fc.Box.H, fc.Score, fc.Quality.Sharpness, fc.Quality.Brightness, fc.Quality.Truncated))
		}
		fmt.Printf("%-40s %dx%d %s %s\n", rel(td, f), an.Width, an.Height, an.Decision, strings.Join(parts, " "))
	}
	e.cfg = cfg
	for _, aa := range []bool{false} {
		e.Detector.layout.Antialias, e.Liveness.layout.Antialias, e.Landmarker.layout.Antialias = aa, aa, aa
		fmt.Println("antialias", aa)
		measureLiveness(t, e, td)
		measurePairs(t, e, td)
	}
}

func measureLiveness(t *testing.T, e *Engine, td string) {
	ctx := context.Background()
	live, _ := filepath.Glob(filepath.Join(td, "liveness", "*"))
	sort.Strings(live)
	lay, cs := e.Liveness.layout, e.Liveness.cropScale
	for _, order := range []inference.ChannelOrder{inference.BGR, inference.RGB} {
		for _, scale := range []float64{1.2, 1.25, 1.3, 1.5, 2.0, 2.7} {
			e.Liveness.layout.Order, e.Liveness.cropScale = order, scale
			fmt.Printf("liveness %s %.2f:", order, scale)
			for _, f := range live {
				img, err := decodeFile(t, f)
				if err != nil {
					t.Fatal(err)
				}
				an, err := e.Analyze(ctx, img, inference.Options{Liveness: true})
				if err != nil {
					t.Fatal(err)
				}
				v := -1.0
				if an.Subject >= 0 {
					v = an.Faces[an.Subject].Liveness
				}
				fmt.Printf(" %s=%.2f", strings.TrimSuffix(filepath.Base(f), filepath.Ext(f)), v)
			}
			fmt.Println()
		}
	}
	e.Liveness.layout, e.Liveness.cropScale = lay, cs
}

func measurePairs(t *testing.T, e *Engine, td string) {
	ctx := context.Background()
	// Pairs by embedding order.
	rows := readCSV(t, td, "pairs.csv")
	el := e.Embedder.layout
	for _, order := range []inference.ChannelOrder{inference.BGR, inference.RGB} {
		e.Embedder.layout.Order = order
		embs := map[string][]float32{}
		emb := func(name string) []float32 {
			if v, ok := embs[name]; ok {
				return v
			}
			img, err := decodeFile(t, filepath.Join(td, name))
			if err != nil {
				t.Fatal(err)
			}
			an, err := e.Analyze(ctx, img, inference.Options{Embed: true})
			if err != nil || an.Subject < 0 {
				t.Fatalf("%s: %v %v", name, err, an.Decision)
			}
			embs[name] = an.Faces[an.Subject].Embedding
			return embs[name]
		}
		minSame, maxDiff := 2.0, -2.0
		for _, r := range rows[1:] {
			c := inference.Cosine(emb(r[0]), emb(r[1]))
			if os.Getenv("FACEVERIFY_MEASURE") == "2" {
				fmt.Printf("pair %s %s %s same=%s cos=%.3f\n", order, filepath.Base(r[0]), filepath.Base(r[1]), r[2], c)
			}
			if r[2] == "1" {
				minSame = min(minSame, c)
			} else {
				maxDiff = max(maxDiff, c)
			}
		}
		fmt.Printf("order %s: same-person min %.3f, different-person max %.3f\n", order, minSame, maxDiff)
	}
	e.Embedder.layout = el
}

func rel(td, f string) string { r, _ := filepath.Rel(td, f); return r }
