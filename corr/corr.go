// Package corr computes DINO-Tracker's cosine cost volumes: the cosine
// similarity of N query features against every token of one frame's feature
// map, and its gradient.
//
// # Layout
//
// A frame's feature map is stored channel-major, feat[ch*P + j] for channel
// ch < C and token j < P = GH·GW (flat token index j = row·GW + col), which
// is one frame of the [T, C, GH, GW] stack. Queries are row-major
// q[i*C + ch]; cost maps are row-major dst[i*P + j].
//
// # Formula
//
// S[i, j] = ⟨q_i, f_j⟩ / max(‖q_i‖·‖f_j‖, Eps), optionally followed by a
// ReLU (upstream models/tracker.py get_corr_maps_for_frame_set and
// cmap_relu). The product of the norms is formed in float32 and clamped
// there, as upstream does.
//
// # Implementations
//
// Cosine and CosineSerial are one matrix product (gemm) plus a fused
// scale/clamp/ReLU pass; products with one or two queries use a direct
// matrix-vector loop instead, because a GEMM would spend its time packing.
// CosineRef is the plain float64 loop they must match. Backward functions
// accumulate (+=) into their gradient outputs, so several cost volumes can
// add into one feature-map gradient; zero them before the first call.
package corr

import (
	"fmt"
	"math"

	"dinotracker/gemm"
	"dinotracker/internal/parallel"
)

// Eps is the floor on the product of norms, upstream's EPS = 1e-8 in
// models/tracker.py.
const Eps float32 = 1e-8

// smallN is the largest query count handled by the direct matrix-vector
// loop instead of a GEMM.
const smallN = 2

// colBlock is the token block of the column-parallel direct loops.
const colBlock = 1024

// Norms writes dst[j] = ‖feat[:, j]‖₂ for a channel-major map feat [C, P],
// accumulating groups of four squares in float32 and their sum in float64.
// It runs on the calling goroutine.
func Norms(dst, feat []float32, c, p int) { NormsCols(dst, feat, c, p, 0, p) }

// NormsCols is Norms for the tokens [j0, j1) only: it writes dst[j0:j1]
// with the same values Norms gives them, so disjoint ranges may run on
// separate goroutines.
func NormsCols(dst, feat []float32, c, p, j0, j1 int) {
	if len(dst) < p || len(feat) < c*p || j0 < 0 || j1 > p || j0 > j1 {
		panic(fmt.Sprintf("corr: Norms needs dst ≥ %d and feat ≥ %d values and 0 ≤ j0 ≤ j1 ≤ %d, got %d and %d values, [%d, %d)",
			p, c*p, p, len(dst), len(feat), j0, j1))
	}
	const blk = 256
	var acc [blk]float64
	for b0 := j0; b0 < j1; b0 += blk {
		b1 := min(b0+blk, j1)
		a := acc[:b1-b0]
		clear(a)
		// Four squares in float32 (exact to ~2 ulps), the running sum in
		// float64; the assembly kernel, where there is one, does the same
		// operations on the leading multiple of 8 tokens.
		g := c / 4
		done := sumSq4Asm(a, feat[b0:], p, g)
		for ch := 0; ch+4 <= c; ch += 4 {
			r0 := feat[ch*p+b0+done : ch*p+b1]
			r1 := feat[(ch+1)*p+b0+done : (ch+1)*p+b1]
			r2 := feat[(ch+2)*p+b0+done : (ch+2)*p+b1]
			r3 := feat[(ch+3)*p+b0+done : (ch+3)*p+b1]
			r1, r2, r3 = r1[:len(r0)], r2[:len(r0)], r3[:len(r0)]
			a := a[done:]
			a = a[:len(r0)]
			for j, v := range r0 {
				a[j] += float64(v*v + r1[j]*r1[j] + r2[j]*r2[j] + r3[j]*r3[j])
			}
		}
		for ch := g * 4; ch < c; ch++ {
			row := feat[ch*p+b0 : ch*p+b1]
			for j, v := range row {
				a[j] += float64(v) * float64(v)
			}
		}
		for j, s := range a {
			dst[b0+j] = float32(math.Sqrt(s))
		}
	}
}

