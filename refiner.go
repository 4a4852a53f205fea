package dinotracker

import (
	"dinotracker/internal/rowconv"
	"fmt"
	"math"
	"math/rand/v2"

	"dinotracker/internal/parallel"
)

// The tracker head's refiner CNN (upstream models/networks/tracker_head.py
// cnn_refiner and models/networks/conv_norm.py NormalizedConv2d):
//
//	cost [1, GH, GW] → NormalizedConv2d(1→16, 3×3, pad 1) → ReLU
//	                 → NormalizedConv2d(16→1, 3×3, pad 1) → logits [1, GH, GW]
//
// A NormalizedConv2d divides every 3×3 kernel slice w[o, i] by its own sum
// before the convolution (zero padding, stride 1, PyTorch's
// cross-correlation); the bias is added unnormalised.

// RefinerHidden is the refiner's hidden channel count.
const RefinerHidden = 16

// RefinerSumEps is the floor on a kernel slice's |sum|: a slice whose sum
// s has |s| < RefinerSumEps is divided by sign(s)·RefinerSumEps instead.
const RefinerSumEps = 1e-8

const refinerKK = 9 // 3×3 taps

// Refiner holds the refiner's parameters as plain slices in PyTorch layout
// and state_dict naming. The same type holds their gradients.
type Refiner struct {
	W0 []float32 // cnn_refiner.0.weight [16, 1, 3, 3]: W0[o*9 + u*3 + v]
	B0 []float32 // cnn_refiner.0.bias [16]
	W2 []float32 // cnn_refiner.2.weight [1, 16, 3, 3]: W2[i*9 + u*3 + v]
	B2 []float32 // cnn_refiner.2.bias [1]
}

// RefinerParam names one parameter tensor of a Refiner.
type RefinerParam struct {
	Name  string    // PyTorch state_dict key, e.g. "cnn_refiner.0.weight"
	Shape []int     // PyTorch shape
	Data  []float32 // aliases the Refiner's slice
}

// NewRefinerZero returns a Refiner with all parameters zero, e.g. to
// accumulate gradients into.
func NewRefinerZero() *Refiner {
	return &Refiner{
		W0: make([]float32, RefinerHidden*refinerKK),
		B0: make([]float32, RefinerHidden),
		W2: make([]float32, RefinerHidden*refinerKK),
		B2: make([]float32, 1),
	}
}

// NewRefiner returns a Refiner initialised as upstream (PyTorch's defaults
// in NormalizedConv2d.reset_parameters): weights kaiming_uniform(a=√5),
// i.e. U(−1/√fan_in, 1/√fan_in), and biases U(−1/√fan_in, 1/√fan_in),
// with fan_in = in_channels·9 (9 for the first layer, 144 for the second),
// drawn from rng in the order W0, B0, W2, B2. Such kernels have sums near
// zero, so the normalised kernels are large; upstream trains from there.
func NewRefiner(rng *rand.Rand) *Refiner {
	r := NewRefinerZero()
	fill := func(dst []float32, bound float64) {
		for i := range dst {
			dst[i] = float32((2*rng.Float64() - 1) * bound)
		}
	}
	b0 := 1 / math.Sqrt(1*refinerKK)
	b2 := 1 / math.Sqrt(RefinerHidden*refinerKK)
	fill(r.W0, b0)
	fill(r.B0, b0)
	fill(r.W2, b2)
	fill(r.B2, b2)
	return r
}

// Params lists the parameters with their state_dict names and shapes.
func (r *Refiner) Params() []RefinerParam {
	return []RefinerParam{
		{"cnn_refiner.0.weight", []int{RefinerHidden, 1, 3, 3}, r.W0},
		{"cnn_refiner.0.bias", []int{RefinerHidden}, r.B0},
		{"cnn_refiner.2.weight", []int{1, RefinerHidden, 3, 3}, r.W2},
		{"cnn_refiner.2.bias", []int{1}, r.B2},
	}
}

