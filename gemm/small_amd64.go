//go:build amd64 && !noasm

package gemm

import "golang.org/x/sys/cpu"

var hasAVX512F = cpu.X86.HasAVX512F

//go:noescape
func smallAVX512(m, n, k int, a *float32, lda int, b *float32, ldb int, acc *float32)

// smallKernel reports whether smallPanel has a kernel whose sums equal the
// packed kernel's: AVX-512, with the packed kernel one of the FMA assembly
// kernels (they give the same bits).
func smallKernel() bool {
	k := packedKernel()
	return hasAVX512F && k != nil && k.name != "go"
}

// smallPanel runs smallAVX512 (see there).
func smallPanel(m, n, k int, a []float32, lda int, b []float32, ldb int, acc []float32) {
	_ = a[(m-1)*lda+k-1]
	_ = b[(k-1)*ldb+n-1]
	_ = acc[m*n-1]
	smallAVX512(m, n, k, &a[0], lda, &b[0], ldb, &acc[0])
}
