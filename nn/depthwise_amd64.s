//go:build amd64 && !noasm

#include "textflag.h"

// AVX2 row kernels of the depthwise convolution (see depthwise_amd64.go).
// Counts n are in float32 values and must be multiples of 8.

// AXPY4STEP adds w0·s0 … w3·s3 (weights in Y12…Y15) at index SI to Y0, one
// rounded product and one rounded sum per term (no FMA, so that the result
// equals the pure-Go loop bit for bit), stores Y0 at o and advances SI by 8.
#define AXPY4STEP \
	VMULPS (R8)(SI*4), Y12, Y1; \
	VADDPS Y1, Y0, Y0; \
	VMULPS (R9)(SI*4), Y13, Y2; \
	VADDPS Y2, Y0, Y0; \
	VMULPS (R10)(SI*4), Y14, Y3; \
	VADDPS Y3, Y0, Y0; \
	VMULPS (R11)(SI*4), Y15, Y4; \
	VADDPS Y4, Y0, Y0; \
	VMOVUPS Y0, (DI)(SI*4); \
	ADDQ $8, SI

// func dwAxpy4AVX2(o, s0, s1, s2, s3, w, init *float32, n int)
// o[i] = a + w[0]·s0[i] + w[1]·s1[i] + w[2]·s2[i] + w[3]·s3[i], summed left
// to right, where a is *init, or o[i] when init is nil.
TEXT ·dwAxpy4AVX2(SB), NOSPLIT, $0-64
	MOVQ o+0(FP), DI
	MOVQ s0+8(FP), R8
	MOVQ s1+16(FP), R9
	MOVQ s2+24(FP), R10
	MOVQ s3+32(FP), R11
	MOVQ w+40(FP), AX
	MOVQ init+48(FP), BX
	MOVQ n+56(FP), CX
	VBROADCASTSS 0(AX), Y12
	VBROADCASTSS 4(AX), Y13
	VBROADCASTSS 8(AX), Y14
	VBROADCASTSS 12(AX), Y15
	XORQ SI, SI
	TESTQ BX, BX
	JZ axpy4load
	VBROADCASTSS (BX), Y11

axpy4set:
	CMPQ SI, CX
	JGE axpy4done
	VMOVAPS Y11, Y0
	AXPY4STEP
	JMP axpy4set

axpy4load:
	CMPQ SI, CX
	JGE axpy4done
	VMOVUPS (DI)(SI*4), Y0
	AXPY4STEP
	JMP axpy4load

axpy4done:
	VZEROUPPER
	RET

// func dwAxpy1AVX2(o, s0, w, init *float32, n int)
// o[i] = a + w[0]·s0[i], a as for dwAxpy4AVX2.
TEXT ·dwAxpy1AVX2(SB), NOSPLIT, $0-40
	MOVQ o+0(FP), DI
	MOVQ s0+8(FP), R8
	MOVQ w+16(FP), AX
	MOVQ init+24(FP), BX
	MOVQ n+32(FP), CX
	VBROADCASTSS 0(AX), Y12
	XORQ SI, SI
	TESTQ BX, BX
	JZ axpy1load
	VBROADCASTSS (BX), Y11

axpy1set:
	CMPQ SI, CX
	JGE axpy1done
	VMULPS (R8)(SI*4), Y12, Y1
	VADDPS Y1, Y11, Y0
	VMOVUPS Y0, (DI)(SI*4)
	ADDQ $8, SI
	JMP axpy1set

axpy1load:
	CMPQ SI, CX
	JGE axpy1done
	VMULPS (R8)(SI*4), Y12, Y1
	VADDPS (DI)(SI*4), Y1, Y0
	VMOVUPS Y0, (DI)(SI*4)
	ADDQ $8, SI
	JMP axpy1load

axpy1done:
	VZEROUPPER
	RET

// HSUM4 reduces the 8-lane sums in Y0…Y3 to one float32 each and stores
// the four at (DX).
#define HSUM4 \
	VEXTRACTF128 $1, Y0, X4; \
	VADDPS X4, X0, X0; \
	VEXTRACTF128 $1, Y1, X5; \
	VADDPS X5, X1, X1; \
	VEXTRACTF128 $1, Y2, X6; \
	VADDPS X6, X2, X2; \
	VEXTRACTF128 $1, Y3, X7; \
	VADDPS X7, X3, X3; \
	VHADDPS X1, X0, X0; \
	VHADDPS X3, X2, X2; \
	VHADDPS X2, X0, X0; \
	VMOVUPS X0, (DX)

// func dwDots4AVX2(d, s0, s1, s2, s3, out *float32, n int)
// out[t] = Σ_i d[i]·s_t[i] for t < 4, with FMAs into 16 lanes per tap.
TEXT ·dwDots4AVX2(SB), NOSPLIT, $0-56
	MOVQ d+0(FP), DI
	MOVQ s0+8(FP), R8
	MOVQ s1+16(FP), R9
	MOVQ s2+24(FP), R10
	MOVQ s3+32(FP), R11
	MOVQ out+40(FP), DX
	MOVQ n+48(FP), CX
	VXORPS Y0, Y0, Y0
	VXORPS Y1, Y1, Y1
	VXORPS Y2, Y2, Y2
	VXORPS Y3, Y3, Y3
	VXORPS Y4, Y4, Y4
	VXORPS Y5, Y5, Y5
	VXORPS Y6, Y6, Y6
	VXORPS Y7, Y7, Y7
	XORQ SI, SI

