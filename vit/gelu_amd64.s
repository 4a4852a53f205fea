//go:build amd64 && !noasm

#include "textflag.h"

// Activation kernels: geluErf and silu (see gelu.go for the algorithms and
// their error) over rows, 8 values per AVX2 vector or 16 per AVX-512
// vector. Every step is the one the Go code takes, fused multiply-adds
// where it calls actFMA, so the results are bit-identical to it.
//
// Constant tables: each entry is one float32 repeated 8 times (a YMM
// memory operand; the AVX-512 code broadcasts the first copy).

// geluconst: absmask, 6 (cut-off), √(log₂e/2), 1.5·2²³, 1.0, then the 2^f
// polynomial e6…e1, the numerator p2, p1, 0.5 and the denominator q4…q1
// of R(s).
DATA geluconst<>+0(SB)/4, $0x7fffffff
DATA geluconst<>+4(SB)/4, $0x7fffffff
DATA geluconst<>+8(SB)/4, $0x7fffffff
DATA geluconst<>+12(SB)/4, $0x7fffffff
DATA geluconst<>+16(SB)/4, $0x7fffffff
DATA geluconst<>+20(SB)/4, $0x7fffffff
DATA geluconst<>+24(SB)/4, $0x7fffffff
DATA geluconst<>+28(SB)/4, $0x7fffffff
DATA geluconst<>+32(SB)/4, $0x40c00000
DATA geluconst<>+36(SB)/4, $0x40c00000
DATA geluconst<>+40(SB)/4, $0x40c00000
DATA geluconst<>+44(SB)/4, $0x40c00000
DATA geluconst<>+48(SB)/4, $0x40c00000
DATA geluconst<>+52(SB)/4, $0x40c00000
DATA geluconst<>+56(SB)/4, $0x40c00000
DATA geluconst<>+60(SB)/4, $0x40c00000
DATA geluconst<>+64(SB)/4, $0x3f596d27
DATA geluconst<>+68(SB)/4, $0x3f596d27
DATA geluconst<>+72(SB)/4, $0x3f596d27
DATA geluconst<>+76(SB)/4, $0x3f596d27
DATA geluconst<>+80(SB)/4, $0x3f596d27
DATA geluconst<>+84(SB)/4, $0x3f596d27
DATA geluconst<>+88(SB)/4, $0x3f596d27
DATA geluconst<>+92(SB)/4, $0x3f596d27
DATA geluconst<>+96(SB)/4, $0x4b400000
DATA geluconst<>+100(SB)/4, $0x4b400000
DATA geluconst<>+104(SB)/4, $0x4b400000
DATA geluconst<>+108(SB)/4, $0x4b400000
DATA geluconst<>+112(SB)/4, $0x4b400000
DATA geluconst<>+116(SB)/4, $0x4b400000
DATA geluconst<>+120(SB)/4, $0x4b400000
DATA geluconst<>+124(SB)/4, $0x4b400000
DATA geluconst<>+128(SB)/4, $0x3f800000
DATA geluconst<>+132(SB)/4, $0x3f800000
DATA geluconst<>+136(SB)/4, $0x3f800000
DATA geluconst<>+140(SB)/4, $0x3f800000
DATA geluconst<>+144(SB)/4, $0x3f800000
DATA geluconst<>+148(SB)/4, $0x3f800000
DATA geluconst<>+152(SB)/4, $0x3f800000
DATA geluconst<>+156(SB)/4, $0x3f800000
DATA geluconst<>+160(SB)/4, $0x392385a4
DATA geluconst<>+164(SB)/4, $0x392385a4
DATA geluconst<>+168(SB)/4, $0x392385a4
DATA geluconst<>+172(SB)/4, $0x392385a4
DATA geluconst<>+176(SB)/4, $0x392385a4
DATA geluconst<>+180(SB)/4, $0x392385a4
DATA geluconst<>+184(SB)/4, $0x392385a4
DATA geluconst<>+188(SB)/4, $0x392385a4
DATA geluconst<>+192(SB)/4, $0x3aafb93b
DATA geluconst<>+196(SB)/4, $0x3aafb93b
DATA geluconst<>+200(SB)/4, $0x3aafb93b
DATA geluconst<>+204(SB)/4, $0x3aafb93b
DATA geluconst<>+208(SB)/4, $0x3aafb93b
DATA geluconst<>+212(SB)/4, $0x3aafb93b
DATA geluconst<>+216(SB)/4, $0x3aafb93b
DATA geluconst<>+220(SB)/4, $0x3aafb93b
DATA geluconst<>+224(SB)/4, $0x3c1d9387
DATA geluconst<>+228(SB)/4, $0x3c1d9387
DATA geluconst<>+232(SB)/4, $0x3c1d9387
DATA geluconst<>+236(SB)/4, $0x3c1d9387
DATA geluconst<>+240(SB)/4, $0x3c1d9387
DATA geluconst<>+244(SB)/4, $0x3c1d9387
DATA geluconst<>+248(SB)/4, $0x3c1d9387
DATA geluconst<>+252(SB)/4, $0x3c1d9387
DATA geluconst<>+256(SB)/4, $0x3d635739
DATA geluconst<>+260(SB)/4, $0x3d635739
DATA geluconst<>+264(SB)/4, $0x3d635739
DATA geluconst<>+268(SB)/4, $0x3d635739
DATA geluconst<>+272(SB)/4, $0x3d635739
DATA geluconst<>+276(SB)/4, $0x3d635739
DATA geluconst<>+280(SB)/4, $0x3d635739
DATA geluconst<>+284(SB)/4, $0x3d635739
DATA geluconst<>+288(SB)/4, $0x3e75fdf1
DATA geluconst<>+292(SB)/4, $0x3e75fdf1
DATA geluconst<>+296(SB)/4, $0x3e75fdf1
DATA geluconst<>+300(SB)/4, $0x3e75fdf1
DATA geluconst<>+304(SB)/4, $0x3e75fdf1
DATA geluconst<>+308(SB)/4, $0x3e75fdf1
DATA geluconst<>+312(SB)/4, $0x3e75fdf1
DATA geluconst<>+316(SB)/4, $0x3e75fdf1
DATA geluconst<>+320(SB)/4, $0x3f317219
DATA geluconst<>+324(SB)/4, $0x3f317219
DATA geluconst<>+328(SB)/4, $0x3f317219
DATA geluconst<>+332(SB)/4, $0x3f317219
DATA geluconst<>+336(SB)/4, $0x3f317219
DATA geluconst<>+340(SB)/4, $0x3f317219
DATA geluconst<>+344(SB)/4, $0x3f317219
DATA geluconst<>+348(SB)/4, $0x3f317219
DATA geluconst<>+352(SB)/4, $0x3d138c13
DATA geluconst<>+356(SB)/4, $0x3d138c13
DATA geluconst<>+360(SB)/4, $0x3d138c13
DATA geluconst<>+364(SB)/4, $0x3d138c13
DATA geluconst<>+368(SB)/4, $0x3d138c13
DATA geluconst<>+372(SB)/4, $0x3d138c13
DATA geluconst<>+376(SB)/4, $0x3d138c13
DATA geluconst<>+380(SB)/4, $0x3d138c13
DATA geluconst<>+384(SB)/4, $0x3e417f3d
DATA geluconst<>+388(SB)/4, $0x3e417f3d
DATA geluconst<>+392(SB)/4, $0x3e417f3d
DATA geluconst<>+396(SB)/4, $0x3e417f3d
DATA geluconst<>+400(SB)/4, $0x3e417f3d
DATA geluconst<>+404(SB)/4, $0x3e417f3d
DATA geluconst<>+408(SB)/4, $0x3e417f3d
DATA geluconst<>+412(SB)/4, $0x3e417f3d
DATA geluconst<>+416(SB)/4, $0x3f000000
DATA geluconst<>+420(SB)/4, $0x3f000000
DATA geluconst<>+424(SB)/4, $0x3f000000
DATA geluconst<>+428(SB)/4, $0x3f000000
DATA geluconst<>+432(SB)/4, $0x3f000000
DATA geluconst<>+436(SB)/4, $0x3f000000
DATA geluconst<>+440(SB)/4, $0x3f000000
DATA geluconst<>+444(SB)/4, $0x3f000000
DATA geluconst<>+448(SB)/4, $0x39af4520
DATA geluconst<>+452(SB)/4, $0x39af4520
DATA geluconst<>+456(SB)/4, $0x39af4520
DATA geluconst<>+460(SB)/4, $0x39af4520
DATA geluconst<>+464(SB)/4, $0x39af4520
DATA geluconst<>+468(SB)/4, $0x39af4520
DATA geluconst<>+472(SB)/4, $0x39af4520
DATA geluconst<>+476(SB)/4, $0x39af4520
DATA geluconst<>+480(SB)/4, $0x3dae9aa4
DATA geluconst<>+484(SB)/4, $0x3dae9aa4
DATA geluconst<>+488(SB)/4, $0x3dae9aa4
DATA geluconst<>+492(SB)/4, $0x3dae9aa4
DATA geluconst<>+496(SB)/4, $0x3dae9aa4
DATA geluconst<>+500(SB)/4, $0x3dae9aa4
DATA geluconst<>+504(SB)/4, $0x3dae9aa4
DATA geluconst<>+508(SB)/4, $0x3dae9aa4
DATA geluconst<>+512(SB)/4, $0x3f029ad5
DATA geluconst<>+516(SB)/4, $0x3f029ad5
DATA geluconst<>+520(SB)/4, $0x3f029ad5
DATA geluconst<>+524(SB)/4, $0x3f029ad5
DATA geluconst<>+528(SB)/4, $0x3f029ad5
DATA geluconst<>+532(SB)/4, $0x3f029ad5
DATA geluconst<>+536(SB)/4, $0x3f029ad5
DATA geluconst<>+540(SB)/4, $0x3f029ad5
DATA geluconst<>+544(SB)/4, $0x3f9680f9
DATA geluconst<>+548(SB)/4, $0x3f9680f9
DATA geluconst<>+552(SB)/4, $0x3f9680f9
DATA geluconst<>+556(SB)/4, $0x3f9680f9
DATA geluconst<>+560(SB)/4, $0x3f9680f9
DATA geluconst<>+564(SB)/4, $0x3f9680f9
DATA geluconst<>+568(SB)/4, $0x3f9680f9
DATA geluconst<>+572(SB)/4, $0x3f9680f9
GLOBL geluconst<>(SB), RODATA|NOPTR, $576

