//go:build !amd64 || noasm

package gemm

// scatterBlocks copies blocks runs of nr values from the contiguous src
// into dst at a stride of stride values: dst[s·stride+i] = src[s·nr+i].
// next (the caller's next source row, a prefetch hint) is not used here.
func scatterBlocks(dst, src []float32, blocks, stride, nr int, next []float32) {
	scatterBlocksGo(dst, src, blocks, stride, nr)
}
