//go:build !amd64 || noasm

package gemm

// smallKernel reports whether MatMulSmall has a kernel here: not in this
// build.
func smallKernel() bool { return false }

func smallPanel(m, n, k int, a []float32, lda int, b []float32, ldb int, acc []float32) {
	panic("gemm: no small-product kernel in this build")
}