// siluconst: −88 (input clamp), −87 (exponent clamp), log₂e, 1.5·2²³,
// ln2 (high part), ln2 (low part), 1.0, then the Cephes polynomial c0…c5
// of expNeg.

DATA siluconst<>+0(SB)/4, $0xc2b00000
DATA siluconst<>+4(SB)/4, $0xc2b00000
DATA siluconst<>+8(SB)/4, $0xc2b00000
DATA siluconst<>+12(SB)/4, $0xc2b00000
DATA siluconst<>+16(SB)/4, $0xc2b00000
DATA siluconst<>+20(SB)/4, $0xc2b00000
DATA siluconst<>+24(SB)/4, $0xc2b00000
DATA siluconst<>+28(SB)/4, $0xc2b00000
DATA siluconst<>+32(SB)/4, $0xc2ae0000
DATA siluconst<>+36(SB)/4, $0xc2ae0000
DATA siluconst<>+40(SB)/4, $0xc2ae0000
DATA siluconst<>+44(SB)/4, $0xc2ae0000
DATA siluconst<>+48(SB)/4, $0xc2ae0000
DATA siluconst<>+52(SB)/4, $0xc2ae0000
DATA siluconst<>+56(SB)/4, $0xc2ae0000
DATA siluconst<>+60(SB)/4, $0xc2ae0000
DATA siluconst<>+64(SB)/4, $0x3fb8aa3b
DATA siluconst<>+68(SB)/4, $0x3fb8aa3b
DATA siluconst<>+72(SB)/4, $0x3fb8aa3b
DATA siluconst<>+76(SB)/4, $0x3fb8aa3b
DATA siluconst<>+80(SB)/4, $0x3fb8aa3b
DATA siluconst<>+84(SB)/4, $0x3fb8aa3b
DATA siluconst<>+88(SB)/4, $0x3fb8aa3b
DATA siluconst<>+92(SB)/4, $0x3fb8aa3b
DATA siluconst<>+96(SB)/4, $0x4b400000
DATA siluconst<>+100(SB)/4, $0x4b400000
DATA siluconst<>+104(SB)/4, $0x4b400000
DATA siluconst<>+108(SB)/4, $0x4b400000
DATA siluconst<>+112(SB)/4, $0x4b400000
DATA siluconst<>+116(SB)/4, $0x4b400000
DATA siluconst<>+120(SB)/4, $0x4b400000
DATA siluconst<>+124(SB)/4, $0x4b400000
DATA siluconst<>+128(SB)/4, $0x3f318000
DATA siluconst<>+132(SB)/4, $0x3f318000
DATA siluconst<>+136(SB)/4, $0x3f318000
DATA siluconst<>+140(SB)/4, $0x3f318000
DATA siluconst<>+144(SB)/4, $0x3f318000
DATA siluconst<>+148(SB)/4, $0x3f318000
DATA siluconst<>+152(SB)/4, $0x3f318000
DATA siluconst<>+156(SB)/4, $0x3f318000
DATA siluconst<>+160(SB)/4, $0xb95e8083
DATA siluconst<>+164(SB)/4, $0xb95e8083
DATA siluconst<>+168(SB)/4, $0xb95e8083
DATA siluconst<>+172(SB)/4, $0xb95e8083
DATA siluconst<>+176(SB)/4, $0xb95e8083
DATA siluconst<>+180(SB)/4, $0xb95e8083
DATA siluconst<>+184(SB)/4, $0xb95e8083
DATA siluconst<>+188(SB)/4, $0xb95e8083
DATA siluconst<>+192(SB)/4, $0x3f800000
DATA siluconst<>+196(SB)/4, $0x3f800000
DATA siluconst<>+200(SB)/4, $0x3f800000
DATA siluconst<>+204(SB)/4, $0x3f800000
DATA siluconst<>+208(SB)/4, $0x3f800000
DATA siluconst<>+212(SB)/4, $0x3f800000
DATA siluconst<>+216(SB)/4, $0x3f800000
DATA siluconst<>+220(SB)/4, $0x3f800000
DATA siluconst<>+224(SB)/4, $0x39506967
DATA siluconst<>+228(SB)/4, $0x39506967
DATA siluconst<>+232(SB)/4, $0x39506967
DATA siluconst<>+236(SB)/4, $0x39506967
DATA siluconst<>+240(SB)/4, $0x39506967
DATA siluconst<>+244(SB)/4, $0x39506967
DATA siluconst<>+248(SB)/4, $0x39506967
DATA siluconst<>+252(SB)/4, $0x39506967
DATA siluconst<>+256(SB)/4, $0x3ab743ce
DATA siluconst<>+260(SB)/4, $0x3ab743ce
DATA siluconst<>+264(SB)/4, $0x3ab743ce
DATA siluconst<>+268(SB)/4, $0x3ab743ce
DATA siluconst<>+272(SB)/4, $0x3ab743ce
DATA siluconst<>+276(SB)/4, $0x3ab743ce
DATA siluconst<>+280(SB)/4, $0x3ab743ce
DATA siluconst<>+284(SB)/4, $0x3ab743ce
DATA siluconst<>+288(SB)/4, $0x3c088908
DATA siluconst<>+292(SB)/4, $0x3c088908
DATA siluconst<>+296(SB)/4, $0x3c088908
DATA siluconst<>+300(SB)/4, $0x3c088908
DATA siluconst<>+304(SB)/4, $0x3c088908
DATA siluconst<>+308(SB)/4, $0x3c088908
DATA siluconst<>+312(SB)/4, $0x3c088908
DATA siluconst<>+316(SB)/4, $0x3c088908
DATA siluconst<>+320(SB)/4, $0x3d2aa9c1
DATA siluconst<>+324(SB)/4, $0x3d2aa9c1
DATA siluconst<>+328(SB)/4, $0x3d2aa9c1
DATA siluconst<>+332(SB)/4, $0x3d2aa9c1
DATA siluconst<>+336(SB)/4, $0x3d2aa9c1
DATA siluconst<>+340(SB)/4, $0x3d2aa9c1
DATA siluconst<>+344(SB)/4, $0x3d2aa9c1
DATA siluconst<>+348(SB)/4, $0x3d2aa9c1
DATA siluconst<>+352(SB)/4, $0x3e2aaaaa
DATA siluconst<>+356(SB)/4, $0x3e2aaaaa
DATA siluconst<>+360(SB)/4, $0x3e2aaaaa
DATA siluconst<>+364(SB)/4, $0x3e2aaaaa
DATA siluconst<>+368(SB)/4, $0x3e2aaaaa
DATA siluconst<>+372(SB)/4, $0x3e2aaaaa
DATA siluconst<>+376(SB)/4, $0x3e2aaaaa
DATA siluconst<>+380(SB)/4, $0x3e2aaaaa
DATA siluconst<>+384(SB)/4, $0x3f000000
DATA siluconst<>+388(SB)/4, $0x3f000000
DATA siluconst<>+392(SB)/4, $0x3f000000
DATA siluconst<>+396(SB)/4, $0x3f000000
DATA siluconst<>+400(SB)/4, $0x3f000000
DATA siluconst<>+404(SB)/4, $0x3f000000
DATA siluconst<>+408(SB)/4, $0x3f000000
DATA siluconst<>+412(SB)/4, $0x3f000000
GLOBL siluconst<>(SB), RODATA|NOPTR, $416
// func geluAVX2(x []float32)
// x[i] = geluErf(x[i]) for the first len(x)&^7 values.
TEXT ·geluAVX2(SB), NOSPLIT, $0-24
	MOVQ x_base+0(FP), SI
	MOVQ x_len+8(FP), CX
	SHRQ $3, CX
	JZ   g2done
	VMOVUPS geluconst<>+0(SB), Y15   // absmask
	VMOVUPS geluconst<>+32(SB), Y14  // cut
	VMOVUPS geluconst<>+64(SB), Y13  // K
	VMOVUPS geluconst<>+96(SB), Y12  // magic
	VMOVUPS geluconst<>+128(SB), Y11 // 1.0
	VXORPS  Y10, Y10, Y10            // 0

