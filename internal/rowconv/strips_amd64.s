//go:build amd64 && !noasm

#include "textflag.h"

// Register-parameterised pieces shared by the AVX2 (Y registers, 32-byte
// vectors) and AVX-512 (Z registers, 64-byte vectors) kernels below. Four
// accumulators A0…A3 hold one strip of 4 vectors; T is the broadcast
// temporary; W is the vector width in bytes.

// TAP(row, k, v, T, A0, A1, A2, A3, W): one 3×3 tap: broadcast the weight
// at BX+k·4 and add its product with the strip of the row from column v.
#define TAP(row, k, v, T, A0, A1, A2, A3, W) \
	VBROADCASTSS ((k)*4)(BX), T \
	VFMADD231PS ((v)*4)(row), T, A0 \
	VFMADD231PS ((v)*4+(W))(row), T, A1 \
	VFMADD231PS ((v)*4+2*(W))(row), T, A2 \
	VFMADD231PS ((v)*4+3*(W))(row), T, A3

// TAPS9(row, T, A0, A1, A2, A3, W): the nine taps of one input channel,
// its three rows R9 bytes apart from row (which is advanced).
#define TAPS9(row, T, A0, A1, A2, A3, W) \
	TAP(row, 0, 0, T, A0, A1, A2, A3, W) \
	TAP(row, 1, 1, T, A0, A1, A2, A3, W) \
	TAP(row, 2, 2, T, A0, A1, A2, A3, W) \
	ADDQ R9, row \
	TAP(row, 3, 0, T, A0, A1, A2, A3, W) \
	TAP(row, 4, 1, T, A0, A1, A2, A3, W) \
	TAP(row, 5, 2, T, A0, A1, A2, A3, W) \
	ADDQ R9, row \
	TAP(row, 6, 0, T, A0, A1, A2, A3, W) \
	TAP(row, 7, 1, T, A0, A1, A2, A3, W) \
	TAP(row, 8, 2, T, A0, A1, A2, A3, W)

// INIT4(B, A0, A1, A2, A3): every accumulator = B.
#define INIT4(B, A0, A1, A2, A3) \
	VMOVAPS B, A0 \
	VMOVAPS B, A1 \
	VMOVAPS B, A2 \
	VMOVAPS B, A3

// RELU4(Zr, A0, A1, A2, A3): (0 > x) ? 0 : x with Zr = 0, so NaN and −0
// pass.
#define RELU4(Zr, A0, A1, A2, A3) \
	VMAXPS A0, Zr, A0 \
	VMAXPS A1, Zr, A1 \
	VMAXPS A2, Zr, A2 \
	VMAXPS A3, Zr, A3

// STORE4(p, W, A0, A1, A2, A3): the strip to p.
#define STORE4(p, W, A0, A1, A2, A3) \
	VMOVUPS A0, (p) \
	VMOVUPS A1, (W)(p) \
	VMOVUPS A2, 2*(W)(p) \
	VMOVUPS A3, 3*(W)(p)

// func conv3StripsAVX2(dst, src *float32, chStride, rowStride, nch int, w *float32, bias float32, nstrips int, relu int)
// One strip of 4 vectors per iteration; strides are in floats; nch and
// nstrips are positive.
TEXT ·conv3StripsAVX2(SB), NOSPLIT, $0-72
	MOVQ dst+0(FP), DI
	MOVQ src+8(FP), SI
	MOVQ chStride+16(FP), R8
	SHLQ $2, R8
	MOVQ rowStride+24(FP), R9
	SHLQ $2, R9
	MOVQ nch+32(FP), R10
	MOVQ w+40(FP), R11
	VBROADCASTSS bias+48(FP), Y15
	MOVQ nstrips+56(FP), R12
	MOVQ relu+64(FP), R13
	VXORPS Y14, Y14, Y14

strip:
	INIT4(Y15, Y0, Y1, Y2, Y3)
	MOVQ SI, AX  // channel's first row
	MOVQ R11, BX // channel's weights
	MOVQ R10, CX