dots4loop16:
	LEAQ 16(SI), AX
	CMPQ AX, CX
	JGT dots4tail
	VMOVUPS (DI)(SI*4), Y8
	VMOVUPS 32(DI)(SI*4), Y9
	VFMADD231PS (R8)(SI*4), Y8, Y0
	VFMADD231PS 32(R8)(SI*4), Y9, Y4
	VFMADD231PS (R9)(SI*4), Y8, Y1
	VFMADD231PS 32(R9)(SI*4), Y9, Y5
	VFMADD231PS (R10)(SI*4), Y8, Y2
	VFMADD231PS 32(R10)(SI*4), Y9, Y6
	VFMADD231PS (R11)(SI*4), Y8, Y3
	VFMADD231PS 32(R11)(SI*4), Y9, Y7
	MOVQ AX, SI
	JMP dots4loop16

dots4tail:
	CMPQ SI, CX
	JGE dots4done
	VMOVUPS (DI)(SI*4), Y8
	VFMADD231PS (R8)(SI*4), Y8, Y0
	VFMADD231PS (R9)(SI*4), Y8, Y1
	VFMADD231PS (R10)(SI*4), Y8, Y2
	VFMADD231PS (R11)(SI*4), Y8, Y3

dots4done:
	VADDPS Y4, Y0, Y0
	VADDPS Y5, Y1, Y1
	VADDPS Y6, Y2, Y2
	VADDPS Y7, Y3, Y3
	HSUM4
	VZEROUPPER
	RET

// func dwDot1AVX2(d, s0, out *float32, n int)
// out[0] = Σ_i d[i]·s0[i], with FMAs into 32 lanes.
TEXT ·dwDot1AVX2(SB), NOSPLIT, $0-32
	MOVQ d+0(FP), DI
	MOVQ s0+8(FP), R8
	MOVQ out+16(FP), DX
	MOVQ n+24(FP), CX
	VXORPS Y0, Y0, Y0
	VXORPS Y1, Y1, Y1
	VXORPS Y2, Y2, Y2
	VXORPS Y3, Y3, Y3
	XORQ SI, SI

dot1loop32:
	LEAQ 32(SI), AX
	CMPQ AX, CX
	JGT dot1loop8
	VMOVUPS (DI)(SI*4), Y8
	VFMADD231PS (R8)(SI*4), Y8, Y0
	VMOVUPS 32(DI)(SI*4), Y9
	VFMADD231PS 32(R8)(SI*4), Y9, Y1
	VMOVUPS 64(DI)(SI*4), Y10
	VFMADD231PS 64(R8)(SI*4), Y10, Y2
	VMOVUPS 96(DI)(SI*4), Y11
	VFMADD231PS 96(R8)(SI*4), Y11, Y3
	MOVQ AX, SI
	JMP dot1loop32

dot1loop8:
	CMPQ SI, CX
	JGE dot1done
	VMOVUPS (DI)(SI*4), Y8
	VFMADD231PS (R8)(SI*4), Y8, Y0
	ADDQ $8, SI
	JMP dot1loop8

dot1done:
	VADDPS Y2, Y0, Y0
	VADDPS Y3, Y1, Y1
	VADDPS Y1, Y0, Y0
	VEXTRACTF128 $1, Y0, X4
	VADDPS X4, X0, X0
	VHADDPS X0, X0, X0
	VHADDPS X0, X0, X0
	VMOVSS X0, (DX)
	VZEROUPPER
	RET

// func dwDeinterleave2AVX2(even, odd, src *float32, n int)
// even[j] = src[2j], odd[j] = src[2j+1] for j < n.
TEXT ·dwDeinterleave2AVX2(SB), NOSPLIT, $0-32
	MOVQ even+0(FP), DI
	MOVQ odd+8(FP), R8
	MOVQ src+16(FP), SI
	MOVQ n+24(FP), CX
	XORQ AX, AX

deint:
	CMPQ AX, CX
	JGE deintdone
	VMOVUPS (SI), Y0
	VMOVUPS 32(SI), Y1
	VSHUFPS $0x88, Y1, Y0, Y2
	VSHUFPS $0xDD, Y1, Y0, Y3
	VPERMPD $0xD8, Y2, Y2
	VPERMPD $0xD8, Y3, Y3
	VMOVUPS Y2, (DI)(AX*4)
	VMOVUPS Y3, (R8)(AX*4)
	ADDQ $64, SI
	ADDQ $8, AX
	JMP deint

deintdone:
	VZEROUPPER
	RET

