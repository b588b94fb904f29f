#include "textflag.h"

// func sgemm4x16(k int, a *float32, lda int, b *float32, ldb int, c *float32, ldc int)
//
// C[0:4, 0:16] = A[0:4, 0:k] · B[0:k, 0:16]; strides in elements. The 4×16
// tile of C lives in Y0–Y7 for the whole k loop (AVX2 + FMA).
TEXT ·sgemm4x16(SB), NOSPLIT, $0-56
	MOVQ k+0(FP), CX
	MOVQ a+8(FP), SI
	MOVQ lda+16(FP), R8
	MOVQ b+24(FP), DI
	MOVQ ldb+32(FP), R9
	MOVQ c+40(FP), DX
	MOVQ ldc+48(FP), R10
	SHLQ $2, R8
	SHLQ $2, R9
	SHLQ $2, R10
	LEAQ (SI)(R8*1), R11
	LEAQ (R11)(R8*1), R12
	LEAQ (R12)(R8*1), R13
	VXORPS Y0, Y0, Y0
	VXORPS Y1, Y1, Y1
	VXORPS Y2, Y2, Y2
	VXORPS Y3, Y3, Y3
	VXORPS Y4, Y4, Y4
	VXORPS Y5, Y5, Y5
	VXORPS Y6, Y6, Y6
	VXORPS Y7, Y7, Y7
	TESTQ CX, CX
	JEQ  store

loop:
	VMOVUPS      (DI), Y8
	VMOVUPS      32(DI), Y9
	VBROADCASTSS (SI), Y10
	VFMADD231PS  Y8, Y10, Y0
	VFMADD231PS  Y9, Y10, Y1
	VBROADCASTSS (R11), Y11
	VFMADD231PS  Y8, Y11, Y2
	VFMADD231PS  Y9, Y11, Y3
	VBROADCASTSS (R12), Y12
	VFMADD231PS  Y8, Y12, Y4
	VFMADD231PS  Y9, Y12, Y5
	VBROADCASTSS (R13), Y13
	VFMADD231PS  Y8, Y13, Y6
	VFMADD231PS  Y9, Y13, Y7
	ADDQ         $4, SI
	ADDQ         $4, R11
	ADDQ         $4, R12
	ADDQ         $4, R13
	ADDQ         R9, DI
	DECQ         CX
	JNE          loop

store:
	VMOVUPS Y0, (DX)
	VMOVUPS Y1, 32(DX)
	ADDQ    R10, DX
	VMOVUPS Y2, (DX)
	VMOVUPS Y3, 32(DX)
	ADDQ    R10, DX
	VMOVUPS Y4, (DX)
	VMOVUPS Y5, 32(DX)
	ADDQ    R10, DX
	VMOVUPS Y6, (DX)
	VMOVUPS Y7, 32(DX)
	VZEROUPPER
	RET

// func sgemm4x16e(k int, a *float32, lda int, b *float32, ldb int, c *float32, ldc int, bias *float32, flags int)
//
// sgemm4x16 with an epilogue on the registers before the store: flags bit 1
// adds bias[r] to row r of the tile (bias points at 4 values), bit 0 then
// sets negative values (and −0) to +0 (ReLU).
TEXT ·sgemm4x16e(SB), NOSPLIT, $0-72
	MOVQ k+0(FP), CX
	MOVQ a+8(FP), SI
	MOVQ lda+16(FP), R8
	MOVQ b+24(FP), DI
	MOVQ ldb+32(FP), R9
	MOVQ c+40(FP), DX
	MOVQ ldc+48(FP), R10
	MOVQ bias+56(FP), R14
	MOVQ flags+64(FP), R15
	SHLQ $2, R8
	SHLQ $2, R9
	SHLQ $2, R10
	LEAQ (SI)(R8*1), R11
	LEAQ (R11)(R8*1), R12
	LEAQ (R12)(R8*1), R13
	VXORPS Y0, Y0, Y0
	VXORPS Y1, Y1, Y1
	VXORPS Y2, Y2, Y2
	VXORPS Y3, Y3, Y3
	VXORPS Y4, Y4, Y4
	VXORPS Y5, Y5, Y5
	VXORPS Y6, Y6, Y6
	VXORPS Y7, Y7, Y7
	TESTQ CX, CX
	JEQ  epilogue