channel:
	MOVQ AX, DX
	TAPS9(DX, Y4, Y0, Y1, Y2, Y3, 32)
	ADDQ $36, BX
	ADDQ R8, AX
	DECQ CX
	JNZ  channel

	TESTQ R13, R13
	JZ    store
	RELU4(Y14, Y0, Y1, Y2, Y3)

store:
	STORE4(DI, 32, Y0, Y1, Y2, Y3)
	ADDQ $128, DI
	ADDQ $128, SI
	DECQ R12
	JNZ  strip
	VZEROUPPER
	RET

// func conv3StripsAVX512(dst, src *float32, chStride, rowStride, nch int, w *float32, bias float32, nstrips int, relu int)
// One strip of 4 vectors per iteration; strides are in floats; nch and
// nstrips are positive.
TEXT ·conv3StripsAVX512(SB), NOSPLIT, $0-72
	MOVQ dst+0(FP), DI
	MOVQ src+8(FP), SI
	MOVQ chStride+16(FP), R8
	SHLQ $2, R8
	MOVQ rowStride+24(FP), R9
	SHLQ $2, R9
	MOVQ nch+32(FP), R10
	MOVQ w+40(FP), R11
	VBROADCASTSS bias+48(FP), Z15
	MOVQ nstrips+56(FP), R12
	MOVQ relu+64(FP), R13
	VPXORD Z14, Z14, Z14

stripz:
	INIT4(Z15, Z0, Z1, Z2, Z3)
	MOVQ SI, AX  // channel's first row
	MOVQ R11, BX // channel's weights
	MOVQ R10, CX

channelz:
	MOVQ AX, DX
	TAPS9(DX, Z4, Z0, Z1, Z2, Z3, 64)
	ADDQ $36, BX
	ADDQ R8, AX
	DECQ CX
	JNZ  channelz

	TESTQ R13, R13
	JZ    storez
	RELU4(Z14, Z0, Z1, Z2, Z3)

storez:
	STORE4(DI, 64, Z0, Z1, Z2, Z3)
	ADDQ $256, DI
	ADDQ $256, SI
	DECQ R12
	JNZ  stripz
	VZEROUPPER
	RET

// func conv3x1MultiAVX2(dst, src *float32, dstStride, rowStride, nout int, w, bias *float32, nstrips int, relu int)
// For o < nout: the one-channel strip kernel with weights w[o·9:] and bias
// bias[o] into dst + o·dstStride (strides in floats).
TEXT ·conv3x1MultiAVX2(SB), NOSPLIT, $0-72
	MOVQ dst+0(FP), DI
	MOVQ dstStride+16(FP), R8
	SHLQ $2, R8
	MOVQ rowStride+24(FP), R9
	SHLQ $2, R9
	MOVQ nout+32(FP), R10
	MOVQ w+40(FP), BX
	MOVQ bias+48(FP), R11
	MOVQ relu+64(FP), R13
	VXORPS Y14, Y14, Y14

out:
	VBROADCASTSS (R11), Y15
	MOVQ src+8(FP), SI
	MOVQ DI, AX
	MOVQ nstrips+56(FP), R12

mstrip:
	INIT4(Y15, Y0, Y1, Y2, Y3)
	MOVQ SI, DX
	TAPS9(DX, Y4, Y0, Y1, Y2, Y3, 32)
	TESTQ R13, R13
	JZ    mstore
	RELU4(Y14, Y0, Y1, Y2, Y3)

mstore:
	STORE4(AX, 32, Y0, Y1, Y2, Y3)
	ADDQ $128, AX
	ADDQ $128, SI
	DECQ R12
	JNZ  mstrip

	ADDQ $36, BX
	ADDQ $4, R11
	ADDQ R8, DI
	DECQ R10
	JNZ  out
	VZEROUPPER
	RET

// func conv3x1MultiAVX512(dst, src *float32, dstStride, rowStride, nout int, w, bias *float32, nstrips int, relu int)
// For o < nout: the one-channel strip kernel with weights w[o·9:] and bias
// bias[o] into dst + o·dstStride (strides in floats).
TEXT ·conv3x1MultiAVX512(SB), NOSPLIT, $0-72
	MOVQ dst+0(FP), DI
	MOVQ dstStride+16(FP), R8
	SHLQ $2, R8
	MOVQ rowStride+24(FP), R9
	SHLQ $2, R9
	MOVQ nout+32(FP), R10
	MOVQ w+40(FP), BX
	MOVQ bias+48(FP), R11
	MOVQ relu+64(FP), R13
	VPXORD Z14, Z14, Z14

