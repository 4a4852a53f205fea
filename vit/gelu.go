package vit

import "math"

// Feed-forward activations: the exact (erf) GELU of the ViT MLP and the
// SiLU of the SwiGLU variant, in float32, as scalar functions (the
// specification) and as row functions with AVX2/FMA and AVX-512 kernels.
//
// GELU. PyTorch's nn.GELU() (approximate="none") is x·Φ(x) =
// x/2·(1+erf(x/√2)). With s = |x| and the normal tail T(s) = Φ(−s),
//
//	GELU(x) = max(x, 0) − s·T(s)
//
// (x ≥ 0: x − x·Φ(−x) = x·Φ(x); x < 0: −s·Φ(−s) = x·Φ(x)), and T is
// written as a Gaussian times the Mills-ratio factor
//
//	T(s) = exp(−s²/2) · R(s),   R(s) = Φ(−s)·exp(s²/2),
//
// a smooth function falling from 1/2 to ≈ 1/(s√(2π)):
//
//   - exp(−s²/2) = 2^u with u = −a², a = s·√(log₂e / 2): n = round(u) via
//     the 1.5·2²³ trick, f = −a² − n ∈ [−½, ½] in one fused multiply-add,
//     2^f by a degree-6 minimax polynomial with constant term exactly 1
//     (relative error 2.6e−9), and 2ⁿ assembled in the exponent bits;
//   - R(s) ≈ (½ + p₁s + p₂s²)/(1 + q₁s + … + q₄s⁴), a minimax (Remez)
//     rational on [0, 6] with R(0) = ½ exactly, for the relative error ε
//     weighted by (s+0.1)·T(s)/(1+s), so that ε adds s·T(s)·ε ≤
//     4.7e−9·(1+s) to the result (ε ≤ 9.3e−8 near 0, larger only where
//     s·T(s) is tiny).
//
// All coefficients are positive, so every Horner step is well conditioned.
// The error of T is relative and s·T(s) ≤ 0.1·(1+s), so the few ulps of
// error in T add little: the result is dominated by its own final
// rounding. Measured against the float64 formula over every float32 with
// |x| ≤ 12 (TestActivationsExhaustive; TestGELUError sweeps 3.3 million of
// them): |error| ≤ 4.93e−8·(1+|x|), at x = 4.000152 (half an ulp of the
// result; the target was 2e−7·(1+|x|)). In ulps (TestGELUSmall): about 1
// for x ≥ 1 and up to about 4 on [−1, 1], so near 0 the result is x/2 to a
// few ulps. In the negative tail, where the result is tiny, the relative
// error grows (about 8 ulps at x = −2, 35 at −3, 800 at −3.8, for results
// of −0.05, −0.004 and −3e−4: absolute errors of about 2e−8); PyTorch's own
// float32 formula, even with a correctly rounded erf, is 1.5 to 5 times
// worse there, because 1+erf cancels. For s ≥ 6 the tail term is dropped
// (6·Φ(−6) ≈ 5.9e−9): GELU(x) = x for x ≥ 6 (and +Inf), 0 for x ≤ −6 (and
// −Inf), and NaN propagates.
//
// SiLU. silu(x) = x·σ(x) = x/(1+e^−x), with e^−x by the package's softmax
// exponential (Cody–Waite reduction by ln 2, Cephes degree-6 polynomial)
// widened to [−87, 88]; x is clamped below at −88, where silu(−88) ≈
// −5e−37 is already 0 in absolute terms (so silu(−Inf) ≈ −5e−37,
// silu(+Inf) = +Inf, NaN propagates). Relative error ≤ 1.74e−7 (3 ulps)
// on [−100, 100] wherever the result is above 1e−30.
//
// Every multiply-add of the Go code is an actFMA, mirroring the kernels'
// fused multiply-adds step for step, and the pure-Go functions and the
// assembly give bit-identical results (TestActivationsExhaustive checks
// all 2³² inputs).

