package onnx

import (
	"encoding/csv"
	"image"
	"os"
	"path/filepath"
	"sync"
	"testing"

	"github.com/faceverify/faceverify/inference"

	"github.com/faceverify/faceverify/internal/testenv"
)

// testdataDir finds ../shared/testdata by walking up from the package
// directory to the directory holding the repository, or skips the test.
func testdataDir(t testing.TB) string {
	t.Helper()
	dir, err := os.Getwd()
	if err != nil {
		t.Fatal(err)
	}
	for {
		cand := filepath.Join(dir, "shared", "testdata")
		if st, err := os.Stat(filepath.Join(cand, "labels.csv")); err == nil && !st.IsDir() {
			return cand
		}
		parent := filepath.Dir(dir)
		if parent == dir {
			testenv.Missing(t, "labelled photos not found: place them in ../shared/testdata next to the repository root")
		}
		dir = parent
	}
}

// repoRoot is the directory holding go.mod.
func repoRoot(t testing.TB) string { t.Helper(); return testenv.RepoRoot(t) }

var (
	engOnce sync.Once
	eng     *Engine
	engErr  error
)

// testEngine returns a shared Engine on the repository's models directory,
// or skips the test when the models have not been fetched.
func testEngine(t testing.TB) *Engine {
	t.Helper()
	engOnce.Do(func() {
		cfg := inference.DefaultConfig()
		cfg.ModelsDir = filepath.Join(repoRoot(t), "models")
		eng, engErr = New(cfg, nil)
	})
	if engErr != nil {
		t.Skipf("models not available (run `make models`): %v", engErr)
	}
	return eng
}

// readCSV returns the rows of a CSV file in testdata, header first.
func readCSV(t testing.TB, td, name string) [][]string {
	t.Helper()
	f, err := os.Open(filepath.Join(td, name))
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	rows, err := csv.NewReader(f).ReadAll()
	if err != nil {
		t.Fatalf("%s: %v", name, err)
	}
	return rows
}

// decodeFile decodes a testdata image with the default limits.
func decodeFile(t testing.TB, path string) (img *image.RGBA, err error) {
	t.Helper()
	f, err := os.Open(path)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	im, err := inference.Decode(f, inference.DefaultConfig().MaxPixels)
	if err != nil {
		return nil, err
	}
	return im.(*image.RGBA), nil
}

// imageOf is a mid-grey opaque image.
func imageOf(w, h int) *image.RGBA {
	img := image.NewRGBA(image.Rect(0, 0, w, h))
	for i := range img.Pix {
		img.Pix[i] = 128
	}
	return img
}
