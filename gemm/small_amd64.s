//go:build amd64 && !noasm

#include "textflag.h"

// func smallAVX512(m, n, k int, a *float32, lda int, b *float32, ldb int, acc *float32)
// acc[i·n+j] = Σ_{p<k} a[i·lda+p]·b[p·ldb+j] for i < m, j < n (n a positive
// multiple of 16, k ≥ 1): each element's terms in p order with fused
// multiply-adds from zero, as the packed kernels sum one k panel. B is read
// in place, one row at a time; acc (m·n values) stays in cache.
TEXT ·smallAVX512(SB), NOSPLIT, $0-64
	MOVQ m+0(FP), R8
	MOVQ n+8(FP), R9
	MOVQ k+16(FP), R10
	MOVQ a+24(FP), R11
	MOVQ lda+32(FP), R12
	SHLQ $2, R12
	MOVQ b+40(FP), SI
	MOVQ ldb+48(FP), R13
	SHLQ $2, R13
	MOVQ acc+56(FP), DI

	// acc = 0
	MOVQ R8, AX
	IMULQ R9, AX
	VPXORD Z1, Z1, Z1
	XORQ CX, CX

zero:
	VMOVUPS Z1, (DI)(CX*4)
	ADDQ $16, CX
	CMPQ CX, AX
	JLT  zero

	XORQ BX, BX // p

prow:
	// row p of B: the next rows prefetched while this one is used
	LEAQ (SI)(R13*2), R14
	MOVQ DI, DX  // acc row i
	MOVQ R11, R15 // &a[i·lda]
	MOVQ R8, AX  // rows left

irow:
	VBROADCASTSS (R15)(BX*4), Z2
	XORQ CX, CX

jcol:
	PREFETCHT0 (R14)(CX*4)
	VMOVUPS (SI)(CX*4), Z0
	VMOVUPS (DX)(CX*4), Z1
	VFMADD231PS Z0, Z2, Z1
	VMOVUPS Z1, (DX)(CX*4)
	ADDQ $16, CX
	CMPQ CX, R9
	JLT  jcol

	LEAQ (DX)(R9*4), DX
	ADDQ R12, R15
	DECQ AX
	JNZ  irow

	ADDQ R13, SI
	INCQ BX
	CMPQ BX, R10
	JLT  prow
	VZEROUPPER
	RET
