//go:build amd64 && !noasm

#include "textflag.h"

DATA expconst<>+0(SB)/4, $0xc2ae0000
DATA expconst<>+4(SB)/4, $0xc2ae0000
DATA expconst<>+8(SB)/4, $0xc2ae0000
DATA expconst<>+12(SB)/4, $0xc2ae0000
DATA expconst<>+16(SB)/4, $0xc2ae0000
DATA expconst<>+20(SB)/4, $0xc2ae0000
DATA expconst<>+24(SB)/4, $0xc2ae0000
DATA expconst<>+28(SB)/4, $0xc2ae0000
DATA expconst<>+32(SB)/4, $0x3fb8aa3b
DATA expconst<>+36(SB)/4, $0x3fb8aa3b
DATA expconst<>+40(SB)/4, $0x3fb8aa3b
DATA expconst<>+44(SB)/4, $0x3fb8aa3b
DATA expconst<>+48(SB)/4, $0x3fb8aa3b
DATA expconst<>+52(SB)/4, $0x3fb8aa3b
DATA expconst<>+56(SB)/4, $0x3fb8aa3b
DATA expconst<>+60(SB)/4, $0x3fb8aa3b
DATA expconst<>+64(SB)/4, $0x4b400000
DATA expconst<>+68(SB)/4, $0x4b400000
DATA expconst<>+72(SB)/4, $0x4b400000
DATA expconst<>+76(SB)/4, $0x4b400000
DATA expconst<>+80(SB)/4, $0x4b400000
DATA expconst<>+84(SB)/4, $0x4b400000
DATA expconst<>+88(SB)/4, $0x4b400000
DATA expconst<>+92(SB)/4, $0x4b400000
DATA expconst<>+96(SB)/4, $0x3f318000
DATA expconst<>+100(SB)/4, $0x3f318000
DATA expconst<>+104(SB)/4, $0x3f318000
DATA expconst<>+108(SB)/4, $0x3f318000
DATA expconst<>+112(SB)/4, $0x3f318000
DATA expconst<>+116(SB)/4, $0x3f318000
DATA expconst<>+120(SB)/4, $0x3f318000
DATA expconst<>+124(SB)/4, $0x3f318000
DATA expconst<>+128(SB)/4, $0xb95e8083
DATA expconst<>+132(SB)/4, $0xb95e8083
DATA expconst<>+136(SB)/4, $0xb95e8083
DATA expconst<>+140(SB)/4, $0xb95e8083
DATA expconst<>+144(SB)/4, $0xb95e8083
DATA expconst<>+148(SB)/4, $0xb95e8083
DATA expconst<>+152(SB)/4, $0xb95e8083
DATA expconst<>+156(SB)/4, $0xb95e8083
DATA expconst<>+160(SB)/4, $0x39506967
DATA expconst<>+164(SB)/4, $0x39506967
DATA expconst<>+168(SB)/4, $0x39506967
DATA expconst<>+172(SB)/4, $0x39506967
DATA expconst<>+176(SB)/4, $0x39506967
DATA expconst<>+180(SB)/4, $0x39506967
DATA expconst<>+184(SB)/4, $0x39506967
DATA expconst<>+188(SB)/4, $0x39506967
DATA expconst<>+192(SB)/4, $0x3ab743ce
DATA expconst<>+196(SB)/4, $0x3ab743ce
DATA expconst<>+200(SB)/4, $0x3ab743ce
DATA expconst<>+204(SB)/4, $0x3ab743ce
DATA expconst<>+208(SB)/4, $0x3ab743ce
DATA expconst<>+212(SB)/4, $0x3ab743ce
DATA expconst<>+216(SB)/4, $0x3ab743ce
DATA expconst<>+220(SB)/4, $0x3ab743ce
DATA expconst<>+224(SB)/4, $0x3c088908
DATA expconst<>+228(SB)/4, $0x3c088908
DATA expconst<>+232(SB)/4, $0x3c088908
DATA expconst<>+236(SB)/4, $0x3c088908
DATA expconst<>+240(SB)/4, $0x3c088908
DATA expconst<>+244(SB)/4, $0x3c088908
DATA expconst<>+248(SB)/4, $0x3c088908
DATA expconst<>+252(SB)/4, $0x3c088908
DATA expconst<>+256(SB)/4, $0x3d2aa9c1
DATA expconst<>+260(SB)/4, $0x3d2aa9c1
DATA expconst<>+264(SB)/4, $0x3d2aa9c1
DATA expconst<>+268(SB)/4, $0x3d2aa9c1
DATA expconst<>+272(SB)/4, $0x3d2aa9c1
DATA expconst<>+276(SB)/4, $0x3d2aa9c1
DATA expconst<>+280(SB)/4, $0x3d2aa9c1
DATA expconst<>+284(SB)/4, $0x3d2aa9c1
DATA expconst<>+288(SB)/4, $0x3e2aaaaa
DATA expconst<>+292(SB)/4, $0x3e2aaaaa
DATA expconst<>+296(SB)/4, $0x3e2aaaaa
DATA expconst<>+300(SB)/4, $0x3e2aaaaa
DATA expconst<>+304(SB)/4, $0x3e2aaaaa
DATA expconst<>+308(SB)/4, $0x3e2aaaaa
DATA expconst<>+312(SB)/4, $0x3e2aaaaa
DATA expconst<>+316(SB)/4, $0x3e2aaaaa
DATA expconst<>+320(SB)/4, $0x3f000000
DATA expconst<>+324(SB)/4, $0x3f000000
DATA expconst<>+328(SB)/4, $0x3f000000
DATA expconst<>+332(SB)/4, $0x3f000000
DATA expconst<>+336(SB)/4, $0x3f000000
DATA expconst<>+340(SB)/4, $0x3f000000
DATA expconst<>+344(SB)/4, $0x3f000000
DATA expconst<>+348(SB)/4, $0x3f000000
DATA expconst<>+352(SB)/4, $0x3f800000
DATA expconst<>+356(SB)/4, $0x3f800000
DATA expconst<>+360(SB)/4, $0x3f800000
DATA expconst<>+364(SB)/4, $0x3f800000
DATA expconst<>+368(SB)/4, $0x3f800000
DATA expconst<>+372(SB)/4, $0x3f800000
DATA expconst<>+376(SB)/4, $0x3f800000
DATA expconst<>+380(SB)/4, $0x3f800000
GLOBL expconst<>(SB), RODATA|NOPTR, $384

