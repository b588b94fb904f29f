package goengine

// gemmColBlock is the column block of the GEMM microkernel: 4 rows of C and
// one row of B of this many float32 stay in L1 while K is swept.
const gemmColBlock = 256

// gemm computes C[i,j] = Σₖ A[i,k]·B[k,j] for rows [i0, i1) and columns
// [j0, j1) of C, overwriting C. A is M×K with row stride lda, B is K×N with
// row stride ldb, C has row stride ldc; all row-major float32. Rows are
// taken four at a time so that each loaded B element feeds four
// multiply-adds.
func gemm(a []float32, lda int, b []float32, ldb int, c []float32, ldc int, k, i0, i1, j0, j1 int) {
	iEnd, jEnd := gemmFast(a, lda, b, ldb, c, ldc, k, i0, i1, j0, j1)
	if jEnd > j0 {
		// the microkernel did rows [i0, iEnd) × columns [j0, jEnd)
		gemmGo(a, lda, b, ldb, c, ldc, k, iEnd, i1, j0, jEnd)
		gemmGo(a, lda, b, ldb, c, ldc, k, i0, i1, jEnd, j1)
		return
	}
	gemmGo(a, lda, b, ldb, c, ldc, k, i0, i1, j0, j1)
}

// gemmAct is gemm followed, on the same block of C, by the epilogue of a
// convolution: C[i,j] = act(C[i,j] + bias[i]) with bias indexed by row of C
// (nil: no bias) and ac run as channel chOff+i. Where the microkernel runs
// and the activation is none, ReLU, LeakyRelu or PRelu, the epilogue is
// applied to its registers before the store; elsewhere (Clip, and on CPUs
// without the microkernel) in a second pass over the rows.
func gemmAct(a []float32, lda int, b []float32, ldb int, c []float32, ldc int, k, i0, i1, j0, j1 int, bias []float32, ac *act, chOff int) {
	iEnd, jEnd := gemmFastEpi(a, lda, b, ldb, c, ldc, k, i0, i1, j0, j1, bias, ac, chOff)
	if jEnd > j0 {
		gemmGo(a, lda, b, ldb, c, ldc, k, iEnd, i1, j0, jEnd)
		gemmGo(a, lda, b, ldb, c, ldc, k, i0, i1, jEnd, j1)
		epilogue(c, ldc, iEnd, i1, j0, jEnd, bias, ac, chOff)
		epilogue(c, ldc, i0, i1, jEnd, j1, bias, ac, chOff)
		return
	}
	gemm(a, lda, b, ldb, c, ldc, k, i0, i1, j0, j1)
	epilogue(c, ldc, i0, i1, j0, j1, bias, ac, chOff)
}

// epilogue applies bias and activation to rows [i0, i1), columns [j0, j1)
// of C (see gemmAct).
func epilogue(c []float32, ldc, i0, i1, j0, j1 int, bias []float32, ac *act, chOff int) {
	if j0 >= j1 {
		return
	}
	for i := i0; i < i1; i++ {
		row := c[i*ldc+j0 : i*ldc+j1]
		if bias != nil {
			ac.applyBias(row, chOff+i, bias[i], true)
		} else {
			ac.apply(row, chOff+i)
		}
	}
}

// gemmGo is the pure-Go kernel of gemm (and its fallback on every
// architecture).
func gemmGo(a []float32, lda int, b []float32, ldb int, c []float32, ldc int, k, i0, i1, j0, j1 int) {
	if i0 >= i1 || j0 >= j1 {
		return
	}
	for jb := j0; jb < j1; jb += gemmColBlock {
		je := min(jb+gemmColBlock, j1)
		n := je - jb
		i := i0
		for ; i+4 <= i1; i += 4 {
			c0 := c[i*ldc+jb : i*ldc+je]
			c1 := c[(i+1)*ldc+jb : (i+1)*ldc+je]
			c2 := c[(i+2)*ldc+jb : (i+2)*ldc+je]
			c3 := c[(i+3)*ldc+jb : (i+3)*ldc+je]
			clear(c0)
			clear(c1)
			clear(c2)
			clear(c3)
			a0 := a[i*lda : i*lda+k]
			a1 := a[(i+1)*lda : (i+1)*lda+k]
			a2 := a[(i+2)*lda : (i+2)*lda+k]
			a3 := a[(i+3)*lda : (i+3)*lda+k]
			for kk := 0; kk < k; kk++ {
				bk := b[kk*ldb+jb : kk*ldb+jb+n]
				v0, v1, v2, v3 := a0[kk], a1[kk], a2[kk], a3[kk]
				c0, c1, c2, c3 := c0[:len(bk)], c1[:len(bk)], c2[:len(bk)], c3[:len(bk)]
				for j, bv := range bk {
					c0[j] += v0 * bv
					c1[j] += v1 * bv
					c2[j] += v2 * bv
					c3[j] += v3 * bv
				}
			}
		}
		for ; i < i1; i++ {
			c0 := c[i*ldc+jb : i*ldc+je]
			clear(c0)
			a0 := a[i*lda : i*lda+k]
			for kk := 0; kk < k; kk++ {
				bk := b[kk*ldb+jb : kk*ldb+jb+n]
				v0 := a0[kk]
				c0 := c0[:len(bk)]
				for j, bv := range bk {
					c0[j] += v0 * bv
				}
			}
		}
	}
}
