//go:build amd64 && !noasm

package rowconv

//go:noescape
func conv3StripsAVX512(dst, src *float32, chStride, rowStride, nch int, w *float32, bias float32, nstrips int, relu int)

//go:noescape
func conv3StripsAVX2(dst, src *float32, chStride, rowStride, nch int, w *float32, bias float32, nstrips int, relu int)

// conv3StripsAsm runs the AVX-512 kernel (one 64-column strip per
// StripWidth) or the AVX2 one (two 32-column strips) when the CPU has them.
func conv3StripsAsm(dst, src []float32, chStride, rowStride, nch int, w []float32, bias float32, nstrips int, relu bool) bool {
	if !hasFMA {
		return false
	}
	r := 0
	if relu {
		r = 1
	}
	if hasAVX512 {
		conv3StripsAVX512(&dst[0], &src[0], chStride, rowStride, nch, &w[0], bias, nstrips, r)
	} else {
		conv3StripsAVX2(&dst[0], &src[0], chStride, rowStride, nch, &w[0], bias, 2*nstrips, r)
	}
	return true
}
