//go:build amd64 && !noasm

package nn

import "golang.org/x/sys/cpu"

// reduceAVX2 selects the AVX2 reduction kernels (reduce_amd64.s); a
// variable so that tests can run the Go loops too.
var reduceAVX2 = cpu.X86.HasAVX2

//go:noescape
func sum16AVX2(acc *[16]float64, x *float32, n int)

//go:noescape
func sqDev16AVX2(acc *[16]float64, x *float32, n int, mu float64)

//go:noescape
func dyDev16AVX2(a, b *[16]float64, dy, x *float32, n int, mu float64)

// sum16Asm adds x (a multiple of 16 values) into the partial sums with
// the kernel and reports whether it ran.
func sum16Asm(acc *[16]float64, x []float32) bool {
	if !reduceAVX2 {
		return false
	}
	if len(x) > 0 {
		sum16AVX2(acc, &x[0], len(x))
	}
	return true
}

// sqDev16Asm is sum16Asm for Σ (x − mu)².
func sqDev16Asm(acc *[16]float64, x []float32, mu float64) bool {
	if !reduceAVX2 {
		return false
	}
	if len(x) > 0 {
		sqDev16AVX2(acc, &x[0], len(x), mu)
	}
	return true
}

// dyDev16Asm is sum16Asm for Σ dy and Σ dy·(x − mu); x holds len(dy)
// values.
func dyDev16Asm(a, b *[16]float64, dy, x []float32, mu float64) bool {
	if !reduceAVX2 {
		return false
	}
	if len(dy) > 0 {
		_ = x[len(dy)-1]
		dyDev16AVX2(a, b, &dy[0], &x[0], len(dy), mu)
	}
	return true
}