loope:
	VMOVUPS      (DI), Y8
	VMOVUPS      32(DI), Y9
	VBROADCASTSS (SI), Y10
	VFMADD231PS  Y8, Y10, Y0
	VFMADD231PS  Y9, Y10, Y1
	VBROADCASTSS (R11), Y11
	VFMADD231PS  Y8, Y11, Y2
	VFMADD231PS  Y9, Y11, Y3
	VBROADCASTSS (R12), Y12
	VFMADD231PS  Y8, Y12, Y4
	VFMADD231PS  Y9, Y12, Y5
	VBROADCASTSS (R13), Y13
	VFMADD231PS  Y8, Y13, Y6
	VFMADD231PS  Y9, Y13, Y7
	ADDQ         $4, SI
	ADDQ         $4, R11
	ADDQ         $4, R12
	ADDQ         $4, R13
	ADDQ         R9, DI
	DECQ         CX
	JNE          loope

epilogue:
	TESTQ $2, R15
	JEQ   relu
	VBROADCASTSS (R14), Y10
	VADDPS       Y10, Y0, Y0
	VADDPS       Y10, Y1, Y1
	VBROADCASTSS 4(R14), Y11
	VADDPS       Y11, Y2, Y2
	VADDPS       Y11, Y3, Y3
	VBROADCASTSS 8(R14), Y12
	VADDPS       Y12, Y4, Y4
	VADDPS       Y12, Y5, Y5
	VBROADCASTSS 12(R14), Y13
	VADDPS       Y13, Y6, Y6
	VADDPS       Y13, Y7, Y7

relu:
	TESTQ $1, R15
	JEQ   storee
	VXORPS Y15, Y15, Y15
	VMAXPS Y15, Y0, Y0
	VMAXPS Y15, Y1, Y1
	VMAXPS Y15, Y2, Y2
	VMAXPS Y15, Y3, Y3
	VMAXPS Y15, Y4, Y4
	VMAXPS Y15, Y5, Y5
	VMAXPS Y15, Y6, Y6
	VMAXPS Y15, Y7, Y7

storee:
	VMOVUPS Y0, (DX)
	VMOVUPS Y1, 32(DX)
	ADDQ    R10, DX
	VMOVUPS Y2, (DX)
	VMOVUPS Y3, 32(DX)
	ADDQ    R10, DX
	VMOVUPS Y4, (DX)
	VMOVUPS Y5, 32(DX)
	ADDQ    R10, DX
	VMOVUPS Y6, (DX)
	VMOVUPS Y7, 32(DX)
	VZEROUPPER
	RET

// func dw3x3s1(n int, r0, r1, r2, dst, w *float32, bias float32, lo float32)
//
// One row of a 3×3 stride-1 depthwise convolution, 8 outputs per step:
// dst[x] = bias + Σ_{ky,kx} w[3·ky+kx]·r_ky[x+kx] for x in [0, n), n a
// multiple of 8 (AVX2 + FMA), then dst[x] = max(dst[x], lo) (lo = 0 fuses
// a ReLU, −Inf none). Each r_ky must hold n+2 values.
TEXT ·dw3x3s1(SB), NOSPLIT, $0-56
	MOVQ n+0(FP), CX
	MOVQ r0+8(FP), SI
	MOVQ r1+16(FP), R11
	MOVQ r2+24(FP), R12
	MOVQ dst+32(FP), DX
	MOVQ w+40(FP), DI
	VBROADCASTSS bias+48(FP), Y9
	VBROADCASTSS lo+52(FP), Y14
	VBROADCASTSS (DI), Y0
	VBROADCASTSS 4(DI), Y1
	VBROADCASTSS 8(DI), Y2
	VBROADCASTSS 12(DI), Y3
	VBROADCASTSS 16(DI), Y4
	VBROADCASTSS 20(DI), Y5
	VBROADCASTSS 24(DI), Y6
	VBROADCASTSS 28(DI), Y7
	VBROADCASTSS 32(DI), Y8
	SHRQ $3, CX
	JEQ  dwdone

dwloop:
	VMOVAPS     Y9, Y10
	VMOVUPS     (SI), Y11
	VFMADD231PS Y11, Y0, Y10
	VMOVUPS     4(SI), Y12
	VFMADD231PS Y12, Y1, Y10
	VMOVUPS     8(SI), Y13
	VFMADD231PS Y13, Y2, Y10
	VMOVUPS     (R11), Y11
	VFMADD231PS Y11, Y3, Y10
	VMOVUPS     4(R11), Y12
	VFMADD231PS Y12, Y4, Y10
	VMOVUPS     8(R11), Y13
	VFMADD231PS Y13, Y5, Y10
	VMOVUPS     (R12), Y11
	VFMADD231PS Y11, Y6, Y10
	VMOVUPS     4(R12), Y12
	VFMADD231PS Y12, Y7, Y10
	VMOVUPS     8(R12), Y13
	VFMADD231PS Y13, Y8, Y10
	VMAXPS  Y14, Y10, Y10
	VMOVUPS     Y10, (DX)
	ADDQ        $32, SI
	ADDQ        $32, R11
	ADDQ        $32, R12
	ADDQ        $32, DX
	DECQ        CX
	JNE         dwloop

