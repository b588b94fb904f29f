package onnx

import (
	"context"
	"errors"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"testing"

	"github.com/faceverify/faceverify/inference"
	"github.com/faceverify/faceverify/models"
)

// analyzeFile decodes and analyses a testdata file; a decode error is
// returned as the decision it maps to.
func analyzeFile(t testing.TB, e *Engine, path string, opts inference.Options) (inference.Analysis, error) {
	t.Helper()
	img, err := decodeFile(t, path)
	if err != nil {
		return inference.Analysis{Decision: inference.DecisionForError(err), Subject: -1}, err
	}
	an, err := e.Analyze(context.Background(), img, opts)
	if err != nil {
		t.Fatalf("%s: analyze: %v", path, err)
	}
	return an, nil
}

// embedding is the subject's embedding of a testdata file.
func embedding(t *testing.T, e *Engine, td, name string) []float32 {
	t.Helper()
	an, err := analyzeFile(t, e, filepath.Join(td, name), inference.Options{Embed: true})
	if err != nil || an.Subject < 0 {
		t.Fatalf("%s: no subject (%v, %s)", name, err, an.Decision)
	}
	f := an.Faces[an.Subject]
	if len(f.Embedding) != EmbeddingSize || f.Aligned == nil || f.Aligned.Bounds().Dx() != inference.ArcFaceSize {
		t.Fatalf("%s: embedding %d values, aligned %v", name, len(f.Embedding), f.Aligned)
	}
	return f.Embedding
}

func TestPairsSeparatedByMatchThreshold(t *testing.T) {
	td := testdataDir(t)
	e := testEngine(t)
	thr := e.Config().MatchThreshold
	cache := map[string][]float32{}
	get := func(name string) []float32 {
		if v, ok := cache[name]; ok {
			return v
		}
		cache[name] = embedding(t, e, td, name)
		return cache[name]
	}
	rows := readCSV(t, td, "pairs.csv")
	if len(rows) < 2 {
		t.Fatal("pairs.csv has no pairs")
	}
	for _, r := range rows[1:] {
		sim := inference.Cosine(get(r[0]), get(r[1]))
		same := r[2] == "1"
		t.Logf("%s %s same=%v cosine=%.3f", r[0], r[1], same, sim)
		if same && sim < thr {
			t.Errorf("%s vs %s: same person, cosine %.3f < threshold %.2f", r[0], r[1], sim, thr)
		}
		if !same && sim >= thr {
			t.Errorf("%s vs %s: different people, cosine %.3f ≥ threshold %.2f", r[0], r[1], sim, thr)
		}
	}
}

// TestVariantsMatchOriginal checks that decoding variants (EXIF rotation,
// greyscale, alpha) of a photo keep its identity, which fails if the
// orientation or the alpha handling were wrong.
func TestVariantsMatchOriginal(t *testing.T) {
	td := testdataDir(t)
	e := testEngine(t)
	thr := e.Config().MatchThreshold
	for _, c := range []struct{ variant, original string }{
		{"hard/exif_orientation_8.jpg", "identity/person_e_01.png"},
		{"hard/grayscale.jpg", "identity/person_e_01.png"},
		{"hard/rgba_alpha_transparent.png", "identity/person_e_01.png"},
		{"hard/rgba_alpha_opaque.png", "identity/person_a_02.jpg"},
		{"hard/partial_face_cut_off.jpg", "identity/person_a_01.jpg"},
	} {
		sim := inference.Cosine(embedding(t, e, td, c.variant), embedding(t, e, td, c.original))
		t.Logf("%s vs %s: %.3f", c.variant, c.original, sim)
		if sim < thr {
			t.Errorf("%s vs %s: cosine %.3f < %.2f", c.variant, c.original, sim, thr)
		}
	}
}

