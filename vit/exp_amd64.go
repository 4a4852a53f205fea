//go:build amd64 && !noasm

package vit

import "golang.org/x/sys/cpu"

// useAVX2 selects the AVX2/FMA softmax kernels; the build tag noasm (or a
// CPU without AVX2 and FMA) leaves the pure-Go loops in charge.
var useAVX2 = cpu.X86.HasAVX2 && cpu.X86.HasFMA

// useAVX512 selects the 32-lane AVX-512 versions of the lane kernels (the
// same instructions on wider registers: bit-identical results); a variable
// so that tests can run the AVX2 ones too.
var useAVX512 = useAVX2 && cpu.X86.HasAVX512F

//go:noescape
func expLanes8AVX2(x *float32, rows, stride int, shift, sums *float32)

//go:noescape
func maxLanes8AVX2(x *float32, rows, stride int, mx *float32)

//go:noescape
func expLanes32AVX512(x *float32, rows, stride int, shift, sums *float32)

//go:noescape
func maxLanes32AVX512(x *float32, rows, stride int, mx *float32)

//go:noescape
func mulLanesAVX2(row, f *float32, n int)
