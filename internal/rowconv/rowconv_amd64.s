//go:build amd64 && !noasm

#include "textflag.h"

// func acc3AVX2(d, a, b, c *float32, n int, k0, k1, k2 float32)
// n is a positive multiple of 8.
TEXT ·acc3AVX2(SB), NOSPLIT, $0-52
	MOVQ d+0(FP), DI
	MOVQ a+8(FP), SI
	MOVQ b+16(FP), DX
	MOVQ c+24(FP), CX
	MOVQ n+32(FP), BX
	VBROADCASTSS k0+40(FP), Y0
	VBROADCASTSS k1+44(FP), Y1
	VBROADCASTSS k2+48(FP), Y2
	XORQ AX, AX

loop:
	VMULPS (SI)(AX*4), Y0, Y3
	VMULPS (DX)(AX*4), Y1, Y4
	VADDPS Y4, Y3, Y3
	VMULPS (CX)(AX*4), Y2, Y4
	VADDPS Y4, Y3, Y3
	VADDPS (DI)(AX*4), Y3, Y3
	VMOVUPS Y3, (DI)(AX*4)
	ADDQ $8, AX
	CMPQ AX, BX
	JL   loop
	VZEROUPPER
	RET
