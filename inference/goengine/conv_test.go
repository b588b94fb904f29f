package goengine

import (
	"math"
	"math/rand/v2"
	"testing"
)

// TestDepthwise3x3 checks the one-pass 3×3 depthwise kernel against the
// general tap-by-tap kernel over strides, paddings and odd sizes (rows
// wide enough for the AVX2 row kernels where the CPU has them), with no
// activation, a fused ReLU and a PRelu.
func TestDepthwise3x3(t *testing.T) {
	rng := rand.New(rand.NewPCG(3, 4))
	for _, ac := range []act{{}, {kind: actRelu}, {kind: actPRelu, slope: []float32{0.1}}} {
		for _, sh := range []int{1, 2} {
			for _, pad := range []int{0, 1, 2} {
				for _, size := range [][2]int{{3, 3}, {5, 7}, {8, 8}, {13, 6}, {5, 21}, {4, 42}, {3, 77}} {
					h, w := size[0], size[1]
					oh := (h+2*pad-3)/sh + 1
					ow := (w+2*pad-3)/sh + 1
					in := make([]float32, 2*h*w)
					wt := make([]float32, 2*9)
					for i := range in {
						in[i] = rng.Float32()*2 - 1
					}
					for i := range wt {
						wt[i] = rng.Float32()*2 - 1
					}
					run := func(fast bool) []float32 {
						k := &convK{in: in, out: make([]float32, 2*oh*ow), w: wt, bias: []float32{0.5, -0.25},
							n: 1, c: 2, h: h, wd: w, m: 2, oh: oh, ow: ow, kh: 3, kw: 3, sh: sh, sw: sh, dh: 1, dw: 1,
							pt: pad, pl: pad, group: 2, depthwise: true, act: ac}
						if fast {
							k.zero = make([]float32, w)
						}
						k.run()
						return k.out
					}
					want, got := run(false), run(true)
					for i := range want {
						if math.Abs(float64(got[i]-want[i])) > 1e-5 {
							t.Fatalf("act %d stride %d pad %d size %v: out[%d] = %v, want %v", ac.kind, sh, pad, size, i, got[i], want[i])
						}
					}
				}
			}
		}
	}
}