// GELU constants (float32; see the comment above). The same values, as
// bits, are in gelu_amd64.s.
const (
	geluCut = 6         // beyond |x| = 6 the tail term is dropped
	geluK   = 0.8493218 // √(log₂e / 2): −s²/2·log₂e = −(s·geluK)²

	// 2^f ≈ 1 + f·(e1 + f·(e2 + … + f·e6)) on [−½, ½].
	geluE1 = 0.69314724
	geluE2 = 0.24022652
	geluE3 = 0.055503104
	geluE4 = 0.009617693
	geluE5 = 0.0013406643
	geluE6 = 0.00015594676

	// R(s) ≈ (½ + p1·s + p2·s²) / (1 + q1·s + q2·s² + q3·s³ + q4·s⁴).
	geluP1 = 0.18896194
	geluP2 = 0.036022257
	geluQ1 = 1.1758109
	geluQ2 = 0.51017505
	geluQ3 = 0.08525589
	geluQ4 = 0.00033430103

	// actMagic is 1.5·2²³: adding it rounds a float32 of magnitude below
	// 2²² to an integer, which then sits in the low mantissa bits.
	actMagic = 12582912
)

// SiLU constants: the exponential of expNeg, widened to [−87, 88].
const (
	siluLow    = -88 // x is clamped to ≥ −88
	siluExpMin = -87 // e^z with z clamped to ≥ −87 (e^−87 is still normal)
	siluLog2e  = 1.44269504088896341
	siluLn2Hi  = 0.693359375
	siluLn2Lo  = -2.12194440e-4
)

// actFMA returns a·b + c in float32 as a fused multiply-add computes it, up
// to double rounding: the float64 product of two float32 values is exact,
// the float64 sum is rounded once and then rounded to float32. (Whether the
// compiler fuses the float64 multiply-add, as it may on some
// architectures, changes nothing: the product is exact either way.) The
// double rounding can differ from one rounding only when the float64 sum
// lands exactly on a float32 midpoint (about one sum in 2²⁹); for every
// float32 input of geluErf and silu it never does: they match the kernels'
// VFMADD bit for bit (TestActivationsExhaustive).
func actFMA(a, b, c float32) float32 {
	return float32(float64(a)*float64(b) + float64(c))
}

// actPow2 returns 2ⁿ for the float32 t = 1.5·2²³ + n (−126 ≤ n ≤ 127):
// t's bits are 0x4B400000 + n, and shifting them left by 23 leaves n in the
// exponent field (the 0x4B400000 part shifts out), to which the bits of 1.0
// add the bias.
func actPow2(t float32) float32 {
	return math.Float32frombits(math.Float32bits(t)<<23 + 0x3F800000)
}

// geluErf is PyTorch's exact GELU, x·Φ(x) = x/2·(1+erf(x/√2)), in float32
// by max(x, 0) − s·exp(−s²/2)·R(s) with s = |x| (see the comment at the top
// of this file): |error| ≤ 4.9e−8·(1+|x|) against the float64 formula, x
// itself for x ≥ 6, 0 for x ≤ −6, NaN for NaN. It is the specification of
// the geluRow kernels, which return the same bits.
func geluErf(x float32) float32 {
	relu := x
	if x < 0 {
		relu = 0
	}
	s := math.Float32frombits(math.Float32bits(x) &^ (1 << 31))
	if !(s < geluCut) { // also ±Inf and NaN
		return relu
	}
	a := s * geluK
	t := actFMA(-a, a, actMagic) // 1.5·2²³ + round(−a²)
	n := t - actMagic
	f := actFMA(-a, a, -n) // −a² − n ∈ [−½, ½]
	p := actFMA(geluE6, f, geluE5)
	p = actFMA(p, f, geluE4)
	p = actFMA(p, f, geluE3)
	p = actFMA(p, f, geluE2)
	p = actFMA(p, f, geluE1)
	p = actFMA(p, f, 1)
	g := p * actPow2(t) // exp(−s²/2)
	num := actFMA(actFMA(geluP2, s, geluP1), s, 0.5)
	den := actFMA(actFMA(actFMA(actFMA(geluQ4, s, geluQ3), s, geluQ2), s, geluQ1), s, 1)
	tail := g * num / den // Φ(−s)
	return actFMA(-s, tail, relu)
}

