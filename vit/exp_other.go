//go:build !amd64 || noasm

package vit

const useAVX2 = false

var useAVX512 = false

func expLanes8AVX2(x *float32, rows, stride int, shift, sums *float32) {
	panic("vit: no AVX2 kernel in this build")
}

func maxLanes8AVX2(x *float32, rows, stride int, mx *float32) {
	panic("vit: no AVX2 kernel in this build")
}

func expLanes32AVX512(x *float32, rows, stride int, shift, sums *float32) {
	panic("vit: no AVX-512 kernel in this build")
}

func maxLanes32AVX512(x *float32, rows, stride int, mx *float32) {
	panic("vit: no AVX-512 kernel in this build")
}

func mulLanesAVX2(row, f *float32, n int) {
	panic("vit: no AVX2 kernel in this build")
}
