//go:build amd64 && !noasm

package rowconv

//go:noescape
func conv3StripsAVX512(dst, src *float32, chStride, rowStride, nch int, w *float32, bias float32, nstrips int, relu int)

//go:noescape
func conv3x1Multi16AVX512(dst, src *float32, dstStride, rowStride int, w, bias *float32, nvec int, relu int)

//go:noescape
func conv3Strips4AVX512(dst *float32, dstStride int, src *float32, chStride, rowStride, nch int, w *float32, bias float32, nstrips int, relu int)

//go:noescape
func conv3x1MultiAVX2(dst, src *float32, dstStride, rowStride, nout int, w, bias *float32, nstrips int, relu int)

//go:noescape
func conv3StripsAVX2(dst, src *float32, chStride, rowStride, nch int, w *float32, bias float32, nstrips int, relu int)

// conv3StripsAsm runs the AVX-512 kernel (one 64-column strip per
// StripWidth) or the AVX2 one (two 32-column strips) when the CPU has them.
func conv3StripsAsm(dst, src []float32, chStride, rowStride, nch int, w []float32, bias float32, nstrips int, relu bool) bool {
	if !hasFMA {
		return false
	}
	if hasAVX512 {
		conv3StripsAVX512(&dst[0], &src[0], chStride, rowStride, nch, &w[0], bias, nstrips, flag(relu))
	} else {
		conv3StripsAVX2(&dst[0], &src[0], chStride, rowStride, nch, &w[0], bias, 2*nstrips, flag(relu))
	}
	return true
}

// conv3x1MultiAsm runs Conv3StripsMulti's kernel when the CPU has one.
func conv3x1MultiAsm(dst []float32, dstStride int, src []float32, rowStride int, w, bias []float32, nout, nstrips int, relu bool) bool {
	if !hasFMA {
		return false
	}
	if hasAVX512 {
		// Groups of sixteen outputs share their loads; the rest one by one.
		g := nout / 16 * 16
		for o := 0; o < g; o += 16 {
			conv3x1Multi16AVX512(&dst[o*dstStride], &src[0], dstStride, rowStride, &w[o*9], &bias[o], 4*nstrips, flag(relu))
		}
		if g < nout { // the AVX2 kernel gives the same bits
			conv3x1MultiAVX2(&dst[g*dstStride], &src[0], dstStride, rowStride, nout-g, &w[g*9], &bias[g], 2*nstrips, flag(relu))
		}
	} else {
		conv3x1MultiAVX2(&dst[0], &src[0], dstStride, rowStride, nout, &w[0], &bias[0], 2*nstrips, flag(relu))
	}
	return true
}

// conv3Strips4Asm runs Conv3Strips4's AVX-512 kernel when the CPU has it.
func conv3Strips4Asm(dst []float32, dstStride int, src []float32, chStride, rowStride, nch int, w []float32, bias float32, nstrips int, relu bool) bool {
	if !hasFMA || !hasAVX512 {
		return false
	}
	conv3Strips4AVX512(&dst[0], dstStride, &src[0], chStride, rowStride, nch, &w[0], bias, nstrips, flag(relu))
	return true
}

// flag passes a bool to the assembly kernels.
func flag(b bool) int {
	if b {
		return 1
	}
	return 0
}
