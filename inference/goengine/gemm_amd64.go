package goengine

import "golang.org/x/sys/cpu"

// useAVX2 selects the AVX2/FMA microkernel; tests turn it off to check the
// pure-Go kernel against it.
var useAVX2 = cpu.X86.HasAVX2 && cpu.X86.HasFMA

//go:noescape
func sgemm4x16(k int, a *float32, lda int, b *float32, ldb int, c *float32, ldc int)

//go:noescape
func sgemm4x16e(k int, a *float32, lda int, b *float32, ldb int, c *float32, ldc int, bias *float32, flags int, slope *float32)

// gemmFastEpi is gemmFast with the epilogue of gemmAct fused into the
// microkernel's store: bias[i] (when bias is non-nil; indexed by row of C)
// added to row i, then the activation ac (none, ReLU, LeakyRelu or PRelu;
// row i is channel chOff+i). Unlike gemmFast it also runs
// the edges through the microkernel: a column tail as the 16 columns ending
// at j1 (overlapping the previous tile, whose values it rewrites
// unchanged) when the block is at least 16 wide, otherwise into a tile on
// the stack where B's last row holds 16 values from the tail's first
// column; a row tail one row at a time (lda 0 reads that row four times)
// into the stack tile. It returns the block it did: rows [i0, iEnd)
// (always i1) × columns [j0, jEnd).
func gemmFastEpi(a []float32, lda int, b []float32, ldb int, c []float32, ldc int, k, i0, i1, j0, j1 int, bias []float32, ac *act, chOff int) (iEnd, jEnd int) {
	if !useAVX2 || k == 0 || i0 >= i1 || j0 >= j1 || ac.kind == actClip {
		return i0, j0
	}
	jFull := j0 + (j1-j0)/16*16
	jEnd = jFull
	if jFull < j1 && (j1-j0 >= 16 || (k-1)*ldb+jFull+16 <= len(b)) {
		jEnd = j1
	}
	if jEnd == j0 {
		return i0, j0
	}
	_ = a[(i1-1)*lda+k-1]
	_ = b[(k-1)*ldb+jEnd-1]
	_ = c[(i1-1)*ldc+jEnd-1]
	if bias != nil {
		_ = bias[i1-1]
	}
	for j := j0; j < jFull; j += 16 {
		gemmColumnTile(a, lda, b, ldb, c, ldc, k, i0, i1, j, 16, bias, ac, chOff)
	}
	if jEnd > jFull {
		if j1-j0 >= 16 {
			gemmColumnTile(a, lda, b, ldb, c, ldc, k, i0, i1, j1-16, 16, bias, ac, chOff)
		} else {
			gemmColumnTile(a, lda, b, ldb, c, ldc, k, i0, i1, jFull, j1-jFull, bias, ac, chOff)
		}
	}
	return i1, jEnd
}

// gemmColumnTile runs the microkernel with its epilogue on rows [i0, i1)
// and columns [j, j+w) of C, w ≤ 16; B must hold 16 values from column j
// in every row. Partial tiles go through a tile on the stack.
func gemmColumnTile(a []float32, lda int, b []float32, ldb int, c []float32, ldc int, k, i0, i1, j, w int, bias []float32, ac *act, chOff int) {
	flags := 0
	if bias != nil {
		flags |= 2
	}
	var zero, rowBias, shared, rowSlope [4]float32
	var tile [64]float32
	bp, sp := &zero[0], &zero[0]
	var perChannel []float32
	switch ac.kind {
	case actRelu:
		flags |= 1
	case actLeaky:
		flags |= 4
		shared = [4]float32{ac.alpha, ac.alpha, ac.alpha, ac.alpha}
		sp = &shared[0]
	case actPRelu:
		flags |= 4
		if len(ac.slope) > 1 {
			perChannel = ac.slope[chOff+i0 : chOff+i1]
		} else {
			s := ac.slope[0]
			shared = [4]float32{s, s, s, s}
			sp = &shared[0]
		}
	}
	iFull := i0 + (i1-i0)/4*4
	for i := i0; i < iFull; i += 4 {
		if bias != nil {
			bp = &bias[i]
		}
		if perChannel != nil {
			sp = &perChannel[i-i0]
		}
		if w == 16 {
			sgemm4x16e(k, &a[i*lda], lda, &b[j], ldb, &c[i*ldc+j], ldc, bp, flags, sp)
			continue
		}
		sgemm4x16e(k, &a[i*lda], lda, &b[j], ldb, &tile[0], 16, bp, flags, sp)
		for r := 0; r < 4; r++ {
			copy(c[(i+r)*ldc+j:(i+r)*ldc+j+w], tile[r*16:r*16+w])
		}
	}
	for i := iFull; i < i1; i++ {
		if bias != nil {
			rowBias = [4]float32{bias[i], bias[i], bias[i], bias[i]}
			bp = &rowBias[0]
		}
		if perChannel != nil {
			s := perChannel[i-i0]
			rowSlope = [4]float32{s, s, s, s}
			sp = &rowSlope[0]
		}
		sgemm4x16e(k, &a[i*lda], 0, &b[j], ldb, &tile[0], 16, bp, flags, sp)
		copy(c[i*ldc+j:i*ldc+j+w], tile[:w])
	}
}

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

//go:noescape
func dw3x3s1(n int, r0, r1, r2, dst, w *float32, bias, lo float32)

// depthwiseRowFast computes the first n/8·8 outputs of a 3×3 stride-1
// depthwise row (see dw3x3s1; values below lo are raised to lo) and returns
// how many it did. r0, r1 and r2
// start at the input column of dst[0]'s first tap.
func depthwiseRowFast(r0, r1, r2, dst, w []float32, bias, lo float32) int {
	n := len(dst) / 8 * 8
	if !useAVX2 || n == 0 {
		return 0
	}
	_ = r0[n+1]
	_ = r1[n+1]
	_ = r2[n+1]
	_ = w[8]
	dw3x3s1(n, &r0[0], &r1[0], &r2[0], &dst[0], &w[0], bias, lo)
	return n
}

//go:noescape
func dw3x3s2(n int, r0, r1, r2, dst, w *float32, bias, lo float32)

// depthwiseRowFastS2 is depthwiseRowFast for stride 2: dst[x] reads
// r_ky[2x+kx]. The kernel loads 18 values per 8 outputs, so it does as many
// whole groups of 8 as the rows' lengths allow.
func depthwiseRowFastS2(r0, r1, r2, dst, w []float32, bias, lo float32) int {
	n := len(dst) / 8 * 8
	if avail := (min(len(r0), len(r1), len(r2)) - 2) / 16 * 8; n > avail {
		n = avail
	}
	if !useAVX2 || n <= 0 {
		return 0
	}
	_ = r0[2*n+1]
	_ = r1[2*n+1]
	_ = r2[2*n+1]
	_ = w[8]
	dw3x3s2(n, &r0[0], &r1[0], &r2[0], &dst[0], &w[0], bias, lo)
	return n
}
