//go:build amd64 && !noasm

#include "textflag.h"

// func kernel6x16AVX2(kc int, a, b, c *float32, ldc int, set int)
// c[i][j] += sum_p a[p*6+i] * b[p*16+j] for i < 6, j < 16; ldc in elements.
// With set non-zero, c[i][j] = the sum (C is not read).
TEXT ·kernel6x16AVX2(SB), NOSPLIT, $0-48
	MOVQ kc+0(FP), CX
	MOVQ a+8(FP), SI
	MOVQ b+16(FP), DI
	MOVQ c+24(FP), DX
	MOVQ ldc+32(FP), R8
	SHLQ $2, R8
	VXORPS Y0, Y0, Y0
	VXORPS Y1, Y1, Y1
	VXORPS Y2, Y2, Y2
	VXORPS Y3, Y3, Y3
	VXORPS Y4, Y4, Y4
	VXORPS Y5, Y5, Y5
	VXORPS Y6, Y6, Y6
	VXORPS Y7, Y7, Y7
	VXORPS Y8, Y8, Y8
	VXORPS Y9, Y9, Y9
	VXORPS Y10, Y10, Y10
	VXORPS Y11, Y11, Y11
	TESTQ CX, CX
	JZ store
loop:
	VMOVUPS (DI), Y12
	VMOVUPS 32(DI), Y13
	VBROADCASTSS 0(SI), Y14
	VFMADD231PS Y12, Y14, Y0
	VFMADD231PS Y13, Y14, Y1
	VBROADCASTSS 4(SI), Y15
	VFMADD231PS Y12, Y15, Y2
	VFMADD231PS Y13, Y15, Y3
	VBROADCASTSS 8(SI), Y14
	VFMADD231PS Y12, Y14, Y4
	VFMADD231PS Y13, Y14, Y5
	VBROADCASTSS 12(SI), Y15
	VFMADD231PS Y12, Y15, Y6
	VFMADD231PS Y13, Y15, Y7
	VBROADCASTSS 16(SI), Y14
	VFMADD231PS Y12, Y14, Y8
	VFMADD231PS Y13, Y14, Y9
	VBROADCASTSS 20(SI), Y15
	VFMADD231PS Y12, Y15, Y10
	VFMADD231PS Y13, Y15, Y11
	ADDQ $24, SI
	ADDQ $64, DI
	DECQ CX
	JNZ loop
store:
	MOVQ set+40(FP), AX
	TESTQ AX, AX
	JNZ set6x16
	VADDPS (DX), Y0, Y0
	VMOVUPS Y0, (DX)
	VADDPS 32(DX), Y1, Y1
	VMOVUPS Y1, 32(DX)
	ADDQ R8, DX
	VADDPS (DX), Y2, Y2
	VMOVUPS Y2, (DX)
	VADDPS 32(DX), Y3, Y3
	VMOVUPS Y3, 32(DX)
	ADDQ R8, DX
	VADDPS (DX), Y4, Y4
	VMOVUPS Y4, (DX)
	VADDPS 32(DX), Y5, Y5
	VMOVUPS Y5, 32(DX)
	ADDQ R8, DX
	VADDPS (DX), Y6, Y6
	VMOVUPS Y6, (DX)
	VADDPS 32(DX), Y7, Y7
	VMOVUPS Y7, 32(DX)
	ADDQ R8, DX
	VADDPS (DX), Y8, Y8
	VMOVUPS Y8, (DX)
	VADDPS 32(DX), Y9, Y9
	VMOVUPS Y9, 32(DX)
	ADDQ R8, DX
	VADDPS (DX), Y10, Y10
	VMOVUPS Y10, (DX)
	VADDPS 32(DX), Y11, Y11
	VMOVUPS Y11, 32(DX)
	VZEROUPPER
	RET