// EXPV(x, t1, t2, t3, out, t5, shift, lo, magic, log2e, ln2hi, ln2lo, one,
// p0, p1, p2, p3, p4, p5) sets out = exp(max(x − shift, lo)) (expNeg's
// algorithm: lo = −87, round-to-integer by the 1.5·2²³ magic, ln 2 in two
// parts, a degree-6 polynomial p0…p5, then the exponent bits); it
// clobbers x, t1, t2, t3 and t5. The constants are registers or memory
// operands: the AVX2 kernel passes Y registers and expconst<> entries, the
// AVX-512 one Z registers, so both run the same instructions in the same
// order and each lane gets the same bits.
#define EXPV(x, t1, t2, t3, out, t5, shift, lo, magic, log2e, ln2hi, ln2lo, one, p0, p1, p2, p3, p4, p5) \
	VSUBPS shift, x, x; \
	VMAXPS lo, x, x; \
	VMOVAPS magic, t1; \
	VFMADD231PS log2e, x, t1; \
	VSUBPS magic, t1, t2; \
	VPSUBD magic, t1, t3; \
	VFNMADD231PS ln2hi, t2, x; \
	VFNMADD231PS ln2lo, t2, x; \
	VMOVUPS p0, out; \
	VFMADD213PS p1, x, out; \
	VFMADD213PS p2, x, out; \
	VFMADD213PS p3, x, out; \
	VFMADD213PS p4, x, out; \
	VFMADD213PS p5, x, out; \
	VMULPS x, x, t5; \
	VFMADD213PS x, t5, out; \
	VADDPS one, out, out; \
	VPSLLD $23, t3, t3; \
	VPADDD one, t3, t3; \
	VMULPS t3, out, out

// EXP_SHIFTED_Y0 sets Y4 = exp(max(Y0 − Y15, −87)) with the constants Y9…Y14
// loaded as in expLanes8AVX2; it clobbers Y0…Y5.
#define EXP_SHIFTED_Y0 EXPV(Y0, Y1, Y2, Y3, Y4, Y5, Y15, Y14, Y12, Y13, Y11, Y10, Y9, expconst<>+160(SB), expconst<>+192(SB), expconst<>+224(SB), expconst<>+256(SB), expconst<>+288(SB), expconst<>+320(SB))

// Lane-wise softmax helpers for the fused attention: each works on a strip of
// 8 lanes (one YMM register) down rows that lie stride bytes apart, with one
// shift and one sum per lane. The exponential is expNeg's algorithm on the
// constants expconst<> above.

// func expLanes8AVX2(x *float32, rows, stride int, shift, sums *float32)
// For r < rows, lanes l < 8: v = x[r·stride/4 + l]; x[...] = exp(max(v − shift[l], −87));
// sums[l] = Σ_r of the new values (float32, in row order).
TEXT ·expLanes8AVX2(SB), NOSPLIT, $0-40
	MOVQ x+0(FP), SI
	MOVQ rows+8(FP), CX
	MOVQ stride+16(FP), DX
	MOVQ shift+24(FP), AX
	MOVQ sums+32(FP), BX
	VMOVUPS (AX), Y15
	VMOVUPS expconst<>+0(SB), Y14
	VMOVUPS expconst<>+32(SB), Y13
	VMOVUPS expconst<>+64(SB), Y12
	VMOVUPS expconst<>+96(SB), Y11
	VMOVUPS expconst<>+128(SB), Y10
	VMOVUPS expconst<>+352(SB), Y9
	VXORPS Y8, Y8, Y8
	TESTQ CX, CX
	JZ edone
