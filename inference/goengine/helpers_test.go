package goengine_test

import (
	"image"
	"os"
	"path/filepath"
	"sort"
	"testing"

	"github.com/faceverify/faceverify/inference"
	"github.com/faceverify/faceverify/internal/testenv"
)

// repoRoot is the directory holding go.mod.
func repoRoot(t testing.TB) string { t.Helper(); return testenv.RepoRoot(t) }

// modelPath returns models/<rel> or skips when `make models` has not run.
func modelPath(t testing.TB, rel string) string {
	t.Helper()
	p := filepath.Join(repoRoot(t), "models", rel)
	if _, err := os.Stat(p); err != nil {
		testenv.Missing(t, "model %s not fetched (run `make models`)", rel)
	}
	return p
}

// testPhotos returns the decoded photos of ../shared/testdata/identity and
// liveness, by file name, or skips without them.
func testPhotos(t testing.TB) ([]string, map[string]*image.RGBA) {
	t.Helper()
	td := filepath.Join(filepath.Dir(repoRoot(t)), "shared", "testdata")
	if _, err := os.Stat(filepath.Join(td, "labels.csv")); err != nil {
		testenv.Missing(t, "labelled photos not found: place them in ../shared/testdata next to the repository root")
	}
	photos := map[string]*image.RGBA{}
	var names []string
	for _, sub := range []string{"identity", "liveness"} {
		ents, err := os.ReadDir(filepath.Join(td, sub))
		if err != nil {
			t.Fatal(err)
		}
		for _, e := range ents {
			f, err := os.Open(filepath.Join(td, sub, e.Name()))
			if err != nil {
				t.Fatal(err)
			}
			img, err := inference.Decode(f, 64<<20)
			f.Close()
			if err != nil {
				continue
			}
			name := sub + "/" + e.Name()
			photos[name] = inference.ToOpaqueRGBA(img, nil)
			names = append(names, name)
		}
	}
	sort.Strings(names)
	return names, photos
}

// wholeFrame resamples img to the layout (the whole image, stretched).
func wholeFrame(t testing.TB, img *image.RGBA, l inference.TensorLayout) []float32 {
	t.Helper()
	dst := make([]float32, l.Len())
	b := img.Bounds()
	if err := inference.ResizeInto(dst, img, inference.Box{W: float64(b.Dx()), H: float64(b.Dy())}, l); err != nil {
		t.Fatal(err)
	}
	return dst
}
