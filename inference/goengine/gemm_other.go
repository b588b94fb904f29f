//go:build !amd64

package goengine

var useAVX2 = false

// gemmFast has no microkernel on this architecture: the pure-Go kernel does
// everything.
func gemmFast(a []float32, lda int, b []float32, ldb int, c []float32, ldc int, k, i0, i1, j0, j1 int) (iEnd, jEnd int) {
	return i0, j0
}

func gemmFastEpi(a []float32, lda int, b []float32, ldb int, c []float32, ldc int, k, i0, i1, j0, j1 int, bias []float32, ac *act, chOff int) (iEnd, jEnd int) {
	return i0, j0
}

func depthwiseRowFast(r0, r1, r2, dst, w []float32, bias, lo float32) int { return 0 }

func depthwiseRowFastS2(r0, r1, r2, dst, w []float32, bias, lo float32) int { return 0 }