func checkCosine(dst, q []float32, n, c int, feat, featNorm []float32, p int) {
	if n < 0 || c < 0 || p < 0 {
		panic(fmt.Sprintf("corr: negative size n=%d c=%d p=%d", n, c, p))
	}
	if len(dst) < n*p || len(q) < n*c || len(feat) < c*p || len(featNorm) < p {
		panic(fmt.Sprintf("corr: slices too short for n=%d c=%d p=%d (dst %d, q %d, feat %d, featNorm %d)",
			n, c, p, len(dst), len(q), len(feat), len(featNorm)))
	}
}

// Cosine writes the cosine cost volume of n queries q [n, c] against the
// channel-major map feat [c, p] into dst [n, p]:
//
//	dst[i*p+j] = Σ_ch q[i*c+ch]·feat[ch*p+j] / max(‖q_i‖·featNorm[j], Eps)
//
// followed by max(·, 0) when relu is set. featNorm [p] holds the token norms
// (see Norms). The work is spread over GOMAXPROCS goroutines; use
// CosineSerial inside your own parallel loops. CosineRef is the
// specification.
func Cosine(dst, q []float32, n, c int, feat, featNorm []float32, p int, relu bool) {
	checkCosine(dst, q, n, c, feat, featNorm, p)
	if n == 0 || p == 0 {
		return
	}
	if n <= smallN {
		parallel.For(p, colBlock, func(lo, hi int) {
			dotCols(dst, q, n, c, feat, p, lo, hi)
			for i := 0; i < n; i++ {
				scaleRow(dst[i*p:(i+1)*p], q[i*c:(i+1)*c], featNorm, lo, hi, relu)
			}
		})
		return
	}
	// Split the tokens (columns) rather than the queries: each worker then
	// packs only its own part of the large feature map.
	w := parallel.Workers()
	parallel.For(p, max(colBlock, (p+w-1)/w), func(lo, hi int) {
		gemm.MatMulSerial(false, false, n, hi-lo, c, 1, q, c, feat[lo:], p, 0, dst[lo:], p)
		for i := 0; i < n; i++ {
			scaleRow(dst[i*p:(i+1)*p], q[i*c:(i+1)*c], featNorm, lo, hi, relu)
		}
	})
}

// CosineSerial is Cosine on the calling goroutine only (the matrix product
// goes through gemm.MatMulSerial). With n ≤ 2 it does not allocate.
func CosineSerial(dst, q []float32, n, c int, feat, featNorm []float32, p int, relu bool) {
	checkCosine(dst, q, n, c, feat, featNorm, p)
	if n == 0 || p == 0 {
		return
	}
	if n <= smallN {
		dotCols(dst, q, n, c, feat, p, 0, p)
	} else {
		gemm.MatMulSerial(false, false, n, p, c, 1, q, c, feat, p, 0, dst, p)
	}
	for i := 0; i < n; i++ {
		scaleRow(dst[i*p:(i+1)*p], q[i*c:(i+1)*c], featNorm, 0, p, relu)
	}
}

// dotCols sets dst[i*p+j] = ⟨q_i, feat[:, j]⟩ for j in [lo, hi), four
// channels per pass over the row block.
func dotCols(dst, q []float32, n, c int, feat []float32, p, lo, hi int) {
	for i := 0; i < n; i++ {
		out := dst[i*p+lo : i*p+hi]
		clear(out)
		qi := q[i*c : (i+1)*c]
		ch := 0
		for ; ch+4 <= c; ch += 4 {
			q0, q1, q2, q3 := qi[ch], qi[ch+1], qi[ch+2], qi[ch+3]
			r0 := feat[ch*p+lo : ch*p+hi]
			r1 := feat[(ch+1)*p+lo : (ch+1)*p+hi]
			r2 := feat[(ch+2)*p+lo : (ch+2)*p+hi]
			r3 := feat[(ch+3)*p+lo : (ch+3)*p+hi]
			r1, r2, r3 = r1[:len(r0)], r2[:len(r0)], r3[:len(r0)]
			out := out[:len(r0)]
			for j := range out {
				out[j] += q0*r0[j] + q1*r1[j] + q2*r2[j] + q3*r3[j]
			}
		}
		for ; ch < c; ch++ {
			qc := qi[ch]
			r := feat[ch*p+lo : ch*p+hi]
			out := out[:len(r)]
			for j := range out {
				out[j] += qc * r[j]
			}
		}
	}
}

