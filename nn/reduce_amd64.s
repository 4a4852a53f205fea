//go:build amd64 && !noasm

#include "textflag.h"

// The float64 reductions of conv.go (sum64, sqDev64, dyDev64) over whole
// blocks of 16 values: partial i of acc (four YMM vectors of four lanes)
// takes element i of every block. Plain multiplies and adds, as in Go.

// func sum16AVX2(acc *[16]float64, x *float32, n int)
// n is a positive multiple of 16.
TEXT ·sum16AVX2(SB), NOSPLIT, $0-24
	MOVQ acc+0(FP), DI
	MOVQ x+8(FP), SI
	MOVQ n+16(FP), CX
	VMOVUPD (DI), Y0
	VMOVUPD 32(DI), Y1
	VMOVUPD 64(DI), Y2
	VMOVUPD 96(DI), Y3

sumloop:
	VCVTPS2PD (SI), Y4
	VCVTPS2PD 16(SI), Y5
	VCVTPS2PD 32(SI), Y6
	VCVTPS2PD 48(SI), Y7
	VADDPD Y4, Y0, Y0
	VADDPD Y5, Y1, Y1
	VADDPD Y6, Y2, Y2
	VADDPD Y7, Y3, Y3
	ADDQ $64, SI
	SUBQ $16, CX
	JNZ  sumloop

	VMOVUPD Y0, (DI)
	VMOVUPD Y1, 32(DI)
	VMOVUPD Y2, 64(DI)
	VMOVUPD Y3, 96(DI)
	VZEROUPPER
	RET

// SQDEV(off, T, A): A += (x[off/4…+3] − mu)², mu in Y8.
#define SQDEV(off, T, A) \
	VCVTPS2PD off(SI), T \
	VSUBPD Y8, T, T \
	VMULPD T, T, T \
	VADDPD T, A, A

// func sqDev16AVX2(acc *[16]float64, x *float32, n int, mu float64)
// n is a positive multiple of 16.
TEXT ·sqDev16AVX2(SB), NOSPLIT, $0-32
	MOVQ acc+0(FP), DI
	MOVQ x+8(FP), SI
	MOVQ n+16(FP), CX
	VBROADCASTSD mu+24(FP), Y8
	VMOVUPD (DI), Y0
	VMOVUPD 32(DI), Y1
	VMOVUPD 64(DI), Y2
	VMOVUPD 96(DI), Y3

sqloop:
	SQDEV(0, Y4, Y0)
	SQDEV(16, Y5, Y1)
	SQDEV(32, Y6, Y2)
	SQDEV(48, Y7, Y3)
	ADDQ $64, SI
	SUBQ $16, CX
	JNZ  sqloop

	VMOVUPD Y0, (DI)
	VMOVUPD Y1, 32(DI)
	VMOVUPD Y2, 64(DI)
	VMOVUPD Y3, 96(DI)
	VZEROUPPER
	RET

// DYDEV(off, G, T, A, B): A += dy, B += dy·(x − mu) for the four values at
// byte offset off, mu in Y8.
#define DYDEV(off, G, T, A, B) \
	VCVTPS2PD off(SI), G \
	VCVTPS2PD off(BX), T \
	VADDPD G, A, A \
	VSUBPD Y8, T, T \
	VMULPD T, G, T \
	VADDPD T, B, B

// func dyDev16AVX2(a, b *[16]float64, dy, x *float32, n int, mu float64)
// n is a positive multiple of 16.
TEXT ·dyDev16AVX2(SB), NOSPLIT, $0-48
	MOVQ a+0(FP), DI
	MOVQ b+8(FP), DX
	MOVQ dy+16(FP), SI
	MOVQ x+24(FP), BX
	MOVQ n+32(FP), CX
	VBROADCASTSD mu+40(FP), Y8
	VMOVUPD (DI), Y0
	VMOVUPD 32(DI), Y1
	VMOVUPD 64(DI), Y2
	VMOVUPD 96(DI), Y3
	VMOVUPD (DX), Y4
	VMOVUPD 32(DX), Y5
	VMOVUPD 64(DX), Y6
	VMOVUPD 96(DX), Y7

dyloop:
	DYDEV(0, Y9, Y10, Y0, Y4)
	DYDEV(16, Y11, Y12, Y1, Y5)
	DYDEV(32, Y9, Y10, Y2, Y6)
	DYDEV(48, Y11, Y12, Y3, Y7)
	ADDQ $64, SI
	ADDQ $64, BX
	SUBQ $16, CX
	JNZ  dyloop

	VMOVUPD Y0, (DI)
	VMOVUPD Y1, 32(DI)
	VMOVUPD Y2, 64(DI)
	VMOVUPD Y3, 96(DI)
	VMOVUPD Y4, (DX)
	VMOVUPD Y5, 32(DX)
	VMOVUPD Y6, 64(DX)
	VMOVUPD Y7, 96(DX)
	VZEROUPPER
	RET
