//go:build amd64 && !noasm

#include "textflag.h"

// func dotsNormsAVX512(a *float32, lda, groups int, b *float32, ldb, n int, acc *float32, nacc *float64)
// For a k panel of 4·groups channels and n columns (a positive multiple of
// 16) of B (row stride ldb), with A 4 rows of stride lda:
//   acc[i·n+j] += Σ_p a[i·lda+p]·b[p·ldb+j]   (fused multiply-adds, p in order)
//   nacc[j]    += Σ_g float64(((b0² + b1²) + b2²) + b3²)  (rows 4g…4g+3, float32 squares and sums)
// reading each value of B once.
TEXT ·dotsNormsAVX512(SB), NOSPLIT, $0-64
	MOVQ a+0(FP), R8
	MOVQ lda+8(FP), R9
	SHLQ $2, R9
	MOVQ groups+16(FP), R10
	MOVQ b+24(FP), SI
	MOVQ ldb+32(FP), DX
	SHLQ $2, DX
	MOVQ n+40(FP), R11
	MOVQ acc+48(FP), DI
	MOVQ nacc+56(FP), R12
	LEAQ (DX)(DX*2), R13   // 3 rows of B
	MOVQ R11, R14
	SHLQ $2, R14           // one acc row, bytes

group:
	// the 16 multipliers a[i][4g+r] in Z12…Z27 (Z(12+4i+r))
	LEAQ (R9)(R9*2), AX // 3 rows of A
	VBROADCASTSS (R8), Z12
	VBROADCASTSS 4(R8), Z13
	VBROADCASTSS 8(R8), Z14
	VBROADCASTSS 12(R8), Z15
	VBROADCASTSS (R8)(R9*1), Z16
	VBROADCASTSS 4(R8)(R9*1), Z17
	VBROADCASTSS 8(R8)(R9*1), Z18
	VBROADCASTSS 12(R8)(R9*1), Z19
	VBROADCASTSS (R8)(R9*2), Z20
	VBROADCASTSS 4(R8)(R9*2), Z21
	VBROADCASTSS 8(R8)(R9*2), Z22
	VBROADCASTSS 12(R8)(R9*2), Z23
	VBROADCASTSS (R8)(AX*1), Z24
	VBROADCASTSS 4(R8)(AX*1), Z25
	VBROADCASTSS 8(R8)(AX*1), Z26
	VBROADCASTSS 12(R8)(AX*1), Z27
	XORQ CX, CX
	MOVQ DI, BX

col:
	LEAQ (SI)(CX*4), R15 // row 4g of B at this column
	// the same columns two groups ahead, prefetched
	LEAQ       (R15)(DX*8), AX
	PREFETCHT0 (AX)
	PREFETCHT0 (AX)(DX*1)
	PREFETCHT0 (AX)(DX*2)
	PREFETCHT0 (AX)(R13*1)
	VMOVUPS (R15), Z0
	VMOVUPS (R15)(DX*1), Z1
	VMOVUPS (R15)(DX*2), Z2
	VMOVUPS (R15)(R13*1), Z3
	// norms: ((b0² + b1²) + b2²) + b3² in float32, added in float64
	VMULPS  Z0, Z0, Z4
	VMULPS  Z1, Z1, Z7
	VADDPS  Z7, Z4, Z4
	VMULPS  Z2, Z2, Z7
	VADDPS  Z7, Z4, Z4
	VMULPS  Z3, Z3, Z7
	VADDPS  Z7, Z4, Z4
	VCVTPS2PD Y4, Z5
	VEXTRACTF32X8 $1, Z4, Y6
	VCVTPS2PD Y6, Z6
	VADDPD  (R12)(CX*8), Z5, Z5
	VADDPD  64(R12)(CX*8), Z6, Z6
	VMOVUPD Z5, (R12)(CX*8)
	VMOVUPD Z6, 64(R12)(CX*8)
	// products: the four rows of B into each row of acc, channels in order
	MOVQ BX, AX
	VMOVUPS (AX), Z8
	VFMADD231PS Z0, Z12, Z8
	VFMADD231PS Z1, Z13, Z8
	VFMADD231PS Z2, Z14, Z8
	VFMADD231PS Z3, Z15, Z8
	VMOVUPS Z8, (AX)
	ADDQ R14, AX
	VMOVUPS (AX), Z9
	VFMADD231PS Z0, Z16, Z9
	VFMADD231PS Z1, Z17, Z9
	VFMADD231PS Z2, Z18, Z9
	VFMADD231PS Z3, Z19, Z9
	VMOVUPS Z9, (AX)
	ADDQ R14, AX
	VMOVUPS (AX), Z10
	VFMADD231PS Z0, Z20, Z10
	VFMADD231PS Z1, Z21, Z10
	VFMADD231PS Z2, Z22, Z10
	VFMADD231PS Z3, Z23, Z10
	VMOVUPS Z10, (AX)
	ADDQ R14, AX
	VMOVUPS (AX), Z11
	VFMADD231PS Z0, Z24, Z11
	VFMADD231PS Z1, Z25, Z11
	VFMADD231PS Z2, Z26, Z11
	VFMADD231PS Z3, Z27, Z11
	VMOVUPS Z11, (AX)
	ADDQ $64, BX
	ADDQ $16, CX
	CMPQ CX, R11
	JLT  col

	// next group: B four rows down, A four columns on
	LEAQ (SI)(DX*4), SI
	ADDQ $16, R8
	DECQ R10
	JNZ  group
	VZEROUPPER
	RET