g2loop:
	VMOVUPS (SI), Y0              // x
	VANDPS  Y15, Y0, Y1           // s = |x|
	VCMPPS  $0x11, Y14, Y1, Y9    // keep = s < 6 (false for NaN)
	VMINPS  Y14, Y1, Y1           // s = min(s, 6)
	VMULPS  Y13, Y1, Y2           // a = s·K
	VMOVAPS Y12, Y3
	VFNMADD231PS Y2, Y2, Y3       // t = magic − a²
	VSUBPS  Y12, Y3, Y4           // n = t − magic
	VFNMSUB231PS Y2, Y2, Y4       // f = −a² − n

	VMOVUPS geluconst<>+160(SB), Y5       // 2^f
	VFMADD213PS geluconst<>+192(SB), Y4, Y5
	VFMADD213PS geluconst<>+224(SB), Y4, Y5
	VFMADD213PS geluconst<>+256(SB), Y4, Y5
	VFMADD213PS geluconst<>+288(SB), Y4, Y5
	VFMADD213PS geluconst<>+320(SB), Y4, Y5
	VFMADD213PS Y11, Y4, Y5
	VPSLLD  $23, Y3, Y3           // 2ⁿ
	VPADDD  Y11, Y3, Y3
	VMULPS  Y3, Y5, Y5            // g = exp(−s²/2)

	VMOVUPS geluconst<>+352(SB), Y6       // numerator of R(s)
	VFMADD213PS geluconst<>+384(SB), Y1, Y6
	VFMADD213PS geluconst<>+416(SB), Y1, Y6
	VMOVUPS geluconst<>+448(SB), Y7       // denominator of R(s)
	VFMADD213PS geluconst<>+480(SB), Y1, Y7
	VFMADD213PS geluconst<>+512(SB), Y1, Y7
	VFMADD213PS geluconst<>+544(SB), Y1, Y7
	VFMADD213PS Y11, Y1, Y7
	VMULPS  Y6, Y5, Y5
	VDIVPS  Y7, Y5, Y5            // tail = g·num/den
	VANDPS  Y9, Y5, Y5            // 0 where s ≥ 6 or NaN

	VMAXPS  Y0, Y10, Y0           // relu = 0 > x ? 0 : x (NaN stays)
	VFNMADD231PS Y5, Y1, Y0       // relu − s·tail
	VMOVUPS Y0, (SI)
	ADDQ    $32, SI
	DECQ    CX
	JNZ     g2loop
	VZEROUPPER

