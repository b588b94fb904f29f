package goengine

import (
	"fmt"
	"math"
	"math/rand/v2"
	"testing"
)

// TestGemm checks gemm (the microkernel where the CPU has it) against a
// float64 reference on odd sizes, including sub-blocks of larger matrices.
func TestGemm(t *testing.T) {
	rng := rand.New(rand.NewPCG(1, 2))
	for _, tc := range []struct{ m, n, k, i0, i1, j0, j1 int }{
		{1, 1, 1, 0, 1, 0, 1},
		{4, 16, 1, 0, 4, 0, 16},
		{7, 37, 27, 0, 7, 0, 37},
		{16, 300, 144, 0, 16, 0, 300},
		{33, 49, 512, 3, 30, 5, 49},
		{64, 19200, 27, 0, 64, 100, 4900},
	} {
		a := make([]float32, tc.m*tc.k)
		b := make([]float32, tc.k*tc.n)
		for i := range a {
			a[i] = rng.Float32()*2 - 1
		}
		for i := range b {
			b[i] = rng.Float32()*2 - 1
		}
		for _, fast := range []bool{false, true} {
			saved := useAVX2
			useAVX2 = useAVX2 && fast
			c := make([]float32, tc.m*tc.n)
			for i := range c {
				c[i] = 42
			}
			gemm(a, tc.k, b, tc.n, c, tc.n, tc.k, tc.i0, tc.i1, tc.j0, tc.j1)
			useAVX2 = saved
			for i := 0; i < tc.m; i++ {
				for j := 0; j < tc.n; j++ {
					got := c[i*tc.n+j]
					if i < tc.i0 || i >= tc.i1 || j < tc.j0 || j >= tc.j1 {
						if got != 42 {
							t.Fatalf("%+v fast=%v: C[%d,%d] outside the block was written", tc, fast, i, j)
						}
						continue
					}
					var want float64
					for kk := 0; kk < tc.k; kk++ {
						want += float64(a[i*tc.k+kk]) * float64(b[kk*tc.n+j])
					}
					if math.Abs(float64(got)-want) > 1e-4*math.Sqrt(float64(tc.k)) {
						t.Fatalf("%+v fast=%v: C[%d,%d] = %v, want %v", tc, fast, i, j, got, want)
					}
				}
			}
		}
	}
}

// BenchmarkGemm reports GFLOP/s of the GEMM on conv-shaped problems
// (M output channels × N pixels × K inputs).
func BenchmarkGemm(b *testing.B) {
	for _, sz := range []struct{ m, n, k int }{{32, 19200, 16}, {64, 1200, 64}, {128, 300, 128}, {16, 19200, 27}} {
		a := make([]float32, sz.m*sz.k)
		bb := make([]float32, sz.k*sz.n)
		c := make([]float32, sz.m*sz.n)
		for _, simd := range []bool{true, false} {
			name := fmt.Sprintf("%dx%dx%d/simd=%v", sz.m, sz.n, sz.k, simd && useAVX2)
			b.Run(name, func(b *testing.B) {
				saved := useAVX2
				useAVX2 = useAVX2 && simd
				defer func() { useAVX2 = saved }()
				for b.Loop() {
					gemm(a, sz.k, bb, sz.n, c, sz.n, sz.k, 0, sz.m, 0, sz.n)
				}
				b.ReportMetric(float64(2*sz.m*sz.n*sz.k)*float64(b.N)/b.Elapsed().Seconds()/1e9, "GFLOP/s")
			})
		}
	}
}

// TestGemmAct checks gemmAct (microkernel with the fused epilogue and its
// edge tiles, where the CPU has it) against the pure-Go kernel followed by
// the separate epilogue, for every activation (PRelu with one and with
// per-channel slopes), with and without bias.
func TestGemmAct(t *testing.T) {
	rng := rand.New(rand.NewPCG(5, 6))
	for _, tc := range []struct{ m, n, k, i0, i1, j0, j1 int }{
		{1, 1, 1, 0, 1, 0, 1},
		{6, 300, 16, 0, 6, 0, 300},
		{7, 37, 27, 0, 7, 0, 37},
		{12, 20, 64, 0, 12, 0, 20},
		{33, 49, 5, 3, 30, 5, 49},
		{16, 1200, 32, 0, 16, 100, 1107},
	} {
		a := make([]float32, tc.m*tc.k)
		b := make([]float32, tc.k*tc.n)
		bias := make([]float32, tc.m)
		for _, v := range [][]float32{a, b, bias} {
			for i := range v {
				v[i] = rng.Float32()*2 - 1
			}
		}
		perChannel := make([]float32, tc.m)
		for i := range perChannel {
			perChannel[i] = rng.Float32()
		}
		for _, ac := range []act{{kind: actNone}, {kind: actRelu}, {kind: actPRelu, slope: []float32{0.25}},
			{kind: actPRelu, slope: perChannel}, {kind: actLeaky, alpha: 0.1}, {kind: actClip, lo: -0.5, hi: 0.5}} {
			for _, bs := range [][]float32{nil, bias} {
				want := make([]float32, tc.m*tc.n)
				got := make([]float32, tc.m*tc.n)
				for i := range want {
					want[i], got[i] = 42, 42
				}
				saved := useAVX2
				useAVX2 = false
				gemmAct(a, tc.k, b, tc.n, want, tc.n, tc.k, tc.i0, tc.i1, tc.j0, tc.j1, bs, &ac, 0)
				useAVX2 = saved
				gemmAct(a, tc.k, b, tc.n, got, tc.n, tc.k, tc.i0, tc.i1, tc.j0, tc.j1, bs, &ac, 0)
				for i := range want {
					if d := math.Abs(float64(got[i] - want[i])); d > 1e-4 || (want[i] == 42) != (got[i] == 42) {
						t.Fatalf("%+v act %d bias %v: C[%d] = %v, want %v", tc, ac.kind, bs != nil, i, got[i], want[i])
					}
				}
			}
		}
	}
}