// ScaleRow turns one row of dot products ⟨q, f_j⟩ into the cosines of
// Cosine (max(‖q‖·featNorm[j], Eps) as the denominator), ReLU'd when relu
// is set: what Cosine does after its matrix product, for callers that
// compute the products themselves.
func ScaleRow(row, q, featNorm []float32, relu bool) {
	scaleRow(row, q, featNorm, 0, len(row), relu)
}

// ScaleRowNorm is ScaleRow for a query whose norm qn the caller has:
// row[j] /= max(qn·featNorm[j], Eps), then ReLU when relu is set.
func ScaleRowNorm(row []float32, qn float32, featNorm []float32, relu bool) {
	fn := featNorm[:len(row)]
	done := scaleAsm(row, fn, qn, relu)
	scaleGo(row[done:], fn[done:], qn, relu)
}

// ColumnMax folds one row of a matrix into running column maxima: for
// each j, where row[j] > colMax[j], colMax[j] = row[j] and colArg[j] =
// idx. The comparison is strict and ordered (earlier rows keep ties, and a
// NaN never wins), as torch.argmax over rows taken in order, NaN aside.
func ColumnMax(colMax []float32, colArg []int32, row []float32, idx int32) {
	colMax, colArg = colMax[:len(row)], colArg[:len(row)]
	done := colMaxAsm(colMax, colArg, row, idx)
	for j := done; j < len(row); j++ {
		if row[j] > colMax[j] {
			colMax[j], colArg[j] = row[j], idx
		}
	}
}

// vecNorm returns ‖v‖₂ accumulated in float64 and rounded to float32.
func vecNorm(v []float32) float32 {
	var s float64
	for _, x := range v {
		s += float64(x) * float64(x)
	}
	return float32(math.Sqrt(s))
}

// scaleRow turns the dot products row[lo:hi] into cosines (and ReLUs them).
func scaleRow(row, qi, featNorm []float32, lo, hi int, relu bool) {
	ScaleRowNorm(row[lo:hi], vecNorm(qi), featNorm[lo:hi], relu)
}

// scaleGo is the specification of scaleRow's loop: r[j] = r[j] /
// max(qn·fn[j], Eps), then 0 where negative when relu is set (NaN and −0
// unchanged). The amd64 kernel gives the same bits.
func scaleGo(r, fn []float32, qn float32, relu bool) {
	fn = fn[:len(r)]
	for j, d := range r {
		den := qn * fn[j]
		if den < Eps {
			den = Eps
		}
		v := d / den
		if relu && v < 0 {
			v = 0
		}
		r[j] = v
	}
}

// CosineRef is the reference loop for Cosine: every dot product and norm in
// float64, the floor max(‖q‖·‖f‖, Eps) applied to the float64 product.
func CosineRef(dst, q []float32, n, c int, feat []float32, p int, relu bool) {
	for i := 0; i < n; i++ {
		var qq float64
		for ch := 0; ch < c; ch++ {
			qq += float64(q[i*c+ch]) * float64(q[i*c+ch])
		}
		for j := 0; j < p; j++ {
			var d, ff float64
			for ch := 0; ch < c; ch++ {
				f := float64(feat[ch*p+j])
				d += float64(q[i*c+ch]) * f
				ff += f * f
			}
			den := math.Max(math.Sqrt(qq)*math.Sqrt(ff), float64(Eps))
			v := d / den
			if relu && v < 0 {
				v = 0
			}
			dst[i*p+j] = float32(v)
		}
	}
}

// BackwardWorkLen is the scratch length CosineBackward needs for n queries
// and p tokens.
func BackwardWorkLen(n, p int) int { return n*p + p + n }

// CosineBackward accumulates the gradients of a cost volume computed by
// Cosine (same q, feat, featNorm, relu): given ds = dL/dS [n, p] and the
// forward output s [n, p], it adds dL/dq into dq [n, c] and dL/dfeat into
// dfeat [c, p]. Either output may be nil to skip it; they must not overlap
// the inputs. work needs BackwardWorkLen(n, p) values (nil allocates).
//
// With D = ‖q‖·‖f‖ (no clamp) the closed form is
//
//	dS/dq = f/D − S·q/‖q‖²,  dS/df = q/D − S·f/‖f‖²,
//
// and where D < Eps the denominator is the constant Eps, so dS/dq = f/Eps
// and dS/df = q/Eps (the clamp passes no gradient to the norms). With relu
// the gradient flows only where s > 0, as PyTorch's ReLU backward does. The
// products run over GOMAXPROCS goroutines; see CosineBackwardSerial.
func CosineBackward(dq, dfeat, ds, s, q []float32, n, c int, feat, featNorm []float32, p int, relu bool, work []float32) {
	cosineBackward(dq, dfeat, ds, s, q, n, c, feat, featNorm, p, relu, work, false)
}