g2done:
	RET

// func geluAVX512(x []float32)
// x[i] = geluErf(x[i]) for all of x, 16 values at a time; the last partial
// vector is loaded and stored under a mask.
TEXT ·geluAVX512(SB), NOSPLIT, $0-24
	MOVQ x_base+0(FP), SI
	MOVQ x_len+8(FP), CX
	TESTQ CX, CX
	JLE  g5done
	VBROADCASTSS geluconst<>+0(SB), Z31   // absmask
	VBROADCASTSS geluconst<>+32(SB), Z30  // cut
	VBROADCASTSS geluconst<>+64(SB), Z29  // K
	VBROADCASTSS geluconst<>+96(SB), Z28  // magic
	VBROADCASTSS geluconst<>+128(SB), Z27 // 1.0
	VPXORD       Z26, Z26, Z26            // 0
	VBROADCASTSS geluconst<>+160(SB), Z25 // e6
	VBROADCASTSS geluconst<>+192(SB), Z24
	VBROADCASTSS geluconst<>+224(SB), Z23
	VBROADCASTSS geluconst<>+256(SB), Z22
	VBROADCASTSS geluconst<>+288(SB), Z21
	VBROADCASTSS geluconst<>+320(SB), Z20 // e1
	VBROADCASTSS geluconst<>+352(SB), Z19 // p2
	VBROADCASTSS geluconst<>+384(SB), Z18 // p1
	VBROADCASTSS geluconst<>+416(SB), Z17 // 0.5
	VBROADCASTSS geluconst<>+448(SB), Z16 // q4
	VBROADCASTSS geluconst<>+480(SB), Z15
	VBROADCASTSS geluconst<>+512(SB), Z14
	VBROADCASTSS geluconst<>+544(SB), Z13 // q1