outz:
	VBROADCASTSS (R11), Z15
	MOVQ src+8(FP), SI
	MOVQ DI, AX
	MOVQ nstrips+56(FP), R12

mstripz:
	INIT4(Z15, Z0, Z1, Z2, Z3)
	MOVQ SI, DX
	TAPS9(DX, Z4, Z0, Z1, Z2, Z3, 64)
	TESTQ R13, R13
	JZ    mstorez
	RELU4(Z14, Z0, Z1, Z2, Z3)

mstorez:
	STORE4(AX, 64, Z0, Z1, Z2, Z3)
	ADDQ $256, AX
	ADDQ $256, SI
	DECQ R12
	JNZ  mstripz

	ADDQ $36, BX
	ADDQ $4, R11
	ADDQ R8, DI
	DECQ R10
	JNZ  outz
	VZEROUPPER
	RET

// OUT16(o, A): output channel o of conv3x1Multi16AVX512 in A: bias[o],
// then its nine taps in order against the inputs Z0…Z8 (row u, shift v in
// Z(3u+v)), the weights broadcast from memory.
#define OUT16(o, A) \
	VBROADCASTSS ((o)*4)(R11), A \
	VFMADD231PS.BCST (((o)*9+0)*4)(BX), Z0, A \
	VFMADD231PS.BCST (((o)*9+1)*4)(BX), Z1, A \
	VFMADD231PS.BCST (((o)*9+2)*4)(BX), Z2, A \
	VFMADD231PS.BCST (((o)*9+3)*4)(BX), Z3, A \
	VFMADD231PS.BCST (((o)*9+4)*4)(BX), Z4, A \
	VFMADD231PS.BCST (((o)*9+5)*4)(BX), Z5, A \
	VFMADD231PS.BCST (((o)*9+6)*4)(BX), Z6, A \
	VFMADD231PS.BCST (((o)*9+7)*4)(BX), Z7, A \
	VFMADD231PS.BCST (((o)*9+8)*4)(BX), Z8, A

// func conv3x1Multi16AVX512(dst, src *float32, dstStride, rowStride int, w, bias *float32, nvec int, relu int)
// Sixteen outputs of the one-channel strip kernel (weights w[o·9:], bias
// bias[o], output o at dst + o·dstStride; strides in floats), one vector of
// 16 columns per iteration: the nine shifted inputs are loaded once for all
// sixteen outputs. Each output's operations are conv3x1MultiAVX512's.
TEXT ·conv3x1Multi16AVX512(SB), NOSPLIT, $0-64
	MOVQ dst+0(FP), DI
	MOVQ src+8(FP), SI
	MOVQ dstStride+16(FP), R8
	SHLQ $2, R8
	MOVQ rowStride+24(FP), R9
	SHLQ $2, R9
	MOVQ w+32(FP), BX
	MOVQ bias+40(FP), R11
	MOVQ nvec+48(FP), CX
	MOVQ relu+56(FP), R13
	VPXORD Z25, Z25, Z25

vec16:
	VMOVUPS (SI), Z0
	VMOVUPS 4(SI), Z1
	VMOVUPS 8(SI), Z2
	LEAQ    (SI)(R9*1), AX
	VMOVUPS (AX), Z3
	VMOVUPS 4(AX), Z4
	VMOVUPS 8(AX), Z5
	ADDQ    R9, AX
	VMOVUPS (AX), Z6
	VMOVUPS 4(AX), Z7
	VMOVUPS 8(AX), Z8
	OUT16(0, Z9)
	OUT16(1, Z10)
	OUT16(2, Z11)
	OUT16(3, Z12)
	OUT16(4, Z13)
	OUT16(5, Z14)
	OUT16(6, Z15)
	OUT16(7, Z16)
	OUT16(8, Z17)
	OUT16(9, Z18)
	OUT16(10, Z19)
	OUT16(11, Z20)
	OUT16(12, Z21)
	OUT16(13, Z22)
	OUT16(14, Z23)
	OUT16(15, Z24)
	TESTQ R13, R13
	JZ    store16
	RELU4(Z25, Z9, Z10, Z11, Z12)
	RELU4(Z25, Z13, Z14, Z15, Z16)
	RELU4(Z25, Z17, Z18, Z19, Z20)
	RELU4(Z25, Z21, Z22, Z23, Z24)