// func dwInterleave2AVX2(dst, even, odd *float32, n int)
// dst[2j] = even[j], dst[2j+1] = odd[j] for j < n.
TEXT ·dwInterleave2AVX2(SB), NOSPLIT, $0-32
	MOVQ dst+0(FP), DI
	MOVQ even+8(FP), R8
	MOVQ odd+16(FP), R9
	MOVQ n+24(FP), CX
	XORQ AX, AX

inter:
	CMPQ AX, CX
	JGE interdone
	VMOVUPS (R8)(AX*4), Y0
	VMOVUPS (R9)(AX*4), Y1
	VUNPCKLPS Y1, Y0, Y2
	VUNPCKHPS Y1, Y0, Y3
	VPERM2F128 $0x20, Y3, Y2, Y4
	VPERM2F128 $0x31, Y3, Y2, Y5
	VMOVUPS Y4, (DI)
	VMOVUPS Y5, 32(DI)
	ADDQ $64, DI
	ADDQ $8, AX
	JMP inter

interdone:
	VZEROUPPER
	RET

// func dwAddAVX2(dst, src *float32, n int)
// dst[i] += src[i] for i < n.
TEXT ·dwAddAVX2(SB), NOSPLIT, $0-24
	MOVQ dst+0(FP), DI
	MOVQ src+8(FP), SI
	MOVQ n+16(FP), CX
	XORQ AX, AX

addloop:
	CMPQ AX, CX
	JGE adddone
	VMOVUPS (DI)(AX*4), Y0
	VADDPS (SI)(AX*4), Y0, Y0
	VMOVUPS Y0, (DI)(AX*4)
	ADDQ $8, AX
	JMP addloop

adddone:
	VZEROUPPER
	RET

// func transpose8AVX2(dst *float32, dstStride int, src *float32, srcStride int, blocks int)
// For b < blocks, r, q < 8: dst[(8b+q)·dstStride + r] = src[r·srcStride + 8b + q]
// (strides in floats): eight rows of src become eight-value groups of dst,
// one 8×8 register transpose per block.
TEXT ·transpose8AVX2(SB), NOSPLIT, $0-40
	MOVQ dst+0(FP), DI
	MOVQ dstStride+8(FP), R8
	SHLQ $2, R8
	MOVQ src+16(FP), SI
	MOVQ srcStride+24(FP), R9
	SHLQ $2, R9
	MOVQ blocks+32(FP), CX
	LEAQ (R9)(R9*2), R10 // 3·srcStride
	LEAQ (R8)(R8*2), R11 // 3·dstStride
tblock:
	MOVQ SI, AX
	VMOVUPS (AX), Y0
	VMOVUPS (AX)(R9*1), Y1
	VMOVUPS (AX)(R9*2), Y2
	VMOVUPS (AX)(R10*1), Y3
	LEAQ (AX)(R9*4), AX
	VMOVUPS (AX), Y4
	VMOVUPS (AX)(R9*1), Y5
	VMOVUPS (AX)(R9*2), Y6
	VMOVUPS (AX)(R10*1), Y7
	// rows r0…r7 → pairs interleaved
	VUNPCKLPS Y1, Y0, Y8
	VUNPCKHPS Y1, Y0, Y9
	VUNPCKLPS Y3, Y2, Y10
	VUNPCKHPS Y3, Y2, Y11
	VUNPCKLPS Y5, Y4, Y12
	VUNPCKHPS Y5, Y4, Y13
	VUNPCKLPS Y7, Y6, Y14
	VUNPCKHPS Y7, Y6, Y15
	// quadruples
	VSHUFPS $0x44, Y10, Y8, Y0
	VSHUFPS $0xee, Y10, Y8, Y1
	VSHUFPS $0x44, Y11, Y9, Y2
	VSHUFPS $0xee, Y11, Y9, Y3
	VSHUFPS $0x44, Y14, Y12, Y4
	VSHUFPS $0xee, Y14, Y12, Y5
	VSHUFPS $0x44, Y15, Y13, Y6
	VSHUFPS $0xee, Y15, Y13, Y7
	// 128-bit halves
	VPERM2F128 $0x20, Y4, Y0, Y8
	VPERM2F128 $0x20, Y5, Y1, Y9
	VPERM2F128 $0x20, Y6, Y2, Y10
	VPERM2F128 $0x20, Y7, Y3, Y11
	VPERM2F128 $0x31, Y4, Y0, Y12
	VPERM2F128 $0x31, Y5, Y1, Y13
	VPERM2F128 $0x31, Y6, Y2, Y14
	VPERM2F128 $0x31, Y7, Y3, Y15
	MOVQ DI, AX
	VMOVUPS Y8, (AX)
	VMOVUPS Y9, (AX)(R8*1)
	VMOVUPS Y10, (AX)(R8*2)
	VMOVUPS Y11, (AX)(R11*1)
	LEAQ (AX)(R8*4), AX
	VMOVUPS Y12, (AX)
	VMOVUPS Y13, (AX)(R8*1)
	VMOVUPS Y14, (AX)(R8*2)
	VMOVUPS Y15, (AX)(R11*1)
	ADDQ $32, SI
	LEAQ (DI)(R8*8), DI
	DECQ CX
	JNZ tblock
	VZEROUPPER
	RET