g5loop:
	CMPQ CX, $16
	JAE  g5full
	MOVL $1, AX                   // partial vector: K1 = 2^len − 1
	SHLL CX, AX
	DECL AX
	KMOVW AX, K1
	JMP  g5body

g5full:
	KXNORW K1, K1, K1

g5body:
	VMOVUPS.Z (SI), K1, Z0        // x
	VPANDD  Z31, Z0, Z1           // s = |x|
	VCMPPS  $0x11, Z30, Z1, K2    // keep = s < 6 (false for NaN)
	VMINPS  Z30, Z1, Z1           // s = min(s, 6)
	VMULPS  Z29, Z1, Z2           // a = s·K
	VMOVAPS Z28, Z3
	VFNMADD231PS Z2, Z2, Z3       // t = magic − a²
	VSUBPS  Z28, Z3, Z4           // n = t − magic
	VFNMSUB231PS Z2, Z2, Z4       // f = −a² − n

	VMOVAPS Z25, Z5               // 2^f
	VFMADD213PS Z24, Z4, Z5
	VFMADD213PS Z23, Z4, Z5
	VFMADD213PS Z22, Z4, Z5
	VFMADD213PS Z21, Z4, Z5
	VFMADD213PS Z20, Z4, Z5
	VFMADD213PS Z27, Z4, Z5
	VPSLLD  $23, Z3, Z3           // 2ⁿ
	VPADDD  Z27, Z3, Z3
	VMULPS  Z3, Z5, Z5            // g = exp(−s²/2)

	VMOVAPS Z19, Z6               // numerator of R(s)
	VFMADD213PS Z18, Z1, Z6
	VFMADD213PS Z17, Z1, Z6
	VMOVAPS Z16, Z7               // denominator of R(s)
	VFMADD213PS Z15, Z1, Z7
	VFMADD213PS Z14, Z1, Z7
	VFMADD213PS Z13, Z1, Z7
	VFMADD213PS Z27, Z1, Z7
	VMULPS  Z6, Z5, Z5
	VDIVPS  Z7, Z5, Z5            // tail = g·num/den

	VMAXPS  Z0, Z26, Z0           // relu = 0 > x ? 0 : x (NaN stays)
	VFNMADD231PS Z5, Z1, K2, Z0   // relu − s·tail where s < 6
	VMOVUPS Z0, K1, (SI)
	ADDQ    $64, SI
	SUBQ    $16, CX
	JG      g5loop
	VZEROUPPER

