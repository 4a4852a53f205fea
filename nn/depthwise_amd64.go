//go:build amd64 && !noasm

package nn

import "golang.org/x/sys/cpu"

// The depthwise row kernels use AVX2 assembly (depthwise_amd64.s) on CPUs
// with AVX2 and FMA, over the first multiple of 8 values of each row; the
// rest of the row, and other CPUs, take the pure-Go kernels. dwAxpy rounds
// every product and every sum as dwAxpyGo does, so both give the same bits;
// dwDots sums in 16 or 32 lanes with FMAs instead of dwDotsGo's 2 partial
// sums.

// dwAVX2 reports whether the assembly kernels run on this CPU.
var dwAVX2 = cpu.X86.HasAVX2 && cpu.X86.HasFMA

//go:noescape
func dwAxpy4AVX2(o, s0, s1, s2, s3, w, init *float32, n int)

//go:noescape
func dwAxpy1AVX2(o, s0, w, init *float32, n int)

//go:noescape
func dwDots4AVX2(d, s0, s1, s2, s3, out *float32, n int)

//go:noescape
func dwDot1AVX2(d, s0, out *float32, n int)

//go:noescape
func dwDeinterleave2AVX2(even, odd, src *float32, n int)

//go:noescape
func dwInterleave2AVX2(dst, even, odd *float32, n int)

//go:noescape
func dwAddAVX2(dst, src *float32, n int)

// dwAxpy adds Σ_t taps[t].w·taps[t].src[i] to o[i] (after setting o to b
// when set), as dwAxpyGo.
func dwAxpy(o []float32, taps []dwTap, set bool, b float32) {
	n := len(o)
	n8 := n &^ 7
	if !dwAVX2 || n8 == 0 || len(taps) == 0 {
		dwAxpyGo(o, taps, set, b)
		return
	}
	var init *float32
	if set {
		init = &b
		for i := n8; i < n; i++ {
			o[i] = b
		}
	}
	for len(taps) >= 4 {
		s0, s1, s2, s3 := taps[0].src[:n], taps[1].src[:n], taps[2].src[:n], taps[3].src[:n]
		w := [4]float32{taps[0].w, taps[1].w, taps[2].w, taps[3].w}
		dwAxpy4AVX2(&o[0], &s0[0], &s1[0], &s2[0], &s3[0], &w[0], init, n8)
		if n8 < n {
			dwAxpy4Go(o[n8:], s0[n8:], s1[n8:], s2[n8:], s3[n8:], w[0], w[1], w[2], w[3])
		}
		init = nil
		taps = taps[4:]
	}
	for _, t := range taps {
		s0 := t.src[:n]
		dwAxpy1AVX2(&o[0], &s0[0], &t.w, init, n8)
		if n8 < n {
			dwAxpy1Go(o[n8:], s0[n8:], t.w)
		}
		init = nil
	}
}

// dwDots sets out[t] to the dot product of d with taps[t].src.
func dwDots(out, d []float32, taps []dwTap) {
	n := len(d)
	n8 := n &^ 7
	if !dwAVX2 || n8 == 0 {
		dwDotsGo(out, d, taps)
		return
	}
	out = out[:len(taps)]
	t := 0
	for ; t+4 <= len(taps); t += 4 {
		s0, s1, s2, s3 := taps[t].src[:n], taps[t+1].src[:n], taps[t+2].src[:n], taps[t+3].src[:n]
		var r [4]float32
		dwDots4AVX2(&d[0], &s0[0], &s1[0], &s2[0], &s3[0], &r[0], n8)
		if n8 < n {
			a0, a1, a2, a3 := dwDots4Go(d[n8:], s0[n8:], s1[n8:], s2[n8:], s3[n8:])
			r[0], r[1], r[2], r[3] = r[0]+a0, r[1]+a1, r[2]+a2, r[3]+a3
		}
		copy(out[t:t+4], r[:])
	}
	for ; t < len(taps); t++ {
		s0 := taps[t].src[:n]
		var r float32
		dwDot1AVX2(&d[0], &s0[0], &r, n8)
		if n8 < n {
			r += dwDot1Go(d[n8:], s0[n8:])
		}
		out[t] = r
	}
}

// dwDeinterleave2 splits src (2·len(even) values) into its even and odd
// entries.
func dwDeinterleave2(even, odd, src []float32) {
	n := len(even)
	n8 := n &^ 7
	if !dwAVX2 || n8 == 0 {
		dwDeinterleave2Go(even, odd, src)
		return
	}
	odd, src = odd[:n], src[:2*n]
	dwDeinterleave2AVX2(&even[0], &odd[0], &src[0], n8)
	dwDeinterleave2Go(even[n8:], odd[n8:], src[2*n8:])
}

// dwInterleave2 writes even[j] to dst[2j] and odd[j] to dst[2j+1].
func dwInterleave2(dst, even, odd []float32) {
	n := len(even)
	n8 := n &^ 7
	if !dwAVX2 || n8 == 0 {
		dwInterleave2Go(dst, even, odd)
		return
	}
	odd, dst = odd[:n], dst[:2*n]
	dwInterleave2AVX2(&dst[0], &even[0], &odd[0], n8)
	dwInterleave2Go(dst[2*n8:], even[n8:], odd[n8:])
}

// dwAdd adds src to dst (len(dst) values).
func dwAdd(dst, src []float32) {
	n := len(dst)
	n8 := n &^ 7
	if !dwAVX2 || n8 == 0 {
		dwAddGo(dst, src)
		return
	}
	src = src[:n]
	dwAddAVX2(&dst[0], &src[0], n8)
	dwAddGo(dst[n8:], src[n8:])
}

//go:noescape
func transpose8AVX2(dst *float32, dstStride int, src *float32, srcStride int, blocks int)

// transpose8 sets dst[p·dstStride + r] = src[r·srcStride + p] for r < 8 and
// p < n: eight rows become eight-value groups (a pure copy).
func transpose8(dst []float32, dstStride int, src []float32, srcStride, n int) {
	if n == 0 {
		return
	}
	_ = src[7*srcStride+n-1]
	_ = dst[(n-1)*dstStride+7]
	blocks := n / 8
	if dwAVX2 && blocks > 0 {
		transpose8AVX2(&dst[0], dstStride, &src[0], srcStride, blocks)
	}
	if rest := n - blocks*8; rest > 0 {
		transpose8Go(dst[blocks*8*dstStride:], dstStride, src[blocks*8:], srcStride, rest)
	}
}
