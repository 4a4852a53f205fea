package nn

// Row kernels of the depthwise convolution, in pure Go. The explicit
// float32 conversions keep every product rounded before it is added (no
// fused multiply-add, whatever GOAMD64), so that dwAxpyGo and the assembly
// kernels agree bit for bit.

// dwAxpy4Go adds w0·s0 + … + w3·s3 to o, term by term in that order, with
// every s sliced to len(o).
func dwAxpy4Go(o, s0, s1, s2, s3 []float32, w0, w1, w2, w3 float32) {
	n := len(o)
	s0, s1, s2, s3 = s0[:n], s1[:n], s2[:n], s3[:n]
	for i := range o {
		a := o[i]
		a += float32(w0 * s0[i])
		a += float32(w1 * s1[i])
		a += float32(w2 * s2[i])
		a += float32(w3 * s3[i])
		o[i] = a
	}
}

// dwAxpy2Go adds w0·s0 + w1·s1 to o, in that order.
func dwAxpy2Go(o, s0, s1 []float32, w0, w1 float32) {
	n := len(o)
	s0, s1 = s0[:n], s1[:n]
	for i := range o {
		a := o[i]
		a += float32(w0 * s0[i])
		a += float32(w1 * s1[i])
		o[i] = a
	}
}

// dwAxpy1Go adds w0·s0 to o.
func dwAxpy1Go(o, s0 []float32, w0 float32) {
	s0 = s0[:len(o)]
	for i := range o {
		o[i] += float32(w0 * s0[i])
	}
}

// dwAxpyGo adds Σ_t taps[t].w·taps[t].src[i] to o[i] for every i, the terms
// in tap order, each product and each sum rounded to float32. With set, o
// is first overwritten with b (so o[i] = b + Σ …, summed from b on).
func dwAxpyGo(o []float32, taps []dwTap, set bool, b float32) {
	if set {
		for i := range o {
			o[i] = b
		}
	}
	for len(taps) >= 4 {
		dwAxpy4Go(o, taps[0].src, taps[1].src, taps[2].src, taps[3].src, taps[0].w, taps[1].w, taps[2].w, taps[3].w)
		taps = taps[4:]
	}
	if len(taps) >= 2 {
		dwAxpy2Go(o, taps[0].src, taps[1].src, taps[0].w, taps[1].w)
		taps = taps[2:]
	}
	if len(taps) == 1 {
		dwAxpy1Go(o, taps[0].src, taps[0].w)
	}
}

// dwDots4Go returns the dot products of d with s0…s3 (each sliced to
// len(d)), each summed in float32 as two interleaved partial sums.
func dwDots4Go(d, s0, s1, s2, s3 []float32) (r0, r1, r2, r3 float32) {
	n := len(d)
	s0, s1, s2, s3 = s0[:n], s1[:n], s2[:n], s3[:n]
	var a0, a1, a2, a3, b0, b1, b2, b3 float32
	i := 0
	for ; i+1 < n; i += 2 {
		v, u := d[i], d[i+1]
		a0 += float32(v * s0[i])
		a1 += float32(v * s1[i])
		a2 += float32(v * s2[i])
		a3 += float32(v * s3[i])
		b0 += float32(u * s0[i+1])
		b1 += float32(u * s1[i+1])
		b2 += float32(u * s2[i+1])
		b3 += float32(u * s3[i+1])
	}
	if i < n {
		v := d[i]
		a0 += float32(v * s0[i])
		a1 += float32(v * s1[i])
		a2 += float32(v * s2[i])
		a3 += float32(v * s3[i])
	}
	return a0 + b0, a1 + b1, a2 + b2, a3 + b3
}

// dwDot1Go returns the dot product of d and s (sliced to len(d)), summed
// in float32 as two interleaved partial sums.
func dwDot1Go(d, s []float32) float32 {
	n := len(d)
	s = s[:n]
	var a, b float32
	i := 0
	for ; i+1 < n; i += 2 {
		a += float32(d[i] * s[i])
		b += float32(d[i+1] * s[i+1])
	}
	if i < n {
		a += float32(d[i] * s[i])
	}
	return a + b
}

// dwDotsGo sets out[t] to the float32 dot product of d with taps[t].src
// (the weights are ignored).
func dwDotsGo(out, d []float32, taps []dwTap) {
	t := 0
	for ; t+4 <= len(taps); t += 4 {
		out[t], out[t+1], out[t+2], out[t+3] = dwDots4Go(d, taps[t].src, taps[t+1].src, taps[t+2].src, taps[t+3].src)
	}
	for ; t < len(taps); t++ {
		out[t] = dwDot1Go(d, taps[t].src)
	}
}

// dwDeinterleave2Go splits src (2·len(even) values) into its even and odd
// entries.
func dwDeinterleave2Go(even, odd, src []float32) {
	odd = odd[:len(even)]
	src = src[:2*len(even)]
	for j := range even {
		even[j], odd[j] = src[2*j], src[2*j+1]
	}
}

// dwInterleave2Go writes even[j] to dst[2j] and odd[j] to dst[2j+1].
func dwInterleave2Go(dst, even, odd []float32) {
	odd = odd[:len(even)]
	dst = dst[:2*len(even)]
	for j, v := range even {
		dst[2*j], dst[2*j+1] = v, odd[j]
	}
}

// dwAddGo adds src to dst (len(dst) values).
func dwAddGo(dst, src []float32) {
	src = src[:len(dst)]
	for i, v := range src {
		dst[i] += v
	}
}

// transpose8Go is transpose8's loop.
func transpose8Go(dst []float32, dstStride int, src []float32, srcStride, n int) {
	if n == 0 {
		return
	}
	c0, c1, c2, c3 := src[:n], src[srcStride:srcStride+n], src[2*srcStride:2*srcStride+n], src[3*srcStride:3*srcStride+n]
	c4, c5, c6, c7 := src[4*srcStride:4*srcStride+n], src[5*srcStride:5*srcStride+n], src[6*srcStride:6*srcStride+n], src[7*srcStride:7*srcStride+n]
	for p := range c0 {
		o := (*[8]float32)(dst[p*dstStride : p*dstStride+8])
		o[0], o[1], o[2], o[3] = c0[p], c1[p], c2[p], c3[p]
		o[4], o[5], o[6], o[7] = c4[p], c5[p], c6[p], c7[p]
	}
}
