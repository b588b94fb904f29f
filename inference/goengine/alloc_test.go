package goengine_test

import (
	"testing"

	"github.com/faceverify/faceverify/inference/goengine"
)

// TestRunAllocs: after load, a run allocates nothing.
func TestRunAllocs(t *testing.T) {
	m, err := goengine.Load(modelPath(t, "fr_liveness.onnx"))
	if err != nil {
		t.Fatal(err)
	}
	in := make([]float32, 3*128*128)
	out := make([]float32, 3)
	if n := testing.AllocsPerRun(5, func() {
		if err := m.Run([][]float32{in}, [][]float32{out}); err != nil {
			t.Fatal(err)
		}
	}); n != 0 {
		t.Errorf("Run allocates %.0f times, want 0", n)
	}
}
