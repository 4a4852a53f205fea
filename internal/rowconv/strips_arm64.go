//go:build arm64

package rowconv

// On arm64 the Go compiler fuses a float32 k*x + acc into one FMADDS, which
// rounds once, exactly as FMA32 (and the amd64 kernels' VFMADD) do, so these
// plain loops give Conv3Strips' bits at the hardware's speed; the portable
// loop emulates the single rounding in float64.

// conv3StripsAsm computes Conv3Strips with fused float32 loops.
func conv3StripsAsm(dst, src []float32, chStride, rowStride, nch int, w []float32, bias float32, nstrips int, relu bool) bool {
	conv3StripsFused(dst, src, chStride, rowStride, nch, w, bias, StripWidth*nstrips, relu)
	return true
}

// conv3x1MultiAsm computes Conv3StripsMulti with fused float32 loops.
func conv3x1MultiAsm(dst []float32, dstStride int, src []float32, rowStride int, w, bias []float32, nout, nstrips int, relu bool) bool {
	for o := 0; o < nout; o++ {
		conv3StripsFused(dst[o*dstStride:], src, 0, rowStride, 1, w[o*9:], bias[o], StripWidth*nstrips, relu)
	}
	return true
}

// conv3Strips4Asm leaves Conv3Strips4 to four Conv3Strips calls.
func conv3Strips4Asm(dst []float32, dstStride int, src []float32, chStride, rowStride, nch int, w []float32, bias float32, nstrips int, relu bool) bool {
	return false
}

// conv3StripsFused is conv3StripsGo with k*x + acc left for the compiler
// to fuse.
func conv3StripsFused(dst, src []float32, chStride, rowStride, nch int, w []float32, bias float32, n int, relu bool) {
	conv3StripsLoop(dst, src, chStride, rowStride, nch, w, bias, n, relu, tapFused)
}

// tapFused is d[j] = k·s[j] + d[j], one FMADDS per value.
func tapFused(d, s []float32, k float32) {
	s = s[:len(d)]
	for j, x := range s {
		d[j] = k*x + d[j]
	}
}
