//go:build !amd64 || noasm

package rowconv

func acc3Asm(d, a, b, c []float32, k0, k1, k2 float32) int { return 0 }

func conv3StripsAsm(dst, src []float32, chStride, rowStride, nch int, w []float32, bias float32, nstrips int, relu bool) bool {
	return false
}

func conv3x1MultiAsm(dst []float32, dstStride int, src []float32, rowStride int, w, bias []float32, nout, nstrips int, relu bool) bool {
	return false
}
