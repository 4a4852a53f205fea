package nn

import (
	"math"

	"dinotracker/internal/parallel"
)

// BatchNorm defaults of nn.BatchNorm2d.
const (
	BNEps      = 1e-5
	BNMomentum = 0.1
)

// BatchNormTrainForward is nn.BatchNorm2d in training mode: with batch
// statistics over (N, H, W) for each channel,
//
//	out[n,c,i] = (x[n,c,i] - mean[c]) / √(var[c] + eps) · gamma[c] + beta[c]
//
// x, out [N, C, HW] (HW = H*W); gamma, beta [C]; mean, variance [C] receive
// the batch mean and the BIASED batch variance (divide by N*HW), which the
// backward pass and BatchNormRunningUpdate need. Statistics are accumulated
// in float64. out may alias x.
func BatchNormTrainForward(out, mean, variance, x, gamma, beta []float32, n, c, hw int, eps float32) {
	m := n * c * hw
	checkLen("BatchNormTrainForward", "x", x, m)
	checkLen("BatchNormTrainForward", "out", out, m)
	for _, s := range [][]float32{mean, variance, gamma, beta} {
		checkLen("BatchNormTrainForward", "statistics/affine", s, c)
	}
	if n*hw == 0 {
		panic("nn: BatchNormTrainForward: empty batch")
	}
	parallel.For(c, 1, func(lo, hi int) {
		for ch := lo; ch < hi; ch++ {
			var s float64
			for i := 0; i < n; i++ {
				s += sum64(x[(i*c+ch)*hw : (i*c+ch+1)*hw])
			}
			mu := s / float64(n*hw)
			var v float64
			for i := 0; i < n; i++ {
				v += sqDev64(x[(i*c+ch)*hw:(i*c+ch+1)*hw], mu)
			}
			v /= float64(n * hw)
			mean[ch], variance[ch] = float32(mu), float32(v)
			rstd := 1 / math.Sqrt(v+float64(eps))
			// (x - mean)·scale + beta rather than x·scale + shift: no
			// cancellation when |mean| ≫ std.
			mu32, scale, bv := float32(mu), float32(rstd*float64(gamma[ch])), beta[ch]
			for i := 0; i < n; i++ {
				o, xs := out[(i*c+ch)*hw:(i*c+ch+1)*hw], x[(i*c+ch)*hw:(i*c+ch+1)*hw]
				done := bnNormAsm(o, xs, mu32, scale, bv)
				o = o[done:]
				for j, xv := range xs[done:] {
					o[j] = (xv-mu32)*scale + bv
				}
			}
		}
	})
}

// BatchNormRunningUpdate applies nn.BatchNorm2d's running-statistics update
// after a training forward over count = N*H*W values per channel:
//
//	runMean = (1-momentum)·runMean + momentum·mean
//	runVar  = (1-momentum)·runVar  + momentum·variance·count/(count-1)
//
// (the unbiased variance; count must be > 1, as PyTorch requires).
func BatchNormRunningUpdate(runMean, runVar, mean, variance []float32, count int, momentum float32) {
	if count < 2 {
		panic("nn: BatchNormRunningUpdate: need more than one value per channel")
	}
	unbias := float64(count) / float64(count-1)
	m := float64(momentum)
	for ch := range mean {
		runMean[ch] = float32((1-m)*float64(runMean[ch]) + m*float64(mean[ch]))
		runVar[ch] = float32((1-m)*float64(runVar[ch]) + m*float64(variance[ch])*unbias)
	}
}

// BatchNormTrainBackward accumulates the gradients of BatchNormTrainForward
// (closed form, the batch statistics depend on x): with x̂ = (x-mean)·rstd,
//
//	dgamma[c] += Σ dout·x̂,  dbeta[c] += Σ dout,
//	dx += gamma·rstd·(dout - mean(dout) - x̂·mean(dout·x̂))
//
// where the means run over (N, HW). mean and variance are the forward's
// caches. dx, dgamma, dbeta may be nil.
func BatchNormTrainBackward(dx, dgamma, dbeta, dout, x, mean, variance, gamma []float32, n, c, hw int, eps float32) {
	batchNormTrainBackward(dx, dgamma, dbeta, dout, x, mean, variance, gamma, n, c, hw, eps, true)
}

