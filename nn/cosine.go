package nn

import (
	"math"

	"dinotracker/gemm"
	"dinotracker/internal/parallel"
)

// NormalizeEps is F.normalize's default eps.
const NormalizeEps = 1e-12

// CosineEps is the clamp DINO-Tracker puts on ‖a‖·‖b‖ in its cosine maps.
const CosineEps = 1e-8

// channelNorms writes norms[b*inner+i] = ‖x[b, :, i]‖ for x [n, c, inner],
// accumulated in float64.
func channelNorms(norms, x []float32, n, c, inner int) {
	parallel.For(n, 1, func(lo, hi int) {
		acc := make([]float64, inner)
		for b := lo; b < hi; b++ {
			clear(acc)
			for ch := 0; ch < c; ch++ {
				for i, v := range x[(b*c+ch)*inner : (b*c+ch+1)*inner] {
					acc[i] += float64(v) * float64(v)
				}
			}
			for i, s := range acc {
				norms[b*inner+i] = float32(math.Sqrt(s))
			}
		}
	})
}

// ChannelNormForward sets out[b, i] = ‖x[b, :, i]‖₂ for x [n, c, inner]
// (torch.norm(x, dim=1)); out [n, inner]. For a [T, C, H, W] feature stack
// use n=T, inner=H*W; for row vectors [N, C] use inner=1.
func ChannelNormForward(out, x []float32, n, c, inner int) {
	checkLen("ChannelNormForward", "x", x, n*c*inner)
	checkLen("ChannelNormForward", "out", out, n*inner)
	channelNorms(out, x, n, c, inner)
}

// ChannelNormBackward accumulates dx += dout·x/‖x‖ (0 where ‖x‖ = 0, as
// PyTorch's norm backward); out is the forward result.
func ChannelNormBackward(dx, dout, out, x []float32, n, c, inner int) {
	checkLen("ChannelNormBackward", "dx", dx, n*c*inner)
	parallel.For(n*c, 1, func(lo, hi int) {
		for p := lo; p < hi; p++ {
			b := p / c
			for i, v := range x[p*inner : (p+1)*inner] {
				if nv := out[b*inner+i]; nv > 0 {
					dx[p*inner+i] += dout[b*inner+i] * v / nv
				}
			}
		}
	})
}

// NormalizeForward is F.normalize(x, dim=1, eps): out = x / max(‖x‖, eps)
// along the channel axis of x [n, c, inner]; norms [n, inner] receives ‖x‖
// for the backward pass.
func NormalizeForward(out, norms, x []float32, n, c, inner int, eps float32) {
	checkLen("NormalizeForward", "x", x, n*c*inner)
	checkLen("NormalizeForward", "out", out, n*c*inner)
	checkLen("NormalizeForward", "norms", norms, n*inner)
	channelNorms(norms, x, n, c, inner)
	parallel.For(n*c, 1, func(lo, hi int) {
		for p := lo; p < hi; p++ {
			b := p / c
			for i, v := range x[p*inner : (p+1)*inner] {
				out[p*inner+i] = v / max(norms[b*inner+i], eps)
			}
		}
	})
}

// NormalizeBackward accumulates the gradient of NormalizeForward: with
// y = out and ν = ‖x‖, dx += (dout - y·⟨y, dout⟩)/ν where ν > eps, and
// dx += dout/eps where the clamp is active.
func NormalizeBackward(dx, dout, out, norms []float32, n, c, inner int, eps float32) {
	checkLen("NormalizeBackward", "dx", dx, n*c*inner)
	parallel.For(n, 1, func(lo, hi int) {
		dot := make([]float64, inner)
		for b := lo; b < hi; b++ {
			clear(dot)
			for ch := 0; ch < c; ch++ {
				o := (b*c + ch) * inner
				for i := 0; i < inner; i++ {
					dot[i] += float64(out[o+i]) * float64(dout[o+i])
				}
			}
			for ch := 0; ch < c; ch++ {
				o := (b*c + ch) * inner
				for i := 0; i < inner; i++ {
					nv := norms[b*inner+i]
					if nv > eps {
						dx[o+i] += (dout[o+i] - out[o+i]*float32(dot[i])) / nv
					} else {
						dx[o+i] += dout[o+i] / eps
					}
				}
			}
		}
	})
}

// CostVolumeForward sets out[q, p] = ⟨qv[q, :], f[:, p]⟩: n query vectors
// qv [n, c] against one feature map f [c, hw] (hw = H*W), out [n, hw], as
// one GEMM.
func CostVolumeForward(out, qv, f []float32, n, c, hw int) {
	checkLen("CostVolumeForward", "qv", qv, n*c)
	checkLen("CostVolumeForward", "f", f, c*hw)
	checkLen("CostVolumeForward", "out", out, n*hw)
	gemm.MatMul(false, false, n, hw, c, 1, qv, c, f, hw, 0, out, hw)
}

