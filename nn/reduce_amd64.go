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

//go:noescape
func bnNormAVX2(o, x *float32, n int, mu, scale, beta float32)

//go:noescape
func bnGradAVX2(dx, dy, x *float32, n int, k, mdy, mu, cx float32, accumulate int)

// bnNormAsm runs BatchNormTrainForward's normalisation on the leading
// multiple of 8 values and returns how many it did.
func bnNormAsm(o, x []float32, mu, scale, beta float32) int {
	n := len(x) &^ 7
	if !reduceAVX2 || n == 0 {
		return 0
	}
	_ = o[n-1]
	bnNormAVX2(&o[0], &x[0], n, mu, scale, beta)
	return n
}

// bnGradAsm runs batchNormTrainBackward's input gradient on the leading
// multiple of 8 values and returns how many it did.
func bnGradAsm(dx, dy, x []float32, k, mdy, mu, cx float32, accumulate bool) int {
	n := len(dy) &^ 7
	if !reduceAVX2 || n == 0 {
		return 0
	}
	_, _ = dx[n-1], x[n-1]
	acc := 0
	if accumulate {
		acc = 1
	}
	bnGradAVX2(&dx[0], &dy[0], &x[0], n, k, mdy, mu, cx, acc)
	return n
}
