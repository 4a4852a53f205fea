//go:build amd64 && !noasm

#include "textflag.h"

// TAP(row, k, v): one 3×3 tap: broadcast the weight at BX+k·4 and add its
// product with four consecutive vectors of the row from column v into Y0–Y3.
#define TAP(row, k, v) \
	VBROADCASTSS (k*4)(BX), Y4 \
	VFMADD231PS (v*4)(row), Y4, Y0 \
	VFMADD231PS (v*4+32)(row), Y4, Y1 \
	VFMADD231PS (v*4+64)(row), Y4, Y2 \
	VFMADD231PS (v*4+96)(row), Y4, Y3

// func conv3StripsAVX2(dst, src *float32, chStride, rowStride, nch int, w *float32, bias float32, nstrips int, relu int)
// Strides are in floats; nch and nstrips are positive.
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
	VMOVAPS Y15, Y0
	VMOVAPS Y15, Y1
	VMOVAPS Y15, Y2
	VMOVAPS Y15, Y3
	MOVQ SI, AX  // channel's first row
	MOVQ R11, BX // channel's weights
	MOVQ R10, CX

channel:
	MOVQ AX, DX
	TAP(DX, 0, 0)
	TAP(DX, 1, 1)
	TAP(DX, 2, 2)
	ADDQ R9, DX
	TAP(DX, 3, 0)
	TAP(DX, 4, 1)
	TAP(DX, 5, 2)
	ADDQ R9, DX
	TAP(DX, 6, 0)
	TAP(DX, 7, 1)
	TAP(DX, 8, 2)
	ADDQ $36, BX
	ADDQ R8, AX
	DECQ CX
	JNZ  channel

	TESTQ R13, R13
	JZ    store
	// (0 > x) ? 0 : x, so NaN and −0 pass.
	VMAXPS Y0, Y14, Y0
	VMAXPS Y1, Y14, Y1
	VMAXPS Y2, Y14, Y2
	VMAXPS Y3, Y14, Y3

store:
	VMOVUPS Y0, (DI)
	VMOVUPS Y1, 32(DI)
	VMOVUPS Y2, 64(DI)
	VMOVUPS Y3, 96(DI)
	ADDQ $128, DI
	ADDQ $128, SI
	DECQ R12
	JNZ  strip
	VZEROUPPER
	RET

// TAPZ is TAP on 16-wide vectors (64 columns per strip).
#define TAPZ(row, k, v) \
	VBROADCASTSS (k*4)(BX), Z4 \
	VFMADD231PS (v*4)(row), Z4, Z0 \
	VFMADD231PS (v*4+64)(row), Z4, Z1 \
	VFMADD231PS (v*4+128)(row), Z4, Z2 \
	VFMADD231PS (v*4+192)(row), Z4, Z3

// func conv3StripsAVX512(dst, src *float32, chStride, rowStride, nch int, w *float32, bias float32, nstrips int, relu int)
// Strides are in floats; nch and nstrips are positive.
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
	VMOVAPS Z15, Z0
	VMOVAPS Z15, Z1
	VMOVAPS Z15, Z2
	VMOVAPS Z15, Z3
	MOVQ SI, AX  // channel's first row
	MOVQ R11, BX // channel's weights
	MOVQ R10, CX

channelz:
	MOVQ AX, DX
	TAPZ(DX, 0, 0)
	TAPZ(DX, 1, 1)
	TAPZ(DX, 2, 2)
	ADDQ R9, DX
	TAPZ(DX, 3, 0)
	TAPZ(DX, 4, 1)
	TAPZ(DX, 5, 2)
	ADDQ R9, DX
	TAPZ(DX, 6, 0)
	TAPZ(DX, 7, 1)
	TAPZ(DX, 8, 2)
	ADDQ $36, BX
	ADDQ R8, AX
	DECQ CX
	JNZ  channelz

	TESTQ R13, R13
	JZ    storez
	// (0 > x) ? 0 : x, so NaN and −0 pass.
	VMAXPS Z0, Z14, Z0
	VMAXPS Z1, Z14, Z1
	VMAXPS Z2, Z14, Z2
	VMAXPS Z3, Z14, Z3