g5done:
	RET

// func siluMulAVX2(dst, a, b []float32)
// dst[i] = silu(a[i])·b[i] for the first len(dst)&^7 values.
TEXT ·siluMulAVX2(SB), NOSPLIT, $0-72
	MOVQ dst_base+0(FP), DI
	MOVQ dst_len+8(FP), CX
	MOVQ a_base+24(FP), SI
	MOVQ b_base+48(FP), BX
	SHRQ $3, CX
	JZ   s2done
	VMOVUPS siluconst<>+0(SB), Y15   // −88
	VMOVUPS siluconst<>+32(SB), Y14  // −87
	VMOVUPS siluconst<>+64(SB), Y13  // log₂e
	VMOVUPS siluconst<>+96(SB), Y12  // magic
	VMOVUPS siluconst<>+128(SB), Y11 // ln2 high
	VMOVUPS siluconst<>+192(SB), Y10 // 1.0
	VXORPS  Y9, Y9, Y9               // 0

s2loop:
	VMOVUPS (SI), Y0
	VMAXPS  Y0, Y15, Y0           // x = −88 > a ? −88 : a (NaN stays)
	VSUBPS  Y0, Y9, Y1            // z = −x
	VMAXPS  Y1, Y14, Y1           // z = max(z, −87)
	VMOVAPS Y12, Y2
	VFMADD231PS Y13, Y1, Y2       // t = z·log₂e + magic
	VSUBPS  Y12, Y2, Y3           // n = t − magic
	VFNMADD231PS Y11, Y3, Y1      // r = z − n·ln2hi
	VFNMADD231PS siluconst<>+160(SB), Y3, Y1 // r −= n·ln2lo

	VMOVUPS siluconst<>+224(SB), Y4       // e^r
	VFMADD213PS siluconst<>+256(SB), Y1, Y4
	VFMADD213PS siluconst<>+288(SB), Y1, Y4
	VFMADD213PS siluconst<>+320(SB), Y1, Y4
	VFMADD213PS siluconst<>+352(SB), Y1, Y4
	VFMADD213PS siluconst<>+384(SB), Y1, Y4
	VMULPS  Y1, Y1, Y5
	VFMADD213PS Y1, Y5, Y4        // p·r² + r
	VADDPS  Y10, Y4, Y4           // + 1
	VPSLLD  $23, Y2, Y2           // 2ⁿ
	VPADDD  Y10, Y2, Y2
	VMULPS  Y2, Y4, Y4            // e^z
	VADDPS  Y10, Y4, Y4           // 1 + e^z
	VDIVPS  Y4, Y0, Y0            // x/(1 + e^−x)
	VMULPS  (BX), Y0, Y0          // ·b
	VMOVUPS Y0, (DI)
	ADDQ    $32, SI
	ADDQ    $32, BX
	ADDQ    $32, DI
	DECQ    CX
	JNZ     s2loop
	VZEROUPPER