// silu is x·σ(x) = x/(1+e^−x) in float32 (see the comment at the top of this
// file): relative error ≤ 1.74e−7 (3 ulps) wherever the result is above
// 1e−30, x clamped below at −88, NaN for NaN. It is the
// specification of the siluMulRow kernels: siluMulRow computes
// silu(a)·b with the same bits.
func silu(x float32) float32 {
	xc := x
	if x < siluLow {
		xc = siluLow
	}
	z := -xc
	if z < siluExpMin {
		z = siluExpMin
	}
	t := actFMA(z, siluLog2e, actMagic) // 1.5·2²³ + round(z·log₂e)
	n := t - actMagic
	r := actFMA(-n, siluLn2Hi, z)
	r = actFMA(-n, siluLn2Lo, r) // z − n·ln2 ∈ [−ln2/2, ln2/2] (about)
	p := actFMA(1.9875691500e-4, r, 1.3981999507e-3)
	p = actFMA(p, r, 8.3334519073e-3)
	p = actFMA(p, r, 4.1665795894e-2)
	p = actFMA(p, r, 1.6666665459e-1)
	p = actFMA(p, r, 5.0000001201e-1)
	p = actFMA(p, r*r, r) + 1 // e^r
	e := p * actPow2(t)       // e^z
	return xc / (1 + e)
}

// geluRow applies geluErf to x in place, with the widest kernel the CPU
// has; every path returns the same bits as geluErf.
func geluRow(x []float32) {
	switch {
	case useActAVX512:
		geluAVX512(x)
	case useActAVX2:
		geluRowAVX2(x)
	default:
		geluRowGeneric(x)
	}
}

// geluRowGeneric is the pure-Go geluRow.
func geluRowGeneric(x []float32) {
	for i, v := range x {
		x[i] = geluErf(v)
	}
}

// geluRowAVX2 runs the AVX2/FMA kernel on whole vectors of 8 and on the
// last few values padded to 8 in a stack buffer.
func geluRowAVX2(x []float32) {
	n := len(x) &^ 7
	if n > 0 {
		geluAVX2(x[:n])
	}
	if n < len(x) {
		var buf [8]float32
		k := copy(buf[:], x[n:])
		geluAVX2(buf[:])
		copy(x[n:], buf[:k])
	}
}

// siluMulRow sets dst[i] = silu(a[i])·b[i] (the SwiGLU gate) for i <
// len(dst), with the widest kernel the CPU has; every path returns the same
// bits as the scalar expression. a and b must be at least as long as dst.
func siluMulRow(dst, a, b []float32) {
	a, b = a[:len(dst)], b[:len(dst)]
	switch {
	case useActAVX512:
		siluMulAVX512(dst, a, b)
	case useActAVX2:
		siluMulRowAVX2(dst, a, b)
	default:
		siluMulRowGeneric(dst, a, b)
	}
}

// siluMulRowGeneric is the pure-Go siluMulRow.
func siluMulRowGeneric(dst, a, b []float32) {
	a, b = a[:len(dst)], b[:len(dst)]
	for i := range dst {
		dst[i] = silu(a[i]) * b[i]
	}
}

// siluMulRowAVX2 runs the AVX2/FMA kernel on whole vectors of 8 and on the
// last few values padded to 8 in stack buffers.
func siluMulRowAVX2(dst, a, b []float32) {
	a, b = a[:len(dst)], b[:len(dst)]
	n := len(dst) &^ 7
	if n > 0 {
		siluMulAVX2(dst[:n], a[:n], b[:n])
	}
	if n < len(dst) {
		var ta, tb, td [8]float32
		copy(ta[:], a[n:])
		copy(tb[:], b[n:])
		siluMulAVX2(td[:], ta[:], tb[:])
		copy(dst[n:], td[:])
	}
}
