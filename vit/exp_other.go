//go:build !amd64 || noasm

package vit

const useAVX2 = false

func expLanes8AVX2(x *float32, rows, stride int, shift, sums *float32) {
	panic("vit: no AVX2 kernel in this build")
}

func maxLanes8AVX2(x *float32, rows, stride int, mx *float32) {
	panic("vit: no AVX2 kernel in this build")
}
