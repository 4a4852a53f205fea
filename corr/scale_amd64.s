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

// func sumSq4AVX2(acc *float64, r *float32, p, n, groups int)
// For g < groups and j < n (a positive multiple of 8), with rows
// ri = r + (4g+i)·p: acc[j] += float64(((r0[j]² + r1[j]²) + r2[j]²) + r3[j]²),
// the squares and sums in float32 (no FMA), as the Go loop does.
TEXT ·sumSq4AVX2(SB), NOSPLIT, $0-40
	MOVQ acc+0(FP), DI
	MOVQ r+8(FP), SI
	MOVQ p+16(FP), DX
	SHLQ $2, DX          // row stride in bytes
	MOVQ n+24(FP), BX
	MOVQ groups+32(FP), CX
	LEAQ (DX)(DX*2), R11 // 3 rows

group:
	XORQ AX, AX
	MOVQ SI, R8

col:
	// The same columns two groups (8 rows) ahead, prefetched: each row's
	// run is only blk values long, too short for the hardware prefetchers
	// to catch up (a prefetch never faults, past the end included).
	LEAQ       (R8)(DX*8), R12
	PREFETCHT0 (R12)
	PREFETCHT0 (R12)(DX*1)
	PREFETCHT0 (R12)(DX*2)
	PREFETCHT0 (R12)(R11*1)
	VMOVUPS (R8), Y0
	VMULPS  Y0, Y0, Y0
	VMOVUPS (R8)(DX*1), Y1
	VMULPS  Y1, Y1, Y1
	VADDPS  Y1, Y0, Y0
	VMOVUPS (R8)(DX*2), Y1
	VMULPS  Y1, Y1, Y1
	VADDPS  Y1, Y0, Y0
	VMOVUPS (R8)(R11*1), Y1
	VMULPS  Y1, Y1, Y1
	VADDPS  Y1, Y0, Y0
	VCVTPS2PD X0, Y2
	VEXTRACTF128 $1, Y0, X3
	VCVTPS2PD X3, Y3
	VADDPD  (DI)(AX*8), Y2, Y2
	VADDPD  32(DI)(AX*8), Y3, Y3
	VMOVUPD Y2, (DI)(AX*8)
	VMOVUPD Y3, 32(DI)(AX*8)
	ADDQ $32, R8
	ADDQ $8, AX
	CMPQ AX, BX
	JLT  col

	LEAQ (SI)(DX*4), SI
	DECQ CX
	JNZ  group
	VZEROUPPER
	RET

// func colMaxAVX2(colMax *float32, colArg *int32, row *float32, n int, idx int32)
// For j < n (a positive multiple of 8): where row[j] > colMax[j] (ordered:
// a NaN never wins), colMax[j] = row[j] and colArg[j] = idx.
TEXT ·colMaxAVX2(SB), NOSPLIT, $0-36
	MOVQ colMax+0(FP), DI
	MOVQ colArg+8(FP), DX
	MOVQ row+16(FP), SI
	MOVQ n+24(FP), CX
	MOVL idx+32(FP), AX
	MOVD AX, X4
	VPBROADCASTD X4, Y4
	XORQ AX, AX

cmloop:
	VMOVUPS (SI)(AX*4), Y0
	VMOVUPS (DI)(AX*4), Y1
	VCMPPS  $0x1e, Y1, Y0, Y2 // row > colMax, false for NaN
	VBLENDVPS Y2, Y0, Y1, Y1
	VMOVUPS Y1, (DI)(AX*4)
	VMOVUPS (DX)(AX*4), Y3
	VBLENDVPS Y2, Y4, Y3, Y3
	VMOVUPS Y3, (DX)(AX*4)
	ADDQ $8, AX
	CMPQ AX, CX
	JLT  cmloop
	VZEROUPPER
	RET
