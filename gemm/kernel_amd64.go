//go:build amd64 && !noasm && !openblas

package gemm

import "golang.org/x/sys/cpu"

// hasFMA selects the AVX2/FMA micro-kernel.
var hasFMA = cpu.X86.HasAVX2 && cpu.X86.HasFMA

//go:noescape
func kernel6x16AVX2(kc int, a, b, c *float32, ldc int)

// kernel6x16 adds the 6×16 product of packed slivers into c; see
// kernel6x16Generic for the definition.
func kernel6x16(kc int, a, b, c []float32, ldc int) {
	if !hasFMA || kc == 0 {
		kernel6x16Generic(kc, a, b, c, ldc)
		return
	}
	_ = a[kc*mr-1]
	_ = b[kc*nr-1]
	_ = c[5*ldc+nr-1]
	kernel6x16AVX2(kc, &a[0], &b[0], &c[0], ldc)
}
