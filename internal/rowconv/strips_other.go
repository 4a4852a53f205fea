//go:build !arm64 && (!amd64 || noasm)

package rowconv

func conv3StripsAsm(dst, src []float32, chStride, rowStride, nch int, w []float32, bias float32, nstrips int, relu bool) bool {
	return false
}

func conv3x1MultiAsm(dst []float32, dstStride int, src []float32, rowStride int, w, bias []float32, nout, nstrips int, relu bool) bool {
	return false
}

func conv3Strips4Asm(dst []float32, dstStride int, src []float32, chStride, rowStride, nch int, w []float32, bias float32, nstrips int, relu bool) bool {
	return false
}