// CostVolumeBackward accumulates dqv [n, c] += dout·fᵀ and df [c, hw] +=
// qvᵀ·dout (either may be nil).
func CostVolumeBackward(dqv, df, dout, qv, f []float32, n, c, hw int) {
	if dqv != nil {
		checkLen("CostVolumeBackward", "dqv", dqv, n*c)
		gemm.MatMul(false, true, n, c, hw, 1, dout, hw, f, hw, 1, dqv, c)
	}
	if df != nil {
		checkLen("CostVolumeBackward", "df", df, c*hw)
		gemm.MatMul(true, false, c, hw, n, 1, qv, c, dout, hw, 1, df, hw)
	}
}

// CosineCostForward is DINO-Tracker's cosine cost volume
// (Tracker.get_corr_maps_for_frame_set, get_bb_pairs_contrastive_loss):
//
//	out[q, p] = ⟨qv[q], f[:, p]⟩ / max(‖qv[q]‖·‖f[:, p]‖, eps)
//
// for qv [n, c] and f [c, hw]; out [n, hw]. qnorm [n] and fnorm [hw]
// receive the norms for the backward pass. eps is CosineEps upstream.
func CosineCostForward(out, qnorm, fnorm, qv, f []float32, n, c, hw int, eps float32) {
	checkLen("CosineCostForward", "qnorm", qnorm, n)
	checkLen("CosineCostForward", "fnorm", fnorm, hw)
	CostVolumeForward(out, qv, f, n, c, hw)
	channelNorms(qnorm, qv, n, c, 1)
	channelNorms(fnorm, f, 1, c, hw)
	parallel.For(n, 1, func(lo, hi int) {
		for q := lo; q < hi; q++ {
			row := out[q*hw : (q+1)*hw]
			for p := range row {
				row[p] /= max(qnorm[q]*fnorm[p], eps)
			}
		}
	})
}

// CosineCostBackward accumulates the gradients of CosineCostForward given
// dout [n, hw] (out, qnorm, fnorm are the forward's results). With
// den = ‖q‖‖f‖ where it exceeds eps:
//
//	∂out/∂q = f/den - out·q/‖q‖²,  ∂out/∂f = q/den - out·f/‖f‖²;
//
// where the clamp is active den = eps and only the first terms remain.
// scratch must hold n*hw values (nil allocates). dqv or df may be nil.
func CosineCostBackward(dqv, df, dout, out, qnorm, fnorm, qv, f []float32, n, c, hw int, eps float32, scratch []float32) {
	checkLen("CosineCostBackward", "dout", dout, n*hw)
	if scratch == nil {
		scratch = make([]float32, n*hw)
	}
	checkLen("CosineCostBackward", "scratch", scratch, n*hw)
	a := scratch[:n*hw]
	// a = dout/den; sq[q] = Σ_p dout·out/‖q‖² over unclamped p;
	// sf[p] = Σ_q dout·out/‖f‖² likewise.
	sq := make([]float64, n)
	sf := make([]float64, hw)
	parallel.For(n, 1, func(lo, hi int) {
		for q := lo; q < hi; q++ {
			var s float64
			for p := 0; p < hw; p++ {
				i := q*hw + p
				den := qnorm[q] * fnorm[p]
				if den > eps {
					a[i] = dout[i] / den
					s += float64(dout[i]) * float64(out[i])
				} else {
					a[i] = dout[i] / eps
				}
			}
			if qnorm[q] > 0 {
				sq[q] = s / (float64(qnorm[q]) * float64(qnorm[q]))
			}
		}
	})
	if df != nil {
		for q := 0; q < n; q++ {
			for p := 0; p < hw; p++ {
				i := q*hw + p
				if qnorm[q]*fnorm[p] > eps {
					sf[p] += float64(dout[i]) * float64(out[i])
				}
			}
		}
		for p := range sf {
			if fnorm[p] > 0 {
				sf[p] /= float64(fnorm[p]) * float64(fnorm[p])
			}
		}
	}
	CostVolumeBackward(dqv, df, a, qv, f, n, c, hw)
	if dqv != nil {
		for q := 0; q < n; q++ {
			s := float32(sq[q])
			for ch := 0; ch < c; ch++ {
				dqv[q*c+ch] -= s * qv[q*c+ch]
			}
		}
	}
	if df != nil {
		parallel.For(c, 1, func(lo, hi int) {
			for ch := lo; ch < hi; ch++ {
				row, drow := f[ch*hw:(ch+1)*hw], df[ch*hw:(ch+1)*hw]
				for p, v := range row {
					drow[p] -= float32(sf[p]) * v
				}
			}
		})
	}
}
