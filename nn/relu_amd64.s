//go:build amd64 && !noasm

#include "textflag.h"

// RELU16(off, shift): the 16 values at SI+off: K1 = v > 0 (ordered), K2 =
// v is NaN; the values become v where K1 or K2, +0 elsewhere (Go's
// max(v, 0)); K1's bits go to BX at bit shift.
#define RELU16(off, shift) \
	VMOVUPS off(SI), Z0; \
	VCMPPS $0x1e, Z31, Z0, K1; \
	VCMPPS $0x03, Z0, Z0, K2; \
	KORW K1, K2, K3; \
	VMOVUPS.Z Z0, K3, Z1; \
	VMOVUPS Z1, off(SI); \
	KMOVW K1, AX; \
	SHLQ $shift, AX; \
	ORQ AX, BX

// func reluMaskWordsAVX512(act *float32, mask *uint64, words int)
// For each word w: act[64w+b] = max(act[64w+b], 0) (NaN kept, −0 → +0) and
// bit b of mask[w] = act[64w+b] > 0, as reluForwardMask's loop.
TEXT ·reluMaskWordsAVX512(SB), NOSPLIT, $0-24
	MOVQ act+0(FP), SI
	MOVQ mask+8(FP), DI
	MOVQ words+16(FP), CX
	VPXORD Z31, Z31, Z31
rword:
	XORQ BX, BX
	RELU16(0, 0)
	RELU16(64, 16)
	RELU16(128, 32)
	RELU16(192, 48)
	MOVQ BX, (DI)
	ADDQ $256, SI
	ADDQ $8, DI
	DECQ CX
	JNZ rword
	VZEROUPPER
	RET

// MASK16(off, shift): the 16 values at SI+off keep their bits where bit
// shift+i of DX is set and become +0 elsewhere.
#define MASK16(off, shift) \
	MOVQ DX, AX; \
	SHRQ $shift, AX; \
	KMOVW AX, K1; \
	VMOVUPS.Z off(SI), K1, Z0; \
	VMOVUPS Z0, off(SI)

// func applyMaskWordsAVX512(grad *float32, mask *uint64, words int)
// grad[64w+b] = 0 where bit b of mask[w] is clear, as reluMaskBits' loop.
TEXT ·applyMaskWordsAVX512(SB), NOSPLIT, $0-24
	MOVQ grad+0(FP), SI
	MOVQ mask+8(FP), DI
	MOVQ words+16(FP), CX
aword:
	MOVQ (DI), DX
	CMPQ DX, $-1
	JEQ askip
	MASK16(0, 0)
	MASK16(64, 16)
	MASK16(128, 32)
	MASK16(192, 48)
askip:
	ADDQ $256, SI
	ADDQ $8, DI
	DECQ CX
	JNZ aword
	VZEROUPPER
	RET
