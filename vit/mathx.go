package vit

import "math"

func sqrt(x float64) float64 { return math.Sqrt(x) }

// splitMix is a tiny deterministic generator for random weights.
type splitMix struct{ s uint64 }

func newSplitMix(seed uint64) *splitMix { return &splitMix{seed} }

func (r *splitMix) next() uint64 {
	r.s += 0x9e3779b97f4a7c15
	z := r.s
	z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9
	z = (z ^ (z >> 27)) * 0x94d049bb133111eb
	return z ^ (z >> 31)
}

func (r *splitMix) float() float64 { return float64(r.next()>>11) / (1 << 53) }

func (r *splitMix) norm() float64 {
	u1 := r.float()
	for u1 == 0 {
		u1 = r.float()
	}
	return math.Sqrt(-2*math.Log(u1)) * math.Cos(2*math.Pi*r.float())
}

// expNeg returns e^x for x ≤ 0 in float32, with relative error below 2e-7
// (ulp level); inputs below −87 are clamped to −87 (e^−87 ≈ 1.6e−38, the
// smallest value whose result stays a normal float), exactly as the AVX2
// kernel does.
// It is the softmax exponential: range reduction x = n·ln2 + r with |r| ≤
// ln2/2, a degree-6 polynomial for e^r, and 2^n assembled in the exponent
// bits.
func expNeg(x float32) float32 {
	x = max(x, -87)
	const (
		log2e = 1.44269504088896341
		ln2hi = 0.693359375
		ln2lo = -2.12194440e-4
		magic = 12582912 // 1.5·2²³: adding it rounds to an integer in the low mantissa bits
	)
	// n = round(x·log2 e) without int↔float conversions (cvtsi2ss carries a
	// false dependency that serialises the loop).
	t := x*log2e + magic
	n := t - magic
	ni := int32(math.Float32bits(t) - 0x4B400000)
	r := x - n*ln2hi - n*ln2lo
	// e^r on [−ln2/2, ln2/2] (Cephes expf coefficients).
	p := float32(1.9875691500e-4)
	p = p*r + 1.3981999507e-3
	p = p*r + 8.3334519073e-3
	p = p*r + 4.1665795894e-2
	p = p*r + 1.6666665459e-1
	p = p*r + 5.0000001201e-1
	p = p*r*r + r + 1
	return p * math.Float32frombits(uint32(ni+127)<<23)
}