dwdone:
	VZEROUPPER
	RET

// func dw3x3s2(n int, r0, r1, r2, dst, w *float32, bias float32, lo float32)
//
// dw3x3s1 for stride 2: dst[x] = bias + Σ w[3·ky+kx]·r_ky[2x+kx], 8 outputs
// per step from 16 (+2) inputs per row, deinterleaved into even and odd
// columns with VSHUFPS + VPERMPD. Each r_ky must hold 2n+2 values.
TEXT ·dw3x3s2(SB), NOSPLIT, $0-56
	MOVQ n+0(FP), CX
	MOVQ r0+8(FP), SI
	MOVQ r1+16(FP), R11
	MOVQ r2+24(FP), R12
	MOVQ dst+32(FP), DX
	MOVQ w+40(FP), DI
	VBROADCASTSS bias+48(FP), Y9
	VBROADCASTSS lo+52(FP), Y14
	VBROADCASTSS (DI), Y0
	VBROADCASTSS 4(DI), Y1
	VBROADCASTSS 8(DI), Y2
	VBROADCASTSS 12(DI), Y3
	VBROADCASTSS 16(DI), Y4
	VBROADCASTSS 20(DI), Y5
	VBROADCASTSS 24(DI), Y6
	VBROADCASTSS 28(DI), Y7
	VBROADCASTSS 32(DI), Y8
	SHRQ $3, CX
	JEQ  s2done

s2loop:
	VMOVAPS Y9, Y10

	// row 0
	VMOVUPS     (SI), Y11
	VMOVUPS     32(SI), Y12
	VSHUFPS     $0x88, Y12, Y11, Y13
	VPERMPD     $0xD8, Y13, Y13
	VFMADD231PS Y13, Y0, Y10
	VSHUFPS     $0xDD, Y12, Y11, Y13
	VPERMPD     $0xD8, Y13, Y13
	VFMADD231PS Y13, Y1, Y10
	VMOVUPS     8(SI), Y11
	VMOVUPS     40(SI), Y12
	VSHUFPS     $0x88, Y12, Y11, Y13
	VPERMPD     $0xD8, Y13, Y13
	VFMADD231PS Y13, Y2, Y10

	// row 1
	VMOVUPS     (R11), Y11
	VMOVUPS     32(R11), Y12
	VSHUFPS     $0x88, Y12, Y11, Y13
	VPERMPD     $0xD8, Y13, Y13
	VFMADD231PS Y13, Y3, Y10
	VSHUFPS     $0xDD, Y12, Y11, Y13
	VPERMPD     $0xD8, Y13, Y13
	VFMADD231PS Y13, Y4, Y10
	VMOVUPS     8(R11), Y11
	VMOVUPS     40(R11), Y12
	VSHUFPS     $0x88, Y12, Y11, Y13
	VPERMPD     $0xD8, Y13, Y13
	VFMADD231PS Y13, Y5, Y10

	// row 2
	VMOVUPS     (R12), Y11
	VMOVUPS     32(R12), Y12
	VSHUFPS     $0x88, Y12, Y11, Y13
	VPERMPD     $0xD8, Y13, Y13
	VFMADD231PS Y13, Y6, Y10
	VSHUFPS     $0xDD, Y12, Y11, Y13
	VPERMPD     $0xD8, Y13, Y13
	VFMADD231PS Y13, Y7, Y10
	VMOVUPS     8(R12), Y11
	VMOVUPS     40(R12), Y12
	VSHUFPS     $0x88, Y12, Y11, Y13
	VPERMPD     $0xD8, Y13, Y13
	VFMADD231PS Y13, Y8, Y10

	VMAXPS  Y14, Y10, Y10
	VMOVUPS Y10, (DX)
	ADDQ    $64, SI
	ADDQ    $64, R11
	ADDQ    $64, R12
	ADDQ    $32, DX
	DECQ    CX
	JNE     s2loop

s2done:
	VZEROUPPER
	RET
