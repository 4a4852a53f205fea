//go:build amd64 && !noasm

#include "textflag.h"

// BatchNorm's elementwise passes (batchnorm.go), 8 values per step, the Go
// loops' operations in their order (no fused multiply-adds).

// func bnNormAVX2(o, x *float32, n int, mu, scale, beta float32)
// o[j] = (x[j] − mu)·scale + beta for j < n (a positive multiple of 8).
TEXT ·bnNormAVX2(SB), NOSPLIT, $0-36
	MOVQ o+0(FP), DI
	MOVQ x+8(FP), SI
	MOVQ n+16(FP), CX
	VBROADCASTSS mu+24(FP), Y1
	VBROADCASTSS scale+28(FP), Y2
	VBROADCASTSS beta+32(FP), Y3
	XORQ AX, AX

normloop:
	VMOVUPS (SI)(AX*4), Y0
	VSUBPS  Y1, Y0, Y0
	VMULPS  Y2, Y0, Y0
	VADDPS  Y3, Y0, Y0
	VMOVUPS Y0, (DI)(AX*4)
	ADDQ $8, AX
	CMPQ AX, CX
	JLT  normloop
	VZEROUPPER
	RET

// func bnGradAVX2(dx, dy, x *float32, n int, k, mdy, mu, cx float32, accumulate int)
// d = k·((dy[j] − mdy) − (x[j] − mu)·cx); dx[j] = d, or dx[j] += d with
// accumulate set; n is a positive multiple of 8.
TEXT ·bnGradAVX2(SB), NOSPLIT, $0-56
	MOVQ dx+0(FP), DI
	MOVQ dy+8(FP), SI
	MOVQ x+16(FP), BX
	MOVQ n+24(FP), CX
	VBROADCASTSS k+32(FP), Y4
	VBROADCASTSS mdy+36(FP), Y5
	VBROADCASTSS mu+40(FP), Y6
	VBROADCASTSS cx+44(FP), Y7
	MOVQ accumulate+48(FP), DX
	XORQ AX, AX

gradloop:
	VMOVUPS (BX)(AX*4), Y0
	VSUBPS  Y6, Y0, Y0 // x − mu
	VMULPS  Y7, Y0, Y0 // ·cx
	VMOVUPS (SI)(AX*4), Y1
	VSUBPS  Y5, Y1, Y1 // dy − mdy
	VSUBPS  Y0, Y1, Y1
	VMULPS  Y1, Y4, Y1 // k·(…)
	TESTQ DX, DX
	JZ    gradstore
	VADDPS  (DI)(AX*4), Y1, Y1

gradstore:
	VMOVUPS Y1, (DI)(AX*4)
	ADDQ $8, AX
	CMPQ AX, CX
	JLT  gradloop
	VZEROUPPER
	RET
