//go:build amd64 && !noasm

#include "textflag.h"

// func maxAVX2(x *float32, n int) (m float32, unordered bool)
// n is a positive multiple of 8. m is the largest ordered value of x (its
// sign unspecified when it is a zero); unordered reports a NaN anywhere.
TEXT ·maxAVX2(SB), NOSPLIT, $0-21
	MOVQ x+0(FP), SI
	MOVQ n+8(FP), CX
	VMOVUPS (SI), Y0
	VCMPPS $3, Y0, Y0, Y2 // unordered lanes
	MOVQ $8, AX

loop:
	CMPQ AX, CX
	JGE  done
	VMOVUPS (SI)(AX*4), Y1
	VCMPPS $3, Y1, Y1, Y3
	VORPS  Y3, Y2, Y2
	VMAXPS Y1, Y0, Y0
	ADDQ $8, AX
	JMP  loop

done:
	VEXTRACTF128 $1, Y0, X1
	VMAXPS X1, X0, X0
	VPERMILPS $0x4e, X0, X1
	VMAXPS X1, X0, X0
	VPERMILPS $0xb1, X0, X1
	VMAXPS X1, X0, X0
	MOVSS X0, m+16(FP)
	VMOVMSKPS Y2, AX
	TESTL AX, AX
	SETNE unordered+20(FP)
	VZEROUPPER
	RET

// func firstEqAVX2(x *float32, n int, v float32) int
// n is a positive multiple of 8. It returns the first i with x[i] == v, or n.
TEXT ·firstEqAVX2(SB), NOSPLIT, $0-32
	MOVQ x+0(FP), SI
	MOVQ n+8(FP), CX
	VBROADCASTSS v+16(FP), Y0
	XORQ AX, AX

scan:
	CMPQ AX, CX
	JGE  none
	VCMPPS $0, (SI)(AX*4), Y0, Y1
	VMOVMSKPS Y1, DX
	TESTL DX, DX
	JNZ  found
	ADDQ $8, AX
	JMP  scan

found:
	BSFL DX, DX
	ADDQ DX, AX
	MOVQ AX, ret+24(FP)
	VZEROUPPER
	RET

none:
	MOVQ CX, ret+24(FP)
	VZEROUPPER
	RET