func TestLivenessOnRealCaptures(t *testing.T) {
	td := testdataDir(t)
	e := testEngine(t)
	thr := e.Config().LivenessThreshold
	rows := readCSV(t, td, "labels.csv")
	n := 0
	for _, r := range rows[1:] {
		file, live, notes := r[0], r[2], r[4]
		if !strings.HasPrefix(file, "liveness/") {
			continue
		}
		an, err := analyzeFile(t, e, filepath.Join(td, file), inference.Options{Liveness: true})
		if err != nil || an.Subject < 0 {
			t.Fatalf("%s: no subject (%v, %s)", file, err, an.Decision)
		}
		p := an.Faces[an.Subject].Liveness
		t.Logf("%s (%s): liveness %.3f decision %s", file, live, p, an.Decision)
		if p < 0 || p > 1 {
			t.Errorf("%s: liveness %v outside [0,1]", file, p)
		}
		// The synthetic attacks and the near-infrared mask frame are
		// plumbing tests, not evidence (labels.csv notes).
		if live == "spoof_synthetic" || strings.Contains(notes, "NEAR-INFRARED") {
			continue
		}
		n++
		switch live {
		case "live":
			if p < thr || an.Decision != inference.DecisionOK {
				t.Errorf("%s: genuine capture scored %.3f (threshold %.2f), decision %s", file, p, thr, an.Decision)
			}
		case "spoof":
			if p >= thr || an.Decision != inference.DecisionLivenessFailed {
				t.Errorf("%s: attack scored %.3f (threshold %.2f), decision %s", file, p, thr, an.Decision)
			}
		}
	}
	if n < 2 {
		t.Fatalf("only %d real liveness captures found", n)
	}
}

func TestHardDecisions(t *testing.T) {
	td := testdataDir(t)
	e := testEngine(t)
	want := map[string]inference.Decision{
		"bomb_header_100000x100000.png": inference.DecisionTooLarge,
		"truncated.jpg":                 inference.DecisionDecodeError,
		"no_face_cat.png":               inference.DecisionNoFace,
		"no_face_rocket.jpg":            inference.DecisionNoFace,
		"multi_face_13_people.jpg":      inference.DecisionMultipleFaces,
		"two_faces.jpg":                 inference.DecisionMultipleFaces,
		"small_face_far.jpg":            inference.DecisionLowQuality,
		"partial_face_cut_off.jpg":      inference.DecisionLowQuality,
		"rgba_alpha_opaque.png":         inference.DecisionOK,
		"rgba_alpha_transparent.png":    inference.DecisionOK,
		"grayscale.jpg":                 inference.DecisionOK,
		"exif_orientation_8.jpg":        inference.DecisionOK,
	}
	files, _ := filepath.Glob(filepath.Join(td, "hard", "*"))
	if len(files) == 0 {
		t.Fatal("no files in hard/")
	}
	for _, f := range files {
		name := filepath.Base(f)
		w, ok := want[name]
		if !ok {
			t.Errorf("hard/%s: no expected decision", name)
			continue
		}
		an, _ := analyzeFile(t, e, f, inference.Options{Liveness: true, Embed: true})
		t.Logf("hard/%s: %s (%d faces)", name, an.Decision, len(an.Faces))
		if an.Decision != w {
			t.Errorf("hard/%s: decision %s, want %s", name, an.Decision, w)
		}
	}
}

func TestLabelledFaceCounts(t *testing.T) {
	td := testdataDir(t)
	e := testEngine(t)
	rows := readCSV(t, td, "labels.csv")
	for _, r := range rows[1:] {
		file := r[0]
		n, err := strconv.Atoi(r[3])
		if err != nil {
			continue // "na": unreadable inputs
		}
		an, err := analyzeFile(t, e, filepath.Join(td, file), inference.Options{})
		if err != nil {
			t.Errorf("%s: %v", file, err)
			continue
		}
		switch {
		case n == 0:
			if len(an.Faces) != 0 || an.Decision != inference.DecisionNoFace {
				t.Errorf("%s: %d faces, decision %s; want none", file, len(an.Faces), an.Decision)
			}
		case n == 1:
			// One subject; small bystanders may be listed, but must not
			// make the decision MULTIPLE_FACES.
			if len(an.Faces) < 1 || an.Decision == inference.DecisionMultipleFaces || an.Decision == inference.DecisionNoFace {
				t.Errorf("%s: %d faces, decision %s; want one subject", file, len(an.Faces), an.Decision)
			}
		default:
			// Crowds: occluded and cut faces may be missed; most must be found.
			if len(an.Faces) < (n+1)/2 || len(an.Faces) > n || an.Decision != inference.DecisionMultipleFaces {
				t.Errorf("%s: %d faces, decision %s; want about %d and MULTIPLE_FACES", file, len(an.Faces), an.Decision, n)
			}
		}
		if len(an.Faces) > 0 {
			s := an.Faces[an.Subject]
			if len(s.Landmarks) != 68 || s.Box.W <= 0 || s.Box.X < 0 || s.Box.X+s.Box.W > float64(an.Width) {
				t.Errorf("%s: subject box %+v / %d landmarks", file, s.Box, len(s.Landmarks))
			}
		}
	}
}