// Zero sets every parameter to zero.
func (r *Refiner) Zero() {
	clear(r.W0)
	clear(r.B0)
	clear(r.W2)
	clear(r.B2)
}

// Clone returns a deep copy.
func (r *Refiner) Clone() *Refiner {
	return &Refiner{
		W0: append([]float32(nil), r.W0...),
		B0: append([]float32(nil), r.B0...),
		W2: append([]float32(nil), r.W2...),
		B2: append([]float32(nil), r.B2...),
	}
}

// Add adds o's parameters to r's (r += o), e.g. to reduce per-worker
// gradients.
func (r *Refiner) Add(o *Refiner) {
	for k, p := range r.Params() {
		for i, v := range o.Params()[k].Data {
			p.Data[i] += v
		}
	}
}

// RefinerKernels holds the normalised kernels of one Refiner state
// (see Refiner.Kernels). Recompute it whenever the parameters change.
type RefinerKernels struct {
	W0, W2   [RefinerHidden * refinerKK]float32 // normalised kernels, layout as Refiner
	S0, S2   [RefinerHidden]float32             // the divisor of each slice (after the floor)
	Clamped0 [RefinerHidden]bool                // |raw sum| < RefinerSumEps
	Clamped2 [RefinerHidden]bool
}

// Kernels computes the normalised kernels w[o,i]/Σw[o,i] into k (upstream
// NormalizedConv2d.get_weight_sum). A slice whose sum s has |s| <
// RefinerSumEps is divided by sign(s)·RefinerSumEps; when s is exactly 0
// that divisor is 0 and the normalised slice is ±Inf/NaN, as upstream.
func (r *Refiner) Kernels(k *RefinerKernels) {
	normalizeKernels(&k.W0, &k.S0, &k.Clamped0, r.W0)
	normalizeKernels(&k.W2, &k.S2, &k.Clamped2, r.W2)
}

func abs32(x float32) float32 { return math.Float32frombits(math.Float32bits(x) &^ (1 << 31)) }

func normalizeKernels(dst *[RefinerHidden * refinerKK]float32, sums *[RefinerHidden]float32, clamped *[RefinerHidden]bool, w []float32) {
	for o := 0; o < RefinerHidden; o++ {
		sl := w[o*refinerKK : (o+1)*refinerKK]
		var s64 float64
		for _, v := range sl {
			s64 += float64(v)
		}
		s := float32(s64)
		clamped[o] = false
		if abs32(s) < float32(RefinerSumEps) { // float32 compare, as torch
			clamped[o] = true
			switch {
			case s > 0:
				s = RefinerSumEps
			case s < 0:
				s = -RefinerSumEps
			default:
				s = 0 // torch.sign(0) = 0: upstream divides by zero
			}
		}
		sums[o] = s
		for j, v := range sl {
			dst[o*refinerKK+j] = v / s
		}
	}
}

// RefinerScratchLen is the scratch length Refiner.Backward needs for a
// GH×GW map.
func RefinerScratchLen(gh, gw int) int { return gh * gw }

func checkRefinerMap(what string, x []float32, n int) {
	if len(x) < n {
		panic(fmt.Sprintf("dinotracker: refiner %s holds %d values, want %d", what, len(x), n))
	}
}

// Forward runs the refiner on one map: in [GH·GW] (the ReLU'd cost volume)
// → out [GH·GW] (the logits). hidden [16·GH·GW] receives the post-ReLU
// hidden activations, which Backward needs. k must hold r.Kernels. It runs
// on the calling goroutine and does not allocate; out and hidden are
// overwritten.
func (r *Refiner) Forward(k *RefinerKernels, out, hidden, in []float32, gh, gw int) {
	p := gh * gw
	checkRefinerMap("in", in, p)
	checkRefinerMap("out", out, p)
	checkRefinerMap("hidden", hidden, RefinerHidden*p)
	o2 := out[:p]
	for j := range o2 {
		o2[j] = r.B2[0]
	}
	for o := 0; o < RefinerHidden; o++ {
		h := hidden[o*p : (o+1)*p]
		b := r.B0[o]
		for j := range h {
			h[j] = b
		}
		conv3x3Acc(h, in, k.W0[o*refinerKK:(o+1)*refinerKK], gh, gw)
		for j, v := range h {
			if !(v > 0) && !(v != v) { // ReLU; NaN passes as in PyTorch
				h[j] = 0
			}
		}
		conv3x3Acc(o2, h, k.W2[o*refinerKK:(o+1)*refinerKK], gh, gw)
	}
}

