package mobilefacenet

import (
	"image"
	"math"
	"math/rand/v2"
	"os"
	"path/filepath"
	"testing"

	"github.com/faceverify/faceverify/inference"
	"github.com/faceverify/faceverify/inference/goengine"
	"github.com/faceverify/faceverify/internal/testenv"
)

func modelBytes(t testing.TB) []byte {
	t.Helper()
	data, err := os.ReadFile(filepath.Join(testenv.RepoRoot(t), "models", File))
	if err != nil {
		testenv.Missing(t, "models not fetched (run `make models`): %v", err)
	}
	return data
}

func noiseFace(seed uint64) *image.RGBA {
	r := rand.New(rand.NewPCG(seed, 7))
	img := image.NewRGBA(image.Rect(0, 0, side, side))
	for i := range img.Pix {
		img.Pix[i] = uint8(r.IntN(256))
		if i%4 == 3 {
			img.Pix[i] = 255
		}
	}
	return img
}

// TestSingleMatchesPair: the batch-of-one model gives each face the
// embedding the file's own batch-of-two graph gives it, at half the
// floating-point work.
func TestSingleMatchesPair(t *testing.T) {
	data := modelBytes(t)
	pair, err := goengine.LoadBytes(File, data)
	if err != nil {
		t.Fatal(err)
	}
	e, err := NewBytes(File, data, inference.RGB)
	if err != nil {
		t.Fatal(err)
	}
	if got, want := e.FLOPs(), pair.FLOPs()/2; got != want {
		t.Errorf("FLOPs per face %d, want half the pair's %d", got, want)
	}
	fa, fb := noiseFace(1), noiseFace(2)
	// The pair's input, laid out as Embed lays out one face.
	in := make([]float32, 2*side*side*3)
	l := inference.TensorLayout{Width: side, Height: side, Order: inference.RGB, Mean: 127.5, Scale: 1.0 / 128}
	chw := make([]float32, 3*side*side)
	for slot, f := range []*image.RGBA{fa, fb} {
		if err := inference.ResizeInto(chw, f, inference.Box{W: side, H: side}, l); err != nil {
			t.Fatal(err)
		}
		for c := 0; c < 3; c++ {
			for i := 0; i < side*side; i++ {
				in[slot*side*side*3+i*3+c] = chw[c*side*side+i]
			}
		}
	}
	out := make([]float32, 2*Dim)
	if err := pair.Run([][]float32{in}, [][]float32{out}); err != nil {
		t.Fatal(err)
	}
	for slot, f := range []*image.RGBA{fa, fb} {
		want := append([]float32(nil), out[slot*Dim:(slot+1)*Dim]...)
		inference.L2Normalize(want)
		got, err := e.Embed(f, nil)
		if err != nil {
			t.Fatal(err)
		}
		var worst float64
		for i := range got {
			worst = math.Max(worst, math.Abs(float64(got[i]-want[i])))
		}
		if worst > 1e-5 {
			t.Errorf("face %d: batch-of-one embedding differs from the pair's by up to %g", slot, worst)
		}
	}
	a, b := make([]float32, Dim), make([]float32, Dim)
	if err := e.Embed2(fa, fb, a, b); err != nil {
		t.Fatal(err)
	}
	if c := inference.Cosine(a, b); c > 0.999 {
		t.Errorf("two different inputs embed alike (cosine %v): the slots are mixed up", c)
	}
}

// TestNotMobileFaceNet: another model file is refused by name.
func TestNotMobileFaceNet(t *testing.T) {
	data, err := os.ReadFile(filepath.Join(testenv.RepoRoot(t), "models", "tflite", "face_detection_short_range.tflite"))
	if err != nil {
		testenv.Missing(t, "models not fetched (run `make models`): %v", err)
	}
	if _, err := NewBytes("face_detection_short_range.tflite", data, inference.RGB); err == nil {
		t.Fatal("the face detector loaded as MobileFaceNet")
	}
	if _, err := NewBytes(File, []byte("not a model"), inference.RGB); err == nil {
		t.Fatal("garbage loaded as MobileFaceNet")
	}
}

// BenchmarkEmbed is one face's embedding (batch of one), alignment
// excluded.
func BenchmarkEmbed(b *testing.B) {
	e, err := NewBytes(File, modelBytes(b), inference.RGB)
	if err != nil {
		b.Fatal(err)
	}
	f := noiseFace(3)
	dst := make([]float32, Dim)
	b.ReportAllocs()
	for b.Loop() {
		if _, err := e.Embed(f, dst); err != nil {
			b.Fatal(err)
		}
	}
}
