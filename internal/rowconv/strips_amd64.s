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