// batchNormTrainBackward is BatchNormTrainBackward; with accumulate false
// it overwrites dx instead of adding to it, and dx may then alias dout.
func batchNormTrainBackward(dx, dgamma, dbeta, dout, x, mean, variance, gamma []float32, n, c, hw int, eps float32, accumulate bool) {
	m := n * c * hw
	checkLen("BatchNormTrainBackward", "dout", dout, m)
	checkLen("BatchNormTrainBackward", "x", x, m)
	checkOpt("BatchNormTrainBackward", "dx", dx, m)
	checkOpt("BatchNormTrainBackward", "dgamma", dgamma, c)
	checkOpt("BatchNormTrainBackward", "dbeta", dbeta, c)
	cnt := float64(n * hw)
	parallel.For(c, 1, func(lo, hi int) {
		for ch := lo; ch < hi; ch++ {
			mu := float64(mean[ch])
			rstd := 1 / math.Sqrt(float64(variance[ch])+float64(eps))
			var sdy, sdyx float64
			for i := 0; i < n; i++ {
				a, b := dyDev64(dout[(i*c+ch)*hw:(i*c+ch+1)*hw], x[(i*c+ch)*hw:(i*c+ch+1)*hw], mu)
				sdy += a
				sdyx += b
			}
			sdyx *= rstd // Σ dout·x̂
			if dgamma != nil {
				dgamma[ch] += float32(sdyx)
			}
			if dbeta != nil {
				dbeta[ch] += float32(sdy)
			}
			if dx == nil {
				continue
			}
			k := float32(float64(gamma[ch]) * rstd)
			mdy := float32(sdy / cnt)
			cx := float32(rstd * sdyx / cnt) // rstd·mean(dout·x̂)
			mu32 := float32(mu)
			for i := 0; i < n; i++ {
				dy, xs := dout[(i*c+ch)*hw:(i*c+ch+1)*hw], x[(i*c+ch)*hw:(i*c+ch+1)*hw]
				dxs := dx[(i*c+ch)*hw : (i*c+ch+1)*hw]
				done := bnGradAsm(dxs, dy, xs, k, mdy, mu32, cx, accumulate)
				dy, xs, dxs = dy[done:], xs[done:], dxs[done:]
				if accumulate {
					for j, g := range dy {
						dxs[j] += k * (g - mdy - (xs[j]-mu32)*cx)
					}
				} else {
					for j, g := range dy {
						dxs[j] = k * (g - mdy - (xs[j]-mu32)*cx)
					}
				}
			}
		}
	})
}

// BatchNormEvalForward is nn.BatchNorm2d in eval mode:
// out = (x - runMean)/√(runVar + eps)·gamma + beta, shapes as in
// BatchNormTrainForward. out may alias x.
func BatchNormEvalForward(out, x, gamma, beta, runMean, runVar []float32, n, c, hw int, eps float32) {
	checkLen("BatchNormEvalForward", "x", x, n*c*hw)
	checkLen("BatchNormEvalForward", "out", out, n*c*hw)
	parallel.For(n*c, 1, func(lo, hi int) {
		for p := lo; p < hi; p++ {
			ch := p % c
			rstd := 1 / math.Sqrt(float64(runVar[ch])+float64(eps))
			mu, scale, bv := runMean[ch], float32(rstd*float64(gamma[ch])), beta[ch]
			o, xs := out[p*hw:(p+1)*hw], x[p*hw:(p+1)*hw]
			for j, xv := range xs {
				o[j] = (xv-mu)*scale + bv
			}
		}
	})
}

// BatchNormEvalBackward accumulates the gradients of BatchNormEvalForward
// (an affine map per channel): dx += dout·gamma·rstd, dgamma += Σ dout·x̂,
// dbeta += Σ dout. Any gradient may be nil.
func BatchNormEvalBackward(dx, dgamma, dbeta, dout, x, gamma, runMean, runVar []float32, n, c, hw int, eps float32) {
	checkLen("BatchNormEvalBackward", "dout", dout, n*c*hw)
	checkOpt("BatchNormEvalBackward", "dx", dx, n*c*hw)
	parallel.For(c, 1, func(lo, hi int) {
		for ch := lo; ch < hi; ch++ {
			rstd := 1 / math.Sqrt(float64(runVar[ch])+float64(eps))
			mu := float64(runMean[ch])
			var sdy, sdyx float64
			for i := 0; i < n; i++ {
				p := i*c + ch
				dy, xs := dout[p*hw:(p+1)*hw], x[p*hw:(p+1)*hw]
				k := float32(rstd * float64(gamma[ch]))
				for j, g := range dy {
					sdy += float64(g)
					sdyx += float64(g) * (float64(xs[j]) - mu) * rstd
					if dx != nil {
						dx[p*hw+j] += g * k
					}
				}
			}
			if dgamma != nil {
				dgamma[ch] += float32(sdyx)
			}
			if dbeta != nil {
				dbeta[ch] += float32(sdy)
			}
		}
	})
}