set6x16:
	VMOVUPS Y0, (DX)
	VMOVUPS Y1, 32(DX)
	ADDQ R8, DX
	VMOVUPS Y2, (DX)
	VMOVUPS Y3, 32(DX)
	ADDQ R8, DX
	VMOVUPS Y4, (DX)
	VMOVUPS Y5, 32(DX)
	ADDQ R8, DX
	VMOVUPS Y6, (DX)
	VMOVUPS Y7, 32(DX)
	ADDQ R8, DX
	VMOVUPS Y8, (DX)
	VMOVUPS Y9, 32(DX)
	ADDQ R8, DX
	VMOVUPS Y10, (DX)
	VMOVUPS Y11, 32(DX)
	VZEROUPPER
	RET

// PF_ROW prefetches one 32-float row of the C tile at R9 and steps R9 to the
// next row.
#define PF_ROW \
	PREFETCHT0 (R9); \
	PREFETCHT0 64(R9); \
	ADDQ R8, R9

// FMA_ROW(off, bc, acc0, acc1): acc0 += B0·a[off], acc1 += B1·a[off] with the
// A value broadcast into bc and the B row in (B0, B1).
#define FMA_ROW(off, bc, b0, b1, acc0, acc1) \
	VBROADCASTSS off(SI), bc; \
	VFMADD231PS b0, bc, acc0; \
	VFMADD231PS b1, bc, acc1

// KSTEP(aoff, boff, b0, b1): one p of the 12×32 product — load B row p into
// (b0, b1) and update all 12 rows, rotating the broadcast register.
#define KSTEP(aoff, boff, b0, b1) \
	VMOVUPS boff(DI), b0; \
	VMOVUPS (boff+64)(DI), b1; \
	FMA_ROW(aoff+0, Z28, b0, b1, Z0, Z1); \
	FMA_ROW(aoff+4, Z29, b0, b1, Z2, Z3); \
	FMA_ROW(aoff+8, Z30, b0, b1, Z4, Z5); \
	FMA_ROW(aoff+12, Z31, b0, b1, Z6, Z7); \
	FMA_ROW(aoff+16, Z28, b0, b1, Z8, Z9); \
	FMA_ROW(aoff+20, Z29, b0, b1, Z10, Z11); \
	FMA_ROW(aoff+24, Z30, b0, b1, Z12, Z13); \
	FMA_ROW(aoff+28, Z31, b0, b1, Z14, Z15); \
	FMA_ROW(aoff+32, Z28, b0, b1, Z16, Z17); \
	FMA_ROW(aoff+36, Z29, b0, b1, Z18, Z19); \
	FMA_ROW(aoff+40, Z30, b0, b1, Z20, Z21); \
	FMA_ROW(aoff+44, Z31, b0, b1, Z22, Z23)

// STORE_ROW(acc0, acc1): C row at DX += (acc0, acc1).
#define STORE_ROW(acc0, acc1) \
	VADDPS (DX), acc0, acc0; \
	VMOVUPS acc0, (DX); \
	VADDPS 64(DX), acc1, acc1; \
	VMOVUPS acc1, 64(DX)

// SET_ROW(acc0, acc1): C row at DX = (acc0, acc1).
#define SET_ROW(acc0, acc1) \
	VMOVUPS acc0, (DX); \
	VMOVUPS acc1, 64(DX)