eloop:
	VMOVUPS (SI), Y0
	EXP_SHIFTED_Y0
	VMOVUPS Y4, (SI)
	VADDPS Y4, Y8, Y8
	ADDQ DX, SI
	DECQ CX
	JNZ eloop
edone:
	VMOVUPS Y8, (BX)
	VZEROUPPER
	RET

// func maxLanes8AVX2(x *float32, rows, stride int, mx *float32)
// mx[l] = max(mx[l], max_r x[r·stride/4 + l]) for lanes l < 8.
TEXT ·maxLanes8AVX2(SB), NOSPLIT, $0-32
	MOVQ x+0(FP), SI
	MOVQ rows+8(FP), CX
	MOVQ stride+16(FP), DX
	MOVQ mx+24(FP), BX
	VMOVUPS (BX), Y0
	TESTQ CX, CX
	JZ mdone
mloop8:
	VMAXPS (SI), Y0, Y0
	ADDQ DX, SI
	DECQ CX
	JNZ mloop8
mdone:
	VMOVUPS Y0, (BX)
	VZEROUPPER
	RET

// EXPZ(x, t1, t2, t3, out, t5, shift) is EXPV on 16 lanes with the
// constants as loaded by expLanes32AVX512 (Z9…Z14, Z17…Z22).
#define EXPZ(x, t1, t2, t3, out, t5, shift) EXPV(x, t1, t2, t3, out, t5, shift, Z14, Z12, Z13, Z11, Z10, Z9, Z17, Z18, Z19, Z20, Z21, Z22)

// func expLanes32AVX512(x *float32, rows, stride int, shift, sums *float32)
// expLanes8AVX2 on 32 lanes (two ZMM strips, computed interleaved).
TEXT ·expLanes32AVX512(SB), NOSPLIT, $0-40
	MOVQ x+0(FP), SI
	MOVQ rows+8(FP), CX
	MOVQ stride+16(FP), DX
	MOVQ shift+24(FP), AX
	MOVQ sums+32(FP), BX
	VMOVUPS (AX), Z15
	VMOVUPS 64(AX), Z16
	VBROADCASTSS expconst<>+0(SB), Z14
	VBROADCASTSS expconst<>+32(SB), Z13
	VBROADCASTSS expconst<>+64(SB), Z12
	VBROADCASTSS expconst<>+96(SB), Z11
	VBROADCASTSS expconst<>+128(SB), Z10
	VBROADCASTSS expconst<>+352(SB), Z9
	VBROADCASTSS expconst<>+160(SB), Z17
	VBROADCASTSS expconst<>+192(SB), Z18
	VBROADCASTSS expconst<>+224(SB), Z19
	VBROADCASTSS expconst<>+256(SB), Z20
	VBROADCASTSS expconst<>+288(SB), Z21
	VBROADCASTSS expconst<>+320(SB), Z22
	VPXORD Z8, Z8, Z8
	VPXORD Z29, Z29, Z29
	TESTQ CX, CX
	JZ ezdone
ezloop:
	VMOVUPS (SI), Z0
	VMOVUPS 64(SI), Z23
	EXPZ(Z0, Z1, Z2, Z3, Z4, Z5, Z15)
	EXPZ(Z23, Z24, Z25, Z26, Z27, Z28, Z16)
	VMOVUPS Z4, (SI)
	VMOVUPS Z27, 64(SI)
	VADDPS Z4, Z8, Z8
	VADDPS Z27, Z29, Z29
	ADDQ DX, SI
	DECQ CX
	JNZ ezloop
ezdone:
	VMOVUPS Z8, (BX)
	VMOVUPS Z29, 64(BX)
	VZEROUPPER
	RET

// func maxLanes32AVX512(x *float32, rows, stride int, mx *float32)
// maxLanes8AVX2 on 32 lanes (two ZMM strips).
TEXT ·maxLanes32AVX512(SB), NOSPLIT, $0-32
	MOVQ x+0(FP), SI
	MOVQ rows+8(FP), CX
	MOVQ stride+16(FP), DX
	MOVQ mx+24(FP), BX
	VMOVUPS (BX), Z0
	VMOVUPS 64(BX), Z1
	TESTQ CX, CX
	JZ mzdone
mzloop:
	VMAXPS (SI), Z0, Z0
	VMAXPS 64(SI), Z1, Z1
	ADDQ DX, SI
	DECQ CX
	JNZ mzloop
mzdone:
	VMOVUPS Z0, (BX)
	VMOVUPS Z1, 64(BX)
	VZEROUPPER
	RET

// func mulLanesAVX2(row, f *float32, n int)
// row[l] *= f[l] for l < n (a positive multiple of 8).
TEXT ·mulLanesAVX2(SB), NOSPLIT, $0-24
	MOVQ row+0(FP), DI
	MOVQ f+8(FP), SI
	MOVQ n+16(FP), CX
	XORQ AX, AX
mulloop:
	VMOVUPS (DI)(AX*4), Y0
	VMULPS (SI)(AX*4), Y0, Y0
	VMOVUPS Y0, (DI)(AX*4)
	ADDQ $8, AX
	CMPQ AX, CX
	JL mulloop
	VZEROUPPER
	RET