// Backward accumulates the gradients of one Forward call (same k, hidden
// and in) given dOut = dL/dout [GH·GW]: dL/d(raw parameters) are added into
// grad (nil skips them) and dL/din is written to dIn (overwritten; nil
// skips it). scratch needs RefinerScratchLen values (nil allocates).
//
// Weight gradients go through the normalisation: with wn = w/s and
// s = Σ w over the slice, dL/dw_m = (dL/dwn_m − Σ_k dL/dwn_k·wn_k)/s. A
// clamped slice (|s| < RefinerSumEps) has the constant divisor
// ±RefinerSumEps, so there dL/dw = dL/dwn/s with no sum term, which is what
// autograd gives for upstream's in-place replacement of the sum. Biases are
// not normalised.
func (r *Refiner) Backward(k *RefinerKernels, grad *Refiner, dIn, dOut, hidden, in []float32, gh, gw int, scratch []float32) {
	p := gh * gw
	checkRefinerMap("dOut", dOut, p)
	checkRefinerMap("in", in, p)
	checkRefinerMap("hidden", hidden, RefinerHidden*p)
	if len(scratch) < p {
		scratch = make([]float32, p)
	}
	da := scratch[:p]
	if dIn != nil {
		checkRefinerMap("dIn", dIn, p)
		clear(dIn[:p])
	}
	var dwn0, dwn2 [RefinerHidden * refinerKK]float64
	var db0 [RefinerHidden]float64
	var db2 float64
	for _, g := range dOut[:p] {
		db2 += float64(g)
	}
	for o := 0; o < RefinerHidden; o++ {
		h := hidden[o*p : (o+1)*p]
		kernelGradAcc(dwn2[o*refinerKK:(o+1)*refinerKK], dOut, h, gh, gw)
		clear(da)
		conv3x3TAcc(da, dOut, k.W2[o*refinerKK:(o+1)*refinerKK], gh, gw)
		var sb float64
		for j, v := range h {
			if !(v > 0) {
				da[j] = 0
			}
			sb += float64(da[j])
		}
		db0[o] += sb
		kernelGradAcc(dwn0[o*refinerKK:(o+1)*refinerKK], da, in, gh, gw)
		if dIn != nil {
			conv3x3TAcc(dIn, da, k.W0[o*refinerKK:(o+1)*refinerKK], gh, gw)
		}
	}
	if grad == nil {
		return
	}
	grad.B2[0] += float32(db2)
	for o := range db0 {
		grad.B0[o] += float32(db0[o])
	}
	unnormalizeGrad(grad.W0, &dwn0, &k.W0, &k.S0, &k.Clamped0)
	unnormalizeGrad(grad.W2, &dwn2, &k.W2, &k.S2, &k.Clamped2)
}

// unnormalizeGrad adds dL/dw to dw given dL/dwn per slice (see Backward).
func unnormalizeGrad(dw []float32, dwn *[RefinerHidden * refinerKK]float64, wn *[RefinerHidden * refinerKK]float32, sums *[RefinerHidden]float32, clamped *[RefinerHidden]bool) {
	for o := 0; o < RefinerHidden; o++ {
		s := float64(sums[o])
		var dot float64
		if !clamped[o] {
			for j := 0; j < refinerKK; j++ {
				dot += dwn[o*refinerKK+j] * float64(wn[o*refinerKK+j])
			}
		}
		for j := 0; j < refinerKK; j++ {
			dw[o*refinerKK+j] += float32((dwn[o*refinerKK+j] - dot) / s)
		}
	}
}