storez:
	VMOVUPS Z0, (DI)
	VMOVUPS Z1, 64(DI)
	VMOVUPS Z2, 128(DI)
	VMOVUPS Z3, 192(DI)
	ADDQ $256, DI
	ADDQ $256, SI
	DECQ R12
	JNZ  stripz
	VZEROUPPER
	RET

// func conv3x1MultiAVX512(dst, src *float32, dstStride, rowStride, nout int, w, bias *float32, nstrips int, relu int)
// For o < nout: the one-channel Conv3Strips with weights w[o·9:] and bias
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

outconv3x1MultiAVX512:
	VBROADCASTSS (R11), Z15
	MOVQ src+8(FP), SI
	MOVQ DI, AX
	MOVQ nstrips+56(FP), R12

stripconv3x1MultiAVX512:
	VMOVAPS Z15, Z0
	VMOVAPS Z15, Z1
	VMOVAPS Z15, Z2
	VMOVAPS Z15, Z3
	MOVQ SI, DX
	TAPZ(DX, 0, 0)
	TAPZ(DX, 1, 1)
	TAPZ(DX, 2, 2)
	ADDQ R9, DX
	TAPZ(DX, 3, 0)
	TAPZ(DX, 4, 1)
	TAPZ(DX, 5, 2)
	ADDQ R9, DX
	TAPZ(DX, 6, 0)
	TAPZ(DX, 7, 1)
	TAPZ(DX, 8, 2)
	TESTQ R13, R13
	JZ    storeconv3x1MultiAVX512
	VMAXPS Z0, Z14, Z0
	VMAXPS Z1, Z14, Z1
	VMAXPS Z2, Z14, Z2
	VMAXPS Z3, Z14, Z3

storeconv3x1MultiAVX512:
	VMOVUPS Z0, (AX)
	VMOVUPS Z1, 64(AX)
	VMOVUPS Z2, 128(AX)
	VMOVUPS Z3, 192(AX)
	ADDQ $256, AX
	ADDQ $256, SI
	DECQ R12
	JNZ  stripconv3x1MultiAVX512

	ADDQ $36, BX
	ADDQ $4, R11
	ADDQ R8, DI
	DECQ R10
	JNZ  outconv3x1MultiAVX512
	VZEROUPPER
	RET

// func conv3x1MultiAVX2(dst, src *float32, dstStride, rowStride, nout int, w, bias *float32, nstrips int, relu int)
// For o < nout: the one-channel Conv3Strips with weights w[o·9:] and bias
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

outconv3x1MultiAVX2:
	VBROADCASTSS (R11), Y15
	MOVQ src+8(FP), SI
	MOVQ DI, AX
	MOVQ nstrips+56(FP), R12

stripconv3x1MultiAVX2:
	VMOVAPS Y15, Y0
	VMOVAPS Y15, Y1
	VMOVAPS Y15, Y2
	VMOVAPS Y15, Y3
	MOVQ SI, DX
	TAP(DX, 0, 0)
	TAP(DX, 1, 1)
	TAP(DX, 2, 2)
	ADDQ R9, DX
	TAP(DX, 3, 0)
	TAP(DX, 4, 1)
	TAP(DX, 5, 2)
	ADDQ R9, DX
	TAP(DX, 6, 0)
	TAP(DX, 7, 1)
	TAP(DX, 8, 2)
	TESTQ R13, R13
	JZ    storeconv3x1MultiAVX2
	VMAXPS Y0, Y14, Y0
	VMAXPS Y1, Y14, Y1
	VMAXPS Y2, Y14, Y2
	VMAXPS Y3, Y14, Y3

storeconv3x1MultiAVX2:
	VMOVUPS Y0, (AX)
	VMOVUPS Y1, 32(AX)
	VMOVUPS Y2, 64(AX)
	VMOVUPS Y3, 96(AX)
	ADDQ $128, AX
	ADDQ $128, SI
	DECQ R12
	JNZ  stripconv3x1MultiAVX2

	ADDQ $36, BX
	ADDQ $4, R11
	ADDQ R8, DI
	DECQ R10
	JNZ  outconv3x1MultiAVX2
	VZEROUPPER
	RET
