//go:build amd64 && !noasm

package gemm

import "golang.org/x/sys/cpu"

var hasAVX = cpu.X86.HasAVX

//go:noescape
func scatter32AVX(dst, src *float32, blocks, stride int, pf *float32)

//go:noescape
func scatter16AVX(dst, src *float32, blocks, stride int, pf *float32)

// scatterBlocks copies blocks runs of nr (16 or 32) values from the
// contiguous src into dst at a stride of stride values: dst[s·stride+i] =
// src[s·nr+i]. Go compiles a fixed-size array copy of 64 or 128 bytes to
// a runtime.memmove call, which costs more than the copy.
//
// next, when it holds blocks·nr values, is the source row the caller
// copies next: it is prefetched into cache on the way (a prefetch of an
// address never faults, but next is bounds-checked all the same).
func scatterBlocks(dst, src []float32, blocks, stride, nr int, next []float32) {
	if blocks <= 0 {
		return
	}
	_ = dst[(blocks-1)*stride+nr-1]
	_ = src[blocks*nr-1]
	pf := &src[0]
	if len(next) >= blocks*nr {
		pf = &next[0]
	}
	switch {
	case hasAVX && nr == 32:
		scatter32AVX(&dst[0], &src[0], blocks, stride, pf)
	case hasAVX && nr == 16:
		scatter16AVX(&dst[0], &src[0], blocks, stride, pf)
	default:
		scatterBlocksGo(dst, src, blocks, stride, nr)
	}
}