// func kernel12x32AVX512(kc int, a, b, c *float32, ldc int, set int)
// c[i][j] += sum_p a[p*12+i] * b[p*32+j] for i < 12, j < 32; ldc in elements.
// With set non-zero, c[i][j] = the sum (C is not read).
// Z0…Z23 accumulate (row i in Z(2i), Z(2i+1)); Z24…Z27 hold two B rows;
// the A values are broadcast into Z28…Z31 in rotation (one load per value
// rather than one per FMA). Unrolled by two in p. The C tile is prefetched
// first: it was last touched a whole kc block ago, and its misses would
// otherwise stall the stores at the end.
TEXT ·kernel12x32AVX512(SB), NOSPLIT, $0-48
	MOVQ kc+0(FP), CX
	MOVQ a+8(FP), SI
	MOVQ b+16(FP), DI
	MOVQ c+24(FP), DX
	MOVQ ldc+32(FP), R8
	SHLQ $2, R8
	MOVQ DX, R9
	PF_ROW
	PF_ROW
	PF_ROW
	PF_ROW
	PF_ROW
	PF_ROW
	PF_ROW
	PF_ROW
	PF_ROW
	PF_ROW
	PF_ROW
	PF_ROW
	VPXORD Z0, Z0, Z0
	VPXORD Z1, Z1, Z1
	VPXORD Z2, Z2, Z2
	VPXORD Z3, Z3, Z3
	VPXORD Z4, Z4, Z4
	VPXORD Z5, Z5, Z5
	VPXORD Z6, Z6, Z6
	VPXORD Z7, Z7, Z7
	VPXORD Z8, Z8, Z8
	VPXORD Z9, Z9, Z9
	VPXORD Z10, Z10, Z10
	VPXORD Z11, Z11, Z11
	VPXORD Z12, Z12, Z12
	VPXORD Z13, Z13, Z13
	VPXORD Z14, Z14, Z14
	VPXORD Z15, Z15, Z15
	VPXORD Z16, Z16, Z16
	VPXORD Z17, Z17, Z17
	VPXORD Z18, Z18, Z18
	VPXORD Z19, Z19, Z19
	VPXORD Z20, Z20, Z20
	VPXORD Z21, Z21, Z21
	VPXORD Z22, Z22, Z22
	VPXORD Z23, Z23, Z23
	TESTQ CX, CX
	JZ store512
	MOVQ CX, BX
	SHRQ $1, BX
	JZ tail512
loop512:
	KSTEP(0, 0, Z24, Z25)
	KSTEP(48, 128, Z26, Z27)
	ADDQ $96, SI
	ADDQ $256, DI
	DECQ BX
	JNZ loop512
tail512:
	ANDQ $1, CX
	JZ store512
	KSTEP(0, 0, Z24, Z25)
store512:
	MOVQ set+40(FP), AX
	TESTQ AX, AX
	JNZ set512
	STORE_ROW(Z0, Z1)
	ADDQ R8, DX
	STORE_ROW(Z2, Z3)
	ADDQ R8, DX
	STORE_ROW(Z4, Z5)
	ADDQ R8, DX
	STORE_ROW(Z6, Z7)
	ADDQ R8, DX
	STORE_ROW(Z8, Z9)
	ADDQ R8, DX
	STORE_ROW(Z10, Z11)
	ADDQ R8, DX
	STORE_ROW(Z12, Z13)
	ADDQ R8, DX
	STORE_ROW(Z14, Z15)
	ADDQ R8, DX
	STORE_ROW(Z16, Z17)
	ADDQ R8, DX
	STORE_ROW(Z18, Z19)
	ADDQ R8, DX
	STORE_ROW(Z20, Z21)
	ADDQ R8, DX
	STORE_ROW(Z22, Z23)
	VZEROUPPER
	RET
set512:
	SET_ROW(Z0, Z1)
	ADDQ R8, DX
	SET_ROW(Z2, Z3)
	ADDQ R8, DX
	SET_ROW(Z4, Z5)
	ADDQ R8, DX
	SET_ROW(Z6, Z7)
	ADDQ R8, DX
	SET_ROW(Z8, Z9)
	ADDQ R8, DX
	SET_ROW(Z10, Z11)
	ADDQ R8, DX
	SET_ROW(Z12, Z13)
	ADDQ R8, DX
	SET_ROW(Z14, Z15)
	ADDQ R8, DX
	SET_ROW(Z16, Z17)
	ADDQ R8, DX
	SET_ROW(Z18, Z19)
	ADDQ R8, DX
	SET_ROW(Z20, Z21)
	ADDQ R8, DX
	SET_ROW(Z22, Z23)
	VZEROUPPER
	RET