store16:
	MOVQ DI, DX
	VMOVUPS Z9, (DX)
	ADDQ    R8, DX
	VMOVUPS Z10, (DX)
	ADDQ    R8, DX
	VMOVUPS Z11, (DX)
	ADDQ    R8, DX
	VMOVUPS Z12, (DX)
	ADDQ    R8, DX
	VMOVUPS Z13, (DX)
	ADDQ    R8, DX
	VMOVUPS Z14, (DX)
	ADDQ    R8, DX
	VMOVUPS Z15, (DX)
	ADDQ    R8, DX
	VMOVUPS Z16, (DX)
	ADDQ    R8, DX
	VMOVUPS Z17, (DX)
	ADDQ    R8, DX
	VMOVUPS Z18, (DX)
	ADDQ    R8, DX
	VMOVUPS Z19, (DX)
	ADDQ    R8, DX
	VMOVUPS Z20, (DX)
	ADDQ    R8, DX
	VMOVUPS Z21, (DX)
	ADDQ    R8, DX
	VMOVUPS Z22, (DX)
	ADDQ    R8, DX
	VMOVUPS Z23, (DX)
	ADDQ    R8, DX
	VMOVUPS Z24, (DX)
	ADDQ $64, SI
	ADDQ $64, DI
	DECQ CX
	JNZ  vec16
	VZEROUPPER
	RET

// LOAD4S(v): the strip of the source row at DX from column v into Z16…Z19.
#define LOAD4S(v) \
	VMOVUPS ((v)*4)(DX), Z16 \
	VMOVUPS ((v)*4+64)(DX), Z17 \
	VMOVUPS ((v)*4+128)(DX), Z18 \
	VMOVUPS ((v)*4+192)(DX), Z19

// FMAR(k, A0, A1, A2, A3): the loaded strip times weight k into one output
// row's accumulators.
#define FMAR(k, A0, A1, A2, A3) \
	VBROADCASTSS ((k)*4)(BX), Z20 \
	VFMADD231PS Z16, Z20, A0 \
	VFMADD231PS Z17, Z20, A1 \
	VFMADD231PS Z18, Z20, A2 \
	VFMADD231PS Z19, Z20, A3

// func conv3Strips4AVX512(dst *float32, dstStride int, src *float32, chStride, rowStride, nch int, w *float32, bias float32, nstrips int, relu int)
// Four output rows of conv3StripsAVX512 at once: output row r (at dst +
// r·dstStride) reads source rows r, r+1, r+2, so each of the six source
// rows is loaded once for every output row that reads it. Each output's
// operations, and their order, are conv3StripsAVX512's. Strides in floats;
// nch and nstrips are positive.
TEXT ·conv3Strips4AVX512(SB), NOSPLIT, $0-80
	MOVQ dst+0(FP), DI
	MOVQ dstStride+8(FP), R14
	SHLQ $2, R14
	MOVQ src+16(FP), SI
	MOVQ chStride+24(FP), R8
	SHLQ $2, R8
	MOVQ rowStride+32(FP), R9
	SHLQ $2, R9
	MOVQ nch+40(FP), R10
	MOVQ w+48(FP), R11
	VBROADCASTSS bias+56(FP), Z21
	MOVQ nstrips+64(FP), R12
	MOVQ relu+72(FP), R13
	VPXORD Z22, Z22, Z22

strip4:
	INIT4(Z21, Z0, Z1, Z2, Z3)
	INIT4(Z21, Z4, Z5, Z6, Z7)
	INIT4(Z21, Z8, Z9, Z10, Z11)
	INIT4(Z21, Z12, Z13, Z14, Z15)
	MOVQ SI, AX  // channel's first row
	MOVQ R11, BX // channel's weights
	MOVQ R10, CX