s2done:
	RET

// func siluMulAVX512(dst, a, b []float32)
// dst[i] = silu(a[i])·b[i] for all of dst, 16 values at a time; the last
// partial vector is loaded and stored under a mask.
TEXT ·siluMulAVX512(SB), NOSPLIT, $0-72
	MOVQ dst_base+0(FP), DI
	MOVQ dst_len+8(FP), CX
	MOVQ a_base+24(FP), SI
	MOVQ b_base+48(FP), BX
	TESTQ CX, CX
	JLE  s5done
	VBROADCASTSS siluconst<>+0(SB), Z31   // −88
	VBROADCASTSS siluconst<>+32(SB), Z30  // −87
	VBROADCASTSS siluconst<>+64(SB), Z29  // log₂e
	VBROADCASTSS siluconst<>+96(SB), Z28  // magic
	VBROADCASTSS siluconst<>+128(SB), Z27 // ln2 high
	VBROADCASTSS siluconst<>+160(SB), Z26 // ln2 low
	VBROADCASTSS siluconst<>+192(SB), Z25 // 1.0
	VPXORD       Z24, Z24, Z24            // 0
	VBROADCASTSS siluconst<>+224(SB), Z23 // c0
	VBROADCASTSS siluconst<>+256(SB), Z22
	VBROADCASTSS siluconst<>+288(SB), Z21
	VBROADCASTSS siluconst<>+320(SB), Z20
	VBROADCASTSS siluconst<>+352(SB), Z19
	VBROADCASTSS siluconst<>+384(SB), Z18 // c5