// conv3x3Acc adds the zero-padded 3×3 cross-correlation of src with k to
// dst: dst[r, c] += Σ_{u,v} k[u*3+v]·src[r+u−1, c+v−1].
func conv3x3Acc(dst, src, k []float32, gh, gw int) {
	k = k[:9]
	for r := 0; r < gh; r++ {
		d := dst[r*gw : (r+1)*gw]
		for u := 0; u < 3; u++ {
			sr := r + u - 1
			if sr < 0 || sr >= gh {
				continue
			}
			row3Acc(d, src[sr*gw:(sr+1)*gw], k[u*3], k[u*3+1], k[u*3+2])
		}
	}
}

// row3Acc adds k0·s[j−1] + k1·s[j] + k2·s[j+1] (zero outside s) to d[j].
func row3Acc(d, s []float32, k0, k1, k2 float32) {
	n := len(d)
	s = s[:n]
	if n == 1 {
		d[0] += k1 * s[0]
		return
	}
	d[0] += k1*s[0] + k2*s[1]
	// Interior: three shifted views of s (an AVX2 kernel on amd64, with
	// the same operations in the same order as the Go loop).
	m := n - 2
	rowconv.Acc3(d[1:n-1], s[0:m], s[1:m+1], s[2:m+2], k0, k1, k2)
	d[n-1] += k0*s[n-2] + k1*s[n-1]
}

// conv3x3TAcc is the adjoint of conv3x3Acc with respect to src:
// dst[r+u−1, c+v−1] += k[u*3+v]·src[r, c] for in-range positions, i.e. the
// cross-correlation with the kernel rotated by 180°.
func conv3x3TAcc(dst, src, k []float32, gh, gw int) {
	var f [9]float32
	for i := range f {
		f[i] = k[8-i]
	}
	conv3x3Acc(dst, src, f[:], gh, gw)
}

// kernelGradAcc adds dk[u*3+v] += Σ_{r,c} g[r, c]·src[r+u−1, c+v−1] (the
// kernel gradient of conv3x3Acc), accumulating each row in float32 and the
// rows in float64.
func kernelGradAcc(dk []float64, g, src []float32, gh, gw int) {
	dk = dk[:9]
	for r := 0; r < gh; r++ {
		gr := g[r*gw : (r+1)*gw]
		for u := 0; u < 3; u++ {
			sr := r + u - 1
			if sr < 0 || sr >= gh {
				continue
			}
			a0, a1, a2 := row3Dots(gr, src[sr*gw:(sr+1)*gw])
			dk[u*3] += float64(a0)
			dk[u*3+1] += float64(a1)
			dk[u*3+2] += float64(a2)
		}
	}
}

// row3Dots returns Σ_j g[j]·s[j−1], Σ_j g[j]·s[j] and Σ_j g[j]·s[j+1]
// (terms outside s dropped).
func row3Dots(g, s []float32) (a0, a1, a2 float32) {
	n := len(g)
	s = s[:n]
	if n == 1 {
		return 0, g[0] * s[0], 0
	}
	a1 = g[0]*s[0] + g[n-1]*s[n-1]
	a2 = g[0] * s[1]
	a0 = g[n-1] * s[n-2]
	for j := 1; j < n-1; j++ {
		gj := g[j]
		a0 += gj * s[j-1]
		a1 += gj * s[j]
		a2 += gj * s[j+1]
	}
	return a0, a1, a2
}

// ForwardBatch runs Forward on n maps in parallel: in, out [n·GH·GW],
// hidden [n·16·GH·GW] (map m's slices start at m·GH·GW and m·16·GH·GW).
func (r *Refiner) ForwardBatch(k *RefinerKernels, out, hidden, in []float32, n, gh, gw int) {
	p := gh * gw
	parallel.For(n, 1, func(lo, hi int) {
		for m := lo; m < hi; m++ {
			r.Forward(k, out[m*p:(m+1)*p], hidden[m*RefinerHidden*p:(m+1)*RefinerHidden*p], in[m*p:(m+1)*p], gh, gw)
		}
	})
}

