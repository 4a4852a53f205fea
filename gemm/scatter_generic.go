//go:build !amd64 || noasm

package gemm

// scatterBlocks copies blocks runs of nr values from the contiguous src
// into dst at a stride of stride values: dst[s·stride+i] = src[s·nr+i].
func scatterBlocks(dst, src []float32, blocks, stride, nr int) {
	scatterBlocksGo(dst, src, blocks, stride, nr)
}
