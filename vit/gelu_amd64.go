//go:build amd64 && !noasm

package vit

import "golang.org/x/sys/cpu"

// useActAVX2 and useActAVX512 select the activation kernels (geluRow,
// siluMulRow): AVX-512F when the CPU and OS have it (x/sys/cpu checks that
// the OS saves the ZMM and mask registers), else AVX2 with FMA, else the
// pure-Go loops. The build tag noasm leaves the pure-Go loops in charge.
var (
	useActAVX2   = cpu.X86.HasAVX2 && cpu.X86.HasFMA
	useActAVX512 = cpu.X86.HasAVX512F && useActAVX2
)

// geluAVX2 applies geluErf in place to the first len(x)&^7 values of x.
//
//go:noescape
func geluAVX2(x []float32)

// geluAVX512 applies geluErf in place to all of x (the last partial vector
// under a mask).
//
//go:noescape
func geluAVX512(x []float32)

// siluMulAVX2 sets dst[i] = silu(a[i])·b[i] for the first len(dst)&^7
// values; a and b must be at least as long.
//
//go:noescape
func siluMulAVX2(dst, a, b []float32)

// siluMulAVX512 sets dst[i] = silu(a[i])·b[i] for all of dst (the last
// partial vector under a mask); a and b must be at least as long.
//
//go:noescape
func siluMulAVX512(dst, a, b []float32)
