//go:build amd64 && !noasm

#include "textflag.h"

// The float64 reductions of conv.go (sum64, sqDev64, dyDev64) over whole
// blocks of 16 values: partial i of acc (four YMM vectors of four lanes)
// takes element i of every block. Plain multiplies and adds, as in Go.

// LOAD16(R, A0, A1, A2, A3) and STORE16(R, A0, A1, A2, A3): 16 partial
// sums at R to and from four vectors.
#define LOAD16(R, A0, A1, A2, A3) \
	VMOVUPD (R), A0 \
	VMOVUPD 32(R), A1 \
	VMOVUPD 64(R), A2 \
	VMOVUPD 96(R), A3

#define STORE16(R, A0, A1, A2, A3) \
	VMOVUPD A0, (R) \
	VMOVUPD A1, 32(R) \
	VMOVUPD A2, 64(R) \
	VMOVUPD A3, 96(R)

// func sum16AVX2(acc *[16]float64, x *float32, n int)
// n is a positive multiple of 16.
TEXT ·sum16AVX2(SB), NOSPLIT, $0-24
	MOVQ acc+0(FP), DI
	MOVQ x+8(FP), SI
	MOVQ n+16(FP), CX
	LOAD16(DI, Y0, Y1, Y2, Y3)

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

	STORE16(DI, Y0, Y1, Y2, Y3)
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
	LOAD16(DI, Y0, Y1, Y2, Y3)

sqloop:
	SQDEV(0, Y4, Y0)
	SQDEV(16, Y5, Y1)
	SQDEV(32, Y6, Y2)
	SQDEV(48, Y7, Y3)
	ADDQ $64, SI
	SUBQ $16, CX
	JNZ  sqloop

	STORE16(DI, Y0, Y1, Y2, Y3)
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
	LOAD16(DI, Y0, Y1, Y2, Y3)
	LOAD16(DX, Y4, Y5, Y6, Y7)

dyloop:
	DYDEV(0, Y9, Y10, Y0, Y4)
	DYDEV(16, Y11, Y12, Y1, Y5)
	DYDEV(32, Y9, Y10, Y2, Y6)
	DYDEV(48, Y11, Y12, Y3, Y7)
	ADDQ $64, SI
	ADDQ $64, BX
	SUBQ $16, CX
	JNZ  dyloop

	STORE16(DI, Y0, Y1, Y2, Y3)
	STORE16(DX, Y4, Y5, Y6, Y7)
	VZEROUPPER
	RET
