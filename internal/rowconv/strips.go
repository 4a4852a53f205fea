package rowconv

import "math"

// StripWidth is how many output columns Conv3Strips computes per strip;
// callers pad their rows to a multiple of it.
const StripWidth = 64

// Conv3Strips computes n = StripWidth·nstrips outputs of a multi-channel
// 3×3 cross-correlation from padded rows:
//
//	dst[j] = bias + Σ_{ch<nch} Σ_{u<3} Σ_{v<3} w[ch·9+u·3+v] · src[ch·chStride + u·rowStride + j + v]
//
// accumulated in that order (channel, row, column) with fused multiply-adds
// (FMA32), starting from bias. With relu set, negative results become 0
// (NaN and −0 pass unchanged). src must hold every value the sum reads;
// zero padding is the caller's. The AVX2 kernel and the Go loop give
// bit-identical results.
func Conv3Strips(dst, src []float32, chStride, rowStride, nch int, w []float32, bias float32, nstrips int, relu bool) {
	n := StripWidth * nstrips
	if n == 0 {
		return
	}
	_ = dst[n-1]
	_ = w[nch*9-1]
	_ = src[(nch-1)*chStride+2*rowStride+n+1]
	if conv3StripsAsm(dst, src, chStride, rowStride, nch, w, bias, nstrips, relu) {
		return
	}
	conv3StripsGo(dst, src, chStride, rowStride, nch, w, bias, n, relu)
}

// Conv3Strips4 computes four output rows of Conv3Strips at once: row r
// (r < 4) is Conv3Strips(dst[r·dstStride:], src[r·rowStride:], …), bit for
// bit. Where the CPU has a kernel for it, each source row is read once for
// every output row that uses it.
func Conv3Strips4(dst []float32, dstStride int, src []float32, chStride, rowStride, nch int, w []float32, bias float32, nstrips int, relu bool) {
	n := StripWidth * nstrips
	if n == 0 {
		return
	}
	_ = dst[3*dstStride+n-1]
	_ = w[nch*9-1]
	_ = src[(nch-1)*chStride+5*rowStride+n+1]
	if conv3Strips4Asm(dst, dstStride, src, chStride, rowStride, nch, w, bias, nstrips, relu) {
		return
	}
	for r := 0; r < 4; r++ {
		Conv3Strips(dst[r*dstStride:], src[r*rowStride:], chStride, rowStride, nch, w, bias, nstrips, relu)
	}
}

// Conv3StripsMulti runs the one-input-channel Conv3Strips for nout
// outputs at once: output o (weights w[o·9:], bias bias[o]) goes to
// dst[o·dstStride:], each from the same padded rows src. Each output's
// values are Conv3Strips' bits.
func Conv3StripsMulti(dst []float32, dstStride int, src []float32, rowStride int, w, bias []float32, nout, nstrips int, relu bool) {
	n := StripWidth * nstrips
	if n == 0 || nout == 0 {
		return
	}
	_ = dst[(nout-1)*dstStride+n-1]
	_ = w[nout*9-1]
	_ = bias[nout-1]
	_ = src[2*rowStride+n+1]
	if conv3x1MultiAsm(dst, dstStride, src, rowStride, w, bias, nout, nstrips, relu) {
		return
	}
	for o := 0; o < nout; o++ {
		conv3StripsGo(dst[o*dstStride:], src, 0, rowStride, 1, w[o*9:], bias[o], n, relu)
	}
}

// conv3StripsGo is the specification of Conv3Strips (n outputs): each
// output accumulates its taps in (channel, row, column) order, each tap a
// correctly rounded float32 fused multiply-add.
func conv3StripsGo(dst, src []float32, chStride, rowStride, nch int, w []float32, bias float32, n int, relu bool) {
	conv3StripsLoop(dst, src, chStride, rowStride, nch, w, bias, n, relu, tapFMA32)
}

// conv3StripsLoop runs the taps of Conv3Strips on n outputs in its order,
// each whole row of one tap through tap (d[j] = k·s[j] + d[j], rounded
// once), then the ReLU.
func conv3StripsLoop(dst, src []float32, chStride, rowStride, nch int, w []float32, bias float32, n int, relu bool, tap func(d, s []float32, k float32)) {
	d := dst[:n]
	for j := range d {
		d[j] = bias
	}
	for ch := 0; ch < nch; ch++ {
		for u := 0; u < 3; u++ {
			row := src[ch*chStride+u*rowStride:]
			for v := 0; v < 3; v++ {
				tap(d, row[v:v+n], w[ch*9+u*3+v])
			}
		}
	}
	if relu {
		for j, v := range d {
			if v < 0 {
				d[j] = 0
			}
		}
	}
}

// tapFMA32 is d[j] = FMA32(k, s[j], d[j]) with FMA32's fast path inlined.
func tapFMA32(d, s []float32, k float32) {
	s = s[:len(d)]
	kk := float64(k)
	for j, x := range s {
		p, c := kk*float64(x), float64(d[j])
		sum := p + c
		if bits := math.Float64bits(sum); bits&(1<<29-1) != 1<<28 && (bits>>52)&0x7ff >= 1023-126 {
			d[j] = float32(sum)
		} else {
			d[j] = fma32Slow(p, c, sum)
		}
	}
}

// FMA32 returns a·b + c rounded once to float32 (round to nearest even), as
// the VFMADD instructions compute it. float32(math.FMA(…)) would round
// twice, first to float64: a·b is exact in float64, so a·b + c = s + e
// exactly (TwoSum), and the second rounding can only go wrong when s lies
// exactly halfway between two float32 values while e ≠ 0; then e decides.
func FMA32(a, b, c float32) float32 {
	p := float64(a) * float64(b)
	s := p + float64(c)
	// Fast path: s is not a float32 midpoint (its low 29 mantissa bits
	// are not exactly 1000…0) and not in float32's subnormal range.
	if bits := math.Float64bits(s); bits&(1<<29-1) != 1<<28 && (bits>>52)&0x7ff >= 1023-126 {
		return float32(s)
	}
	return fma32Slow(p, float64(c), s)
}

// fma32Slow is FMA32 when s = fl64(p + cc) may be a float32 midpoint.
func fma32Slow(p, cc, s float64) float32 {
	r := float32(s)
	if float64(r) == s || math.IsInf(s, 0) || s != s {
		return r
	}
	bb := s - p
	e := (p - (s - bb)) + (cc - bb)
	if e == 0 {
		return r
	}
	other := math.Nextafter32(r, float32(math.Copysign(math.Inf(1), s-float64(r))))
	if math.IsInf(float64(other), 0) || s != (float64(r)+float64(other))/2 {
		return r
	}
	if (e > 0) == (other > r) {
		return other
	}
	return r
}
