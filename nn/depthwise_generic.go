//go:build !amd64 || noasm

package nn

// In this build the depthwise row kernels are the pure-Go ones.

// dwAxpy is dwAxpyGo.
func dwAxpy(o []float32, taps []dwTap, set bool, b float32) { dwAxpyGo(o, taps, set, b) }

// dwDots is dwDotsGo.
func dwDots(out, d []float32, taps []dwTap) { dwDotsGo(out, d, taps) }

// dwDeinterleave2 is dwDeinterleave2Go.
func dwDeinterleave2(even, odd, src []float32) { dwDeinterleave2Go(even, odd, src) }

// dwInterleave2 is dwInterleave2Go.
func dwInterleave2(dst, even, odd []float32) { dwInterleave2Go(dst, even, odd) }

// dwAdd is dwAddGo.
func dwAdd(dst, src []float32) { dwAddGo(dst, src) }

// transpose8 sets dst[p·dstStride + r] = src[r·srcStride + p] for r < 8 and
// p < n.
func transpose8(dst []float32, dstStride int, src []float32, srcStride, n int) {
	transpose8Go(dst, dstStride, src, srcStride, n)
}
