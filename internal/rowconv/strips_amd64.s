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

// IN6(R): the inputs of two vectors of the source row at R, each from
// columns 0, 1 and 2: Z0…Z2 for the first vector, Z3…Z5 for the second.
#define IN6(R) \
	VMOVUPS (R), Z0 \
	VMOVUPS 4(R), Z1 \
	VMOVUPS 8(R), Z2 \
	VMOVUPS 64(R), Z3 \
	VMOVUPS 68(R), Z4 \
	VMOVUPS 72(R), Z5

// TAP2(k, X0, X1, A0, A1): weight k (at BX) times the inputs X0 (first
// vector) and X1 (second) into one output's two accumulators.
#define TAP2(k, X0, X1, A0, A1) \
	VBROADCASTSS ((k)*4)(BX), Z6 \
	VFMADD231PS X0, Z6, A0 \
	VFMADD231PS X1, Z6, A1

// TAPS3(o, u, A0, A1): output o's three taps of input row u (loaded by IN6).
#define TAPS3(o, u, A0, A1) \
	TAP2((o)*9+(u)*3, Z0, Z3, A0, A1) \
	TAP2((o)*9+(u)*3+1, Z1, Z4, A0, A1) \
	TAP2((o)*9+(u)*3+2, Z2, Z5, A0, A1)

// ROW8(u): the taps of input row u for the group's eight outputs, whose
// accumulators are Z8…Z23 (output o in Z(8+2o) and Z(9+2o)).
#define ROW8(u) \
	TAPS3(0, u, Z8, Z9) \
	TAPS3(1, u, Z10, Z11) \
	TAPS3(2, u, Z12, Z13) \
	TAPS3(3, u, Z14, Z15) \
	TAPS3(4, u, Z16, Z17) \
	TAPS3(5, u, Z18, Z19) \
	TAPS3(6, u, Z20, Z21) \
	TAPS3(7, u, Z22, Z23)

// BIAS2(o, A0, A1): both accumulators of output o = bias[o] (at R11).
#define BIAS2(o, A0, A1) \
	VBROADCASTSS ((o)*4)(R11), A0 \
	VMOVAPS A0, A1

// STORE2(A0, A1): one output's two vectors to DX, then DX to the next output.
#define STORE2(A0, A1) \
	VMOVUPS A0, (DX) \
	VMOVUPS A1, 64(DX) \
	ADDQ    R8, DX

// func conv3x1Multi16AVX512(dst, src *float32, dstStride, rowStride int, w, bias *float32, nvec int, relu int)
// Sixteen outputs of the one-channel strip kernel (weights w[o·9:], bias
// bias[o], output o at dst + o·dstStride; strides in floats), two vectors
// of 16 columns per iteration (nvec is even and positive), eight outputs at
// a time: each broadcast weight serves both vectors and each loaded input
// eight outputs. Each output's operations, and their order, are the
// one-output kernels' (bias, then the nine taps by row and column).
TEXT ·conv3x1Multi16AVX512(SB), NOSPLIT, $0-64
	MOVQ dstStride+16(FP), R8
	SHLQ $2, R8
	MOVQ rowStride+24(FP), R9
	SHLQ $2, R9
	MOVQ nvec+48(FP), CX
	SHRQ $1, CX
	MOVQ relu+56(FP), R13
	VPXORD Z7, Z7, Z7
	MOVQ dst+0(FP), DI
	MOVQ src+8(FP), SI

pair:
	MOVQ DI, DX // output o's row, o = 0…15
	MOVQ w+32(FP), BX
	MOVQ bias+40(FP), R11
	MOVQ $2, R12 // groups of eight outputs

group:
	BIAS2(0, Z8, Z9)
	BIAS2(1, Z10, Z11)
	BIAS2(2, Z12, Z13)
	BIAS2(3, Z14, Z15)
	BIAS2(4, Z16, Z17)
	BIAS2(5, Z18, Z19)
	BIAS2(6, Z20, Z21)
	BIAS2(7, Z22, Z23)
	MOVQ SI, AX
	IN6(AX)
	ROW8(0)
	ADDQ R9, AX
	IN6(AX)
	ROW8(1)
	ADDQ R9, AX
	IN6(AX)
	ROW8(2)
	TESTQ R13, R13
	JZ    store
	RELU4(Z7, Z8, Z9, Z10, Z11)
	RELU4(Z7, Z12, Z13, Z14, Z15)
	RELU4(Z7, Z16, Z17, Z18, Z19)
	RELU4(Z7, Z20, Z21, Z22, Z23)

store:
	STORE2(Z8, Z9)
	STORE2(Z10, Z11)
	STORE2(Z12, Z13)
	STORE2(Z14, Z15)
	STORE2(Z16, Z17)
	STORE2(Z18, Z19)
	STORE2(Z20, Z21)
	STORE2(Z22, Z23)
	ADDQ $288, BX // the next eight outputs' weights
	ADDQ $32, R11
	DECQ R12
	JNZ  group

	ADDQ $128, SI
	ADDQ $128, DI
	DECQ CX
	JNZ  pair
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