// CosineBackwardSerial is CosineBackward on the calling goroutine only.
// With n ≤ 2 and a work slice it does not allocate.
func CosineBackwardSerial(dq, dfeat, ds, s, q []float32, n, c int, feat, featNorm []float32, p int, relu bool, work []float32) {
	cosineBackward(dq, dfeat, ds, s, q, n, c, feat, featNorm, p, relu, work, true)
}

func cosineBackward(dq, dfeat, ds, s, q []float32, n, c int, feat, featNorm []float32, p int, relu bool, work []float32, serial bool) {
	checkCosine(s, q, n, c, feat, featNorm, p)
	if len(ds) < n*p || (dq != nil && len(dq) < n*c) || (dfeat != nil && len(dfeat) < c*p) {
		panic(fmt.Sprintf("corr: CosineBackward slices too short for n=%d c=%d p=%d", n, c, p))
	}
	if n == 0 || p == 0 || (dq == nil && dfeat == nil) {
		return
	}
	need := BackwardWorkLen(n, p)
	if len(work) < need {
		work = make([]float32, need)
	}
	sm := work[:n*p]          // g/D (or g/Eps where clamped)
	beta := work[n*p : n*p+p] // Σ_i g·S / ‖f_j‖²
	alpha := work[n*p+p : need]
	clear(beta)
	for i := 0; i < n; i++ {
		qn := vecNorm(q[i*c : (i+1)*c])
		var a float64
		for j := 0; j < p; j++ {
			g := ds[i*p+j]
			sv := s[i*p+j]
			if relu && !(sv > 0) {
				g = 0
			}
			den := qn * featNorm[j]
			if den < Eps {
				sm[i*p+j] = g / Eps
				continue
			}
			sm[i*p+j] = g / den
			t := g * sv
			a += float64(t)
			if t != 0 {
				fnj := featNorm[j]
				beta[j] += t / (fnj * fnj)
			}
		}
		if qn > 0 {
			alpha[i] = float32(a / (float64(qn) * float64(qn)))
		} else {
			alpha[i] = 0
		}
	}
	if n <= smallN {
		if serial {
			backwardCols(dq, dfeat, sm, alpha, beta, q, n, c, feat, p, 0, c)
		} else {
			parallel.For(c, 16, func(lo, hi int) {
				backwardCols(dq, dfeat, sm, alpha, beta, q, n, c, feat, p, lo, hi)
			})
		}
		return
	}
	if serial {
		backwardGEMM(dq, dfeat, sm, alpha, beta, q, n, c, feat, p, 0, c)
		return
	}
	// Split the channels: each worker owns dq[:, lo:hi] and dfeat[lo:hi, :]
	// and reads only feat[lo:hi, :].
	w := parallel.Workers()
	parallel.For(c, max(16, (c+w-1)/w), func(lo, hi int) {
		backwardGEMM(dq, dfeat, sm, alpha, beta, q, n, c, feat, p, lo, hi)
	})
}

// backwardGEMM is the GEMM backward restricted to channels [lo, hi).
func backwardGEMM(dq, dfeat, sm, alpha, beta, q []float32, n, c int, feat []float32, p, lo, hi int) {
	if dq != nil {
		gemm.MatMulSerial(false, true, n, hi-lo, p, 1, sm, p, feat[lo*p:], p, 1, dq[lo:], c)
		for i := 0; i < n; i++ {
			a := alpha[i]
			for ch := lo; ch < hi; ch++ {
				dq[i*c+ch] -= a * q[i*c+ch]
			}
		}
	}
	if dfeat != nil {
		gemm.MatMulSerial(true, false, hi-lo, p, n, 1, q[lo:], c, sm, p, 1, dfeat[lo*p:], p)
		subScaled(dfeat, beta, feat, p, lo, hi)
	}
}