channel4:
	MOVQ AX, DX
	LOAD4S(0)
	FMAR(0, Z0, Z1, Z2, Z3)
	LOAD4S(1)
	FMAR(1, Z0, Z1, Z2, Z3)
	LOAD4S(2)
	FMAR(2, Z0, Z1, Z2, Z3)
	ADDQ R9, DX
	LOAD4S(0)
	FMAR(3, Z0, Z1, Z2, Z3)
	FMAR(0, Z4, Z5, Z6, Z7)
	LOAD4S(1)
	FMAR(4, Z0, Z1, Z2, Z3)
	FMAR(1, Z4, Z5, Z6, Z7)
	LOAD4S(2)
	FMAR(5, Z0, Z1, Z2, Z3)
	FMAR(2, Z4, Z5, Z6, Z7)
	ADDQ R9, DX
	LOAD4S(0)
	FMAR(6, Z0, Z1, Z2, Z3)
	FMAR(3, Z4, Z5, Z6, Z7)
	FMAR(0, Z8, Z9, Z10, Z11)
	LOAD4S(1)
	FMAR(7, Z0, Z1, Z2, Z3)
	FMAR(4, Z4, Z5, Z6, Z7)
	FMAR(1, Z8, Z9, Z10, Z11)
	LOAD4S(2)
	FMAR(8, Z0, Z1, Z2, Z3)
	FMAR(5, Z4, Z5, Z6, Z7)
	FMAR(2, Z8, Z9, Z10, Z11)
	ADDQ R9, DX
	LOAD4S(0)
	FMAR(6, Z4, Z5, Z6, Z7)
	FMAR(3, Z8, Z9, Z10, Z11)
	FMAR(0, Z12, Z13, Z14, Z15)
	LOAD4S(1)
	FMAR(7, Z4, Z5, Z6, Z7)
	FMAR(4, Z8, Z9, Z10, Z11)
	FMAR(1, Z12, Z13, Z14, Z15)
	LOAD4S(2)
	FMAR(8, Z4, Z5, Z6, Z7)
	FMAR(5, Z8, Z9, Z10, Z11)
	FMAR(2, Z12, Z13, Z14, Z15)
	ADDQ R9, DX
	LOAD4S(0)
	FMAR(6, Z8, Z9, Z10, Z11)
	FMAR(3, Z12, Z13, Z14, Z15)
	LOAD4S(1)
	FMAR(7, Z8, Z9, Z10, Z11)
	FMAR(4, Z12, Z13, Z14, Z15)
	LOAD4S(2)
	FMAR(8, Z8, Z9, Z10, Z11)
	FMAR(5, Z12, Z13, Z14, Z15)
	ADDQ R9, DX
	LOAD4S(0)
	FMAR(6, Z12, Z13, Z14, Z15)
	LOAD4S(1)
	FMAR(7, Z12, Z13, Z14, Z15)
	LOAD4S(2)
	FMAR(8, Z12, Z13, Z14, Z15)
	ADDQ $36, BX
	ADDQ R8, AX
	DECQ CX
	JNZ  channel4

	TESTQ R13, R13
	JZ    store4
	RELU4(Z22, Z0, Z1, Z2, Z3)
	RELU4(Z22, Z4, Z5, Z6, Z7)
	RELU4(Z22, Z8, Z9, Z10, Z11)
	RELU4(Z22, Z12, Z13, Z14, Z15)

store4:
	MOVQ DI, DX
	STORE4(DX, 64, Z0, Z1, Z2, Z3)
	ADDQ R14, DX
	STORE4(DX, 64, Z4, Z5, Z6, Z7)
	ADDQ R14, DX
	STORE4(DX, 64, Z8, Z9, Z10, Z11)
	ADDQ R14, DX
	STORE4(DX, 64, Z12, Z13, Z14, Z15)
	ADDQ $256, DI
	ADDQ $256, SI
	DECQ R12
	JNZ  strip4
	VZEROUPPER
	RET
