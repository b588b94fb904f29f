//go:build cgo

package goengine_test

import (
	"math"
	"os"
	"path/filepath"
	"runtime"
	"sync"
	"testing"

	ort "github.com/yalue/onnxruntime_go"

	"github.com/faceverify/faceverify/inference"
	"github.com/faceverify/faceverify/inference/goengine"
	"github.com/faceverify/faceverify/internal/testenv"
)

var ortOnce sync.Once

// ortInit initialises ONNX Runtime from the pinned library, or skips.
func ortInit(t testing.TB) {
	t.Helper()
	lib := filepath.Join(repoRoot(t), "models", "lib", runtime.GOOS+"-"+runtime.GOARCH, "libonnxruntime.so.1")
	if _, err := os.Stat(lib); err != nil {
		testenv.Missing(t, "ONNX Runtime library not fetched (run `make models`)")
	}
	var err error
	ortOnce.Do(func() {
		ort.SetSharedLibraryPath(lib)
		err = ort.InitializeEnvironment(ort.WithLogLevelError())
	})
	if err != nil {
		t.Fatal(err)
	}
}

// ortModel runs one model file with ONNX Runtime on fixed-shape float32
// tensors.
type ortModel struct {
	s    *ort.AdvancedSession
	in   *ort.Tensor[float32]
	outs []*ort.Tensor[float32]
}

func newORT(t testing.TB, path string, m *goengine.Model, inName string, outNames []string) *ortModel {
	t.Helper()
	ortInit(t)
	toShape := func(s []int) ort.Shape {
		var out ort.Shape
		for _, d := range s {
			out = append(out, int64(d))
		}
		return out
	}
	o := &ortModel{}
	var err error
	if o.in, err = ort.NewEmptyTensor[float32](toShape(m.InputShape(0))); err != nil {
		t.Fatal(err)
	}
	var outs []ort.Value
	for i := range outNames {
		tt, err := ort.NewEmptyTensor[float32](toShape(m.OutputShape(i)))
		if err != nil {
			t.Fatal(err)
		}
		o.outs = append(o.outs, tt)
		outs = append(outs, tt)
	}
	opts, err := ort.NewSessionOptions()
	if err != nil {
		t.Fatal(err)
	}
	defer opts.Destroy()
	if err := opts.SetIntraOpNumThreads(runtime.GOMAXPROCS(0)); err != nil {
		t.Fatal(err)
	}
	if err := opts.AddSessionConfigEntry("session.intra_op.allow_spinning", "0"); err != nil {
		t.Fatal(err)
	}
	o.s, err = ort.NewAdvancedSession(path, []string{inName}, outNames, []ort.Value{o.in}, outs, opts)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		o.s.Destroy()
		o.in.Destroy()
		for _, tt := range o.outs {
			tt.Destroy()
		}
	})
	return o
}

func (o *ortModel) run(t testing.TB, in []float32) [][]float32 {
	copy(o.in.GetData(), in)
	if err := o.s.Run(); err != nil {
		t.Fatal(err)
	}
	var res [][]float32
	for _, tt := range o.outs {
		res = append(res, tt.GetData())
	}
	return res
}

// onnxCases are the pinned ONNX models with their manifest input layouts.
var onnxCases = []struct {
	file    string
	outputs []string
	layout  inference.TensorLayout
}{
	{"fr_detect.onnx", []string{"scores", "boxes"}, inference.TensorLayout{Width: 320, Height: 240, Order: inference.RGB, Mean: 127, Scale: 1.0 / 128}},
	{"fr_liveness.onnx", []string{"output"}, inference.TensorLayout{Width: 128, Height: 128, Order: inference.BGR, Mean: 0, Scale: 1}},
	{"fr_landmark.onnx", []string{"output"}, inference.TensorLayout{Width: 64, Height: 64, Order: inference.Gray, Mean: 0, Scale: 1.0 / 256}},
	{"fr_feature.onnx", []string{"output"}, inference.TensorLayout{Width: 112, Height: 112, Order: inference.BGR, Mean: 127.5, Scale: 1.0 / 128}},
}

// TestParityONNX runs every pinned ONNX model with the Go engine and ONNX
// Runtime on every shared photo (whole frame resampled to the model input)
// and requires the outputs to agree within 1e-4 (max abs).
func TestParityONNX(t *testing.T) {
	names, photos := testPhotos(t)
	for _, tc := range onnxCases {
		t.Run(tc.file, func(t *testing.T) {
			path := modelPath(t, tc.file)
			m, err := goengine.Load(path)
			if err != nil {
				t.Fatal(err)
			}
			t.Logf("ops: %v; arena %d KiB", m.Ops(), m.ArenaBytes()/1024)
			o := newORT(t, path, m, "input", tc.outputs)
			outs := make([][]float32, m.NumOutputs())
			for i := range outs {
				outs[i] = make([]float32, len(o.outs[i].GetData()))
			}
			worst := 0.0
			for _, name := range names {
				in := wholeFrame(t, photos[name], tc.layout)
				want := o.run(t, in)
				if err := m.Run([][]float32{in}, outs); err != nil {
					t.Fatal(err)
				}
				for i := range outs {
					d := maxAbsDiff(outs[i], want[i])
					worst = max(worst, d)
					if d > 1e-4 {
						t.Errorf("%s output %s: max abs diff %.3g > 1e-4", name, tc.outputs[i], d)
					}
				}
			}
			t.Logf("%d photos, worst max abs diff %.3g", len(names), worst)
		})
	}
}

func maxAbsDiff(a, b []float32) float64 {
	d := 0.0
	for i := range a {
		d = max(d, math.Abs(float64(a[i])-float64(b[i])))
		if math.IsNaN(float64(a[i])) != math.IsNaN(float64(b[i])) {
			return math.Inf(1)
		}
	}
	return d
}
