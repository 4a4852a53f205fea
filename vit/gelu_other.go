//go:build !amd64 || noasm

package vit

// Without the amd64 kernels (another architecture, or the build tag noasm)
// the activations run the pure-Go loops.
const (
	useActAVX2   = false
	useActAVX512 = false
)

// geluAVX2 is never called in this build (useActAVX2 is false).
func geluAVX2(x []float32) { panic("vit: no AVX2 kernel in this build") }

// geluAVX512 is never called in this build (useActAVX512 is false).
func geluAVX512(x []float32) { panic("vit: no AVX-512 kernel in this build") }

// siluMulAVX2 is never called in this build (useActAVX2 is false).
func siluMulAVX2(dst, a, b []float32) { panic("vit: no AVX2 kernel in this build") }

// siluMulAVX512 is never called in this build (useActAVX512 is false).
func siluMulAVX512(dst, a, b []float32) { panic("vit: no AVX-512 kernel in this build") }
