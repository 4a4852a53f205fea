//go:build amd64 && !noasm

#include "textflag.h"

// func scatter32AVX(dst, src *float32, blocks, stride int, pf *float32)
// For s < blocks: dst[s*stride : s*stride+32] = src[s*32 : s*32+32];
// stride in elements. Plain 32-byte moves: the values are copied bit for bit.
// pf[0 : 32·blocks] (the caller's next source row) is prefetched on the way.
TEXT ·scatter32AVX(SB), NOSPLIT, $0-40
	MOVQ dst+0(FP), DI
	MOVQ src+8(FP), SI
	MOVQ blocks+16(FP), CX
	MOVQ stride+24(FP), DX
	MOVQ pf+32(FP), R8
	SHLQ $2, DX
	TESTQ CX, CX
	JLE  done32

loop32:
	PREFETCHT0 (R8)
	PREFETCHT0 64(R8)
	ADDQ $128, R8
	VMOVUPS (SI), Y0
	VMOVUPS 32(SI), Y1
	VMOVUPS 64(SI), Y2
	VMOVUPS 96(SI), Y3
	VMOVUPS Y0, (DI)
	VMOVUPS Y1, 32(DI)
	VMOVUPS Y2, 64(DI)
	VMOVUPS Y3, 96(DI)
	ADDQ $128, SI
	ADDQ DX, DI
	DECQ CX
	JNZ  loop32

done32:
	VZEROUPPER
	RET

// func scatter16AVX(dst, src *float32, blocks, stride int, pf *float32)
// As scatter32AVX with 16-value blocks.
TEXT ·scatter16AVX(SB), NOSPLIT, $0-40
	MOVQ dst+0(FP), DI
	MOVQ src+8(FP), SI
	MOVQ blocks+16(FP), CX
	MOVQ stride+24(FP), DX
	MOVQ pf+32(FP), R8
	SHLQ $2, DX
	TESTQ CX, CX
	JLE  done16

loop16:
	PREFETCHT0 (R8)
	ADDQ $64, R8
	VMOVUPS (SI), Y0
	VMOVUPS 32(SI), Y1
	VMOVUPS Y0, (DI)
	VMOVUPS Y1, 32(DI)
	ADDQ $64, SI
	ADDQ DX, DI
	DECQ CX
	JNZ  loop16

done16:
	VZEROUPPER
	RET