// BackwardBatch runs Backward on n maps in parallel (layouts as
// ForwardBatch; dIn may be nil) and adds the summed parameter gradients
// into grad. Each worker accumulates into its own Refiner, which are then
// added in chunk order, so the result does not depend on scheduling.
func (r *Refiner) BackwardBatch(k *RefinerKernels, grad *Refiner, dIn, dOut, hidden, in []float32, n, gh, gw int) {
	p := gh * gw
	parts := make([]*Refiner, n) // parts[lo] holds the chunk starting at lo
	parallel.For(n, 1, func(lo, hi int) {
		g := NewRefinerZero()
		scratch := make([]float32, p)
		for m := lo; m < hi; m++ {
			var di []float32
			if dIn != nil {
				di = dIn[m*p : (m+1)*p]
			}
			r.Backward(k, g, di, dOut[m*p:(m+1)*p], hidden[m*RefinerHidden*p:(m+1)*RefinerHidden*p], in[m*p:(m+1)*p], gh, gw, scratch)
		}
		parts[lo] = g
	})
	if grad == nil {
		return
	}
	for _, g := range parts {
		if g != nil {
			grad.Add(g)
		}
	}
}

// refinerForwardRef is the reference loop for Refiner.Forward: direct
// 3×3 sums in float64 (refinerForwardRef64) on r's parameters.
func refinerForwardRef(r *Refiner, out, hidden, in []float32, gh, gw int) {
	to64 := func(v []float32) []float64 {
		o := make([]float64, len(v))
		for i, x := range v {
			o[i] = float64(x)
		}
		return o
	}
	o, h := refinerForwardRef64(to64(r.W0), to64(r.B0), to64(r.W2), to64(r.B2), to64(in[:gh*gw]), gh, gw)
	for i, v := range o {
		out[i] = float32(v)
	}
	for i, v := range h {
		hidden[i] = float32(v)
	}
}

// refinerForwardRef64 is the refiner in float64 with plain loops: each
// slice divided by its sum (floored at ±RefinerSumEps, 0 stays 0), zero
// padding, ReLU between the layers. It returns the output [gh·gw] and the
// post-ReLU hidden maps [16·gh·gw].
func refinerForwardRef64(w0, b0, w2, b2, in []float64, gh, gw int) (out, hidden []float64) {
	p := gh * gw
	norm := func(w []float64, o int) [9]float64 {
		var s float64
		for j := 0; j < 9; j++ {
			s += w[o*9+j]
		}
		if math.Abs(s) < RefinerSumEps && s != 0 {
			s = math.Copysign(RefinerSumEps, s)
		}
		var k [9]float64
		for j := range k {
			k[j] = w[o*9+j] / s
		}
		return k
	}
	at := func(m []float64, r, c int) float64 {
		if r < 0 || r >= gh || c < 0 || c >= gw {
			return 0
		}
		return m[r*gw+c]
	}
	hidden = make([]float64, RefinerHidden*p)
	for o := 0; o < RefinerHidden; o++ {
		k := norm(w0, o)
		for y := 0; y < gh; y++ {
			for x := 0; x < gw; x++ {
				s := b0[o]
				for u := 0; u < 3; u++ {
					for v := 0; v < 3; v++ {
						s += k[u*3+v] * at(in, y+u-1, x+v-1)
					}
				}
				hidden[o*p+y*gw+x] = math.Max(s, 0)
			}
		}
	}
	out = make([]float64, p)
	for o := 0; o < RefinerHidden; o++ {
		k := norm(w2, o)
		for y := 0; y < gh; y++ {
			for x := 0; x < gw; x++ {
				s := 0.0
				for u := 0; u < 3; u++ {
					for v := 0; v < 3; v++ {
						s += k[u*3+v] * at(hidden[o*p:(o+1)*p], y+u-1, x+v-1)
					}
				}
				out[y*gw+x] += s
			}
		}
	}
	for j := range out {
		out[j] += b2[0]
	}
	return out, hidden
}
