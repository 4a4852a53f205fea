//go:build amd64 && !noasm

#include "textflag.h"

// func scaleAVX2(r, fn *float32, n int, qn float32, relu int)
// n is a positive multiple of 8. Per value: den = qn·fn; den = (Eps > den)
// ? Eps : den (NaN passes); v = r/den; with relu, v = (0 > v) ? 0 : v.
TEXT ·scaleAVX2(SB), NOSPLIT, $0-40
	MOVQ r+0(FP), DI
	MOVQ fn+8(FP), SI
	MOVQ n+16(FP), BX
	VBROADCASTSS qn+24(FP), Y0
	MOVL $0x322bcc77, AX // float32(1e-8)
	MOVL AX, X1
	VBROADCASTSS X1, Y1
	VXORPS Y2, Y2, Y2
	MOVQ relu+32(FP), R8
	XORQ AX, AX
	TESTQ R8, R8
	JZ   plain

relu:
	VMULPS (SI)(AX*4), Y0, Y3
	VMAXPS Y3, Y1, Y3
	VMOVUPS (DI)(AX*4), Y4
	VDIVPS Y3, Y4, Y4
	VMAXPS Y4, Y2, Y4
	VMOVUPS Y4, (DI)(AX*4)
	ADDQ $8, AX
	CMPQ AX, BX
	JL   relu
	VZEROUPPER
	RET

plain:
	VMULPS (SI)(AX*4), Y0, Y3
	VMAXPS Y3, Y1, Y3
	VMOVUPS (DI)(AX*4), Y4
	VDIVPS Y3, Y4, Y4
	VMOVUPS Y4, (DI)(AX*4)
	ADDQ $8, AX
	CMPQ AX, BX
	JL   plain
	VZEROUPPER
	RET
