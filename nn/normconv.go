package nn

import "math"

// KernelSumEps is NormalizedConv2d's threshold on a kernel slice's sum.
const KernelSumEps = 1e-8

// NormalizeKernelsForward is the weight transform of DINO-Tracker's
// NormalizedConv2d (models/networks/conv_norm.py): every kernel slice
// w[o, i, :, :] (k = kh·kw values) is divided by its own sum,
//
//	out[s, :] = w[s, :] / σ_s,  σ_s = Σ w[s, :]  (slices s = 0..slices-1),
//
// except that a sum with |σ| < KernelSumEps is replaced by
// sign(σ)·KernelSumEps (so an exactly zero sum divides by zero, as upstream).
// sums [slices] receives the σ actually used. The bias is not normalised;
// run Conv2dForward with out as the weights.
func NormalizeKernelsForward(out, sums, w []float32, slices, k int) {
	checkLen("NormalizeKernelsForward", "w", w, slices*k)
	checkLen("NormalizeKernelsForward", "out", out, slices*k)
	checkLen("NormalizeKernelsForward", "sums", sums, slices)
	for s := 0; s < slices; s++ {
		var acc float32 // float32 like torch.sum over 9 values
		for _, v := range w[s*k : (s+1)*k] {
			acc += v
		}
		if float32(math.Abs(float64(acc))) < KernelSumEps {
			switch {
			case acc > 0:
				acc = KernelSumEps
			case acc < 0:
				acc = -KernelSumEps
			}
		}
		sums[s] = acc
		for i, v := range w[s*k : (s+1)*k] {
			out[s*k+i] = v / acc
		}
	}
}

// NormalizeKernelsBackward accumulates dw from dout (the gradient w.r.t. the
// normalised weights): dw[s, i] += (dout[s, i] - ⟨dout[s], out[s]⟩)/σ_s. Where
// the clamp replaced σ the replacement is a constant, so only dout/σ flows.
func NormalizeKernelsBackward(dw, dout, out, sums, w []float32, slices, k int) {
	checkLen("NormalizeKernelsBackward", "dw", dw, slices*k)
	for s := 0; s < slices; s++ {
		sg := sums[s]
		var d float64
		var acc float32
		for i, v := range w[s*k : (s+1)*k] {
			acc += v
			d += float64(dout[s*k+i]) * float64(out[s*k+i])
		}
		clamped := float32(math.Abs(float64(acc))) < KernelSumEps
		for i := 0; i < k; i++ {
			g := dout[s*k+i]
			if !clamped {
				g -= float32(d)
			}
			dw[s*k+i] += g / sg
		}
	}
}