func TestConcurrentAnalyze(t *testing.T) {
	td := testdataDir(t)
	e := testEngine(t)
	files := []string{"identity/person_a_01.jpg", "identity/person_b_02.jpg", "hard/two_faces.jpg", "liveness/live_01.jpg"}
	want := make([]inference.Analysis, len(files))
	for i, f := range files {
		want[i], _ = analyzeFile(t, e, filepath.Join(td, f), inference.Options{Liveness: true, Embed: true})
	}
	var wg sync.WaitGroup
	errs := make(chan string, 16)
	for g := 0; g < 4; g++ {
		wg.Add(1)
		go func(g int) {
			defer wg.Done()
			for k := 0; k < 3; k++ {
				i := (g + k) % len(files)
				an, _ := analyzeFile(t, e, filepath.Join(td, files[i]), inference.Options{Liveness: true, Embed: true})
				if an.Decision != want[i].Decision || len(an.Faces) != len(want[i].Faces) ||
					inference.Cosine(an.Faces[0].Embedding, want[i].Faces[0].Embedding) < 0.9999 {
					errs <- files[i]
				}
			}
		}(g)
	}
	wg.Wait()
	close(errs)
	for f := range errs {
		t.Errorf("%s: concurrent result differs from sequential", f)
	}
}

func TestAnalyzeCancelled(t *testing.T) {
	e := testEngine(t)
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	if _, err := e.Analyze(ctx, imageOf(64, 64), inference.Options{}); !errors.Is(err, context.Canceled) {
		t.Fatalf("cancelled Analyze: err %v", err)
	}
}

func TestNewReportsMissingAndCorruptModels(t *testing.T) {
	root := repoRoot(t)
	real := filepath.Join(root, "models")
	testEngine(t) // skips when the models are absent
	link := func(dir, name string) {
		if err := os.MkdirAll(filepath.Dir(filepath.Join(dir, name)), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.Symlink(filepath.Join(real, name), filepath.Join(dir, name)); err != nil {
			t.Fatal(err)
		}
	}
	lib := models.ORTLibrary()

	missing := t.TempDir()
	link(missing, lib)
	link(missing, DetectFile)
	cfg := inference.DefaultConfig()
	cfg.ModelsDir = missing
	_, err := New(cfg, nil)
	if !errors.Is(err, models.ErrMissing) || !strings.Contains(err.Error(), "make models") {
		t.Errorf("missing model: err %v; want ErrMissing mentioning `make models`", err)
	}

	corrupt := t.TempDir()
	link(corrupt, lib)
	for _, f := range []string{LivenessFile, LandmarkFile, FeatureFile} {
		link(corrupt, f)
	}
	if err := os.WriteFile(filepath.Join(corrupt, DetectFile), []byte("not a model"), 0o644); err != nil {
		t.Fatal(err)
	}
	cfg.ModelsDir = corrupt
	_, err = New(cfg, nil)
	if !errors.Is(err, models.ErrChecksum) || !strings.Contains(err.Error(), "make models") {
		t.Errorf("corrupt model: err %v; want ErrChecksum mentioning `make models`", err)
	}

	cfg.LivenessThreshold = 1.5
	if _, err := New(cfg, nil); err == nil || !strings.Contains(err.Error(), "inference.liveness_threshold") {
		t.Errorf("invalid config: err %v", err)
	}
}