s5loop:
	CMPQ CX, $16
	JAE  s5full
	MOVL $1, AX                   // partial vector: K1 = 2^len − 1
	SHLL CX, AX
	DECL AX
	KMOVW AX, K1
	JMP  s5body

s5full:
	KXNORW K1, K1, K1

s5body:
	VMOVUPS.Z (SI), K1, Z0
	VMOVUPS.Z (BX), K1, Z6
	VMAXPS  Z0, Z31, Z0           // x = −88 > a ? −88 : a (NaN stays)
	VSUBPS  Z0, Z24, Z1           // z = −x
	VMAXPS  Z1, Z30, Z1           // z = max(z, −87)
	VMOVAPS Z28, Z2
	VFMADD231PS Z29, Z1, Z2       // t = z·log₂e + magic
	VSUBPS  Z28, Z2, Z3           // n = t − magic
	VFNMADD231PS Z27, Z3, Z1      // r = z − n·ln2hi
	VFNMADD231PS Z26, Z3, Z1      // r −= n·ln2lo

	VMOVAPS Z23, Z4               // e^r
	VFMADD213PS Z22, Z1, Z4
	VFMADD213PS Z21, Z1, Z4
	VFMADD213PS Z20, Z1, Z4
	VFMADD213PS Z19, Z1, Z4
	VFMADD213PS Z18, Z1, Z4
	VMULPS  Z1, Z1, Z5
	VFMADD213PS Z1, Z5, Z4        // p·r² + r
	VADDPS  Z25, Z4, Z4           // + 1
	VPSLLD  $23, Z2, Z2           // 2ⁿ
	VPADDD  Z25, Z2, Z2
	VMULPS  Z2, Z4, Z4            // e^z
	VADDPS  Z25, Z4, Z4           // 1 + e^z
	VDIVPS  Z4, Z0, Z0            // x/(1 + e^−x)
	VMULPS  Z6, Z0, Z0            // ·b
	VMOVUPS Z0, K1, (DI)
	ADDQ    $64, SI
	ADDQ    $64, BX
	ADDQ    $64, DI
	SUBQ    $16, CX
	JG      s5loop
	VZEROUPPER

s5done:
	RET