// backwardCols is the direct (n ≤ 2) backward over channels [lo, hi):
// dq[i, ch] += ⟨sm_i, f_ch⟩ − alpha_i·q[i, ch] and
// dfeat[ch, :] += Σ_i q[i, ch]·sm_i − beta ⊙ f_ch.
func backwardCols(dq, dfeat, sm, alpha, beta, q []float32, n, c int, feat []float32, p, lo, hi int) {
	if n == 1 && dq != nil && dfeat != nil {
		sm0, a0 := sm[:p], alpha[0]
		for ch := lo; ch < hi; ch++ {
			f := feat[ch*p : (ch+1)*p]
			d := dfeat[ch*p : (ch+1)*p]
			d, b, s := d[:len(f)], beta[:len(f)], sm0[:len(f)]
			qc := q[ch]
			var acc float32
			for j, fj := range f {
				sj := s[j]
				acc += sj * fj
				d[j] += qc*sj - b[j]*fj
			}
			dq[ch] += acc - a0*qc
		}
		return
	}
	for ch := lo; ch < hi; ch++ {
		f := feat[ch*p : (ch+1)*p]
		if dq != nil {
			for i := 0; i < n; i++ {
				smi := sm[i*p : (i+1)*p]
				smi = smi[:len(f)]
				var acc float32
				for j, v := range f {
					acc += smi[j] * v
				}
				dq[i*c+ch] += acc - alpha[i]*q[i*c+ch]
			}
		}
		if dfeat != nil {
			d := dfeat[ch*p : (ch+1)*p]
			d = d[:len(f)]
			b := beta[:len(f)]
			for j := range d {
				d[j] -= b[j] * f[j]
			}
			for i := 0; i < n; i++ {
				qc := q[i*c+ch]
				smi := sm[i*p : (i+1)*p]
				smi = smi[:len(d)]
				for j := range d {
					d[j] += qc * smi[j]
				}
			}
		}
	}
}

// subScaled does dfeat[ch, :] −= beta ⊙ feat[ch, :] for ch in [lo, hi).
func subScaled(dfeat, beta, feat []float32, p, lo, hi int) {
	for ch := lo; ch < hi; ch++ {
		d := dfeat[ch*p : (ch+1)*p]
		f := feat[ch*p : (ch+1)*p]
		f = f[:len(d)]
		b := beta[:len(d)]
		for j := range d {
			d[j] -= b[j] * f[j]
		}
	}
}

// CosineBackwardRef is the reference loop for CosineBackward: it recomputes
// S in float64 and accumulates dq [n, c] and dfeat [c, p] (either may be
// nil) from ds [n, p] with the closed form, one entry at a time.
func CosineBackwardRef(dq, dfeat, ds, q []float32, n, c int, feat []float32, p int, relu bool) {
	fn := make([]float64, p)
	for j := 0; j < p; j++ {
		var ff float64
		for ch := 0; ch < c; ch++ {
			ff += float64(feat[ch*p+j]) * float64(feat[ch*p+j])
		}
		fn[j] = math.Sqrt(ff)
	}
	gq64 := make([]float64, n*c)
	gf64 := make([]float64, c*p)
	for i := 0; i < n; i++ {
		var qq float64
		for ch := 0; ch < c; ch++ {
			qq += float64(q[i*c+ch]) * float64(q[i*c+ch])
		}
		qn := math.Sqrt(qq)
		for j := 0; j < p; j++ {
			var d float64
			for ch := 0; ch < c; ch++ {
				d += float64(q[i*c+ch]) * float64(feat[ch*p+j])
			}
			den := qn * fn[j]
			clamped := den < float64(Eps)
			if clamped {
				den = float64(Eps)
			}
			sv := d / den
			g := float64(ds[i*p+j])
			if relu && !(sv > 0) {
				g = 0
			}
			if g == 0 {
				continue
			}
			for ch := 0; ch < c; ch++ {
				qc, fc := float64(q[i*c+ch]), float64(feat[ch*p+j])
				gq, gf := fc/den, qc/den
				if !clamped {
					gq -= sv * qc / qq
					gf -= sv * fc / (fn[j] * fn[j])
				}
				gq64[i*c+ch] += g * gq
				gf64[ch*p+j] += g * gf
			}
		}
	}
	if dq != nil {
		for k, v := range gq64 {
			dq[k] += float32(v)
		}
	}
	if dfeat != nil {
		for k, v := range gf64 {
			dfeat[k] += float32(v)
		}
	}
}
