//go:build amd64 && !noasm

package rowconv

import "golang.org/x/sys/cpu"

var (
	hasAVX2 = cpu.X86.HasAVX2
	hasFMA  = cpu.X86.HasAVX2 && cpu.X86.HasFMA
	// hasAVX512 selects the 16-wide kernels; a variable so tests can run
	// the AVX2 ones too.
	hasAVX512 = hasFMA && cpu.X86.HasAVX512F
)

//go:noescape
func acc3AVX2(d, a, b, c *float32, n int, k0, k1, k2 float32)

// acc3Asm runs the AVX2 kernel on the largest multiple of 8 elements and
// returns how many it did.
func acc3Asm(d, a, b, c []float32, k0, k1, k2 float32) int {
	n := len(d) &^ 7
	if !hasAVX2 || n == 0 {
		return 0
	}
	acc3AVX2(&d[0], &a[0], &b[0], &c[0], n, k0, k1, k2)
	return n
}
