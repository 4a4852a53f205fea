//go:build amd64 && !noasm

package vit

import "golang.org/x/sys/cpu"

// useAVX2 selects the AVX2/FMA softmax kernels; the build tag noasm (or a
// CPU without AVX2 and FMA) leaves the pure-Go loops in charge.
var useAVX2 = cpu.X86.HasAVX2 && cpu.X86.HasFMA

//go:noescape
func expLanes8AVX2(x *float32, rows, stride int, shift, sums *float32)

//go:noescape
func maxLanes8AVX2(x *float32, rows, stride int, mx *float32)
