package goengine

import "golang.org/x/sys/cpu"

// useAVX2 selects the AVX2/FMA microkernel; tests turn it off to check the
// pure-Go kernel against it.
var useAVX2 = cpu.X86.HasAVX2 && cpu.X86.HasFMA

//go:noescape
func sgemm4x16(k int, a *float32, lda int, b *float32, ldb int, c *float32, ldc int)

// gemmFast computes the part of gemm's C block that the microkernel covers
// (whole 4×16 tiles from (i0, j0)) and returns where the pure-Go kernel must
// continue: rows [i0, iEnd) are done for columns [j0, jEnd).
func gemmFast(a []float32, lda int, b []float32, ldb int, c []float32, ldc int, k, i0, i1, j0, j1 int) (iEnd, jEnd int) {
	if !useAVX2 || k == 0 {
		return i0, j0
	}
	iEnd = i0 + (i1-i0)/4*4
	jEnd = j0 + (j1-j0)/16*16
	if iEnd == i0 || jEnd == j0 {
		return i0, j0
	}
	// bounds the asm relies on, checked once per call
	_ = a[(iEnd-1)*lda+k-1]
	_ = b[(k-1)*ldb+jEnd-1]
	_ = c[(iEnd-1)*ldc+jEnd-1]
	for j := j0; j < jEnd; j += 16 {
		for i := i0; i < iEnd; i += 4 {
			sgemm4x16(k, &a[i*lda], lda, &b[j], ldb, &c[i*ldc+j], ldc)
		}
	}
	return iEnd, jEnd
}
