package fgmask

import (
	"errors"
	"fmt"
	"math"
	"math/rand/v2"
	"sync/atomic"

	"dinotracker/gemm"
	"dinotracker/internal/parallel"

	"gonum.org/v1/gonum/mat"
)

// FeatureSource gives the DINO feature map of one frame at a time: Frame
// returns frame t's [C, gh, gw] map (channel-major, row-major within a
// channel), reusing dst when it is large enough. *dinotracker.Features
// satisfies it. FromFeatures never writes into the returned slice, so a
// source may hand out its own storage.
type FeatureSource interface {
	Frame(t int, dst []float32) ([]float32, error)
}

// DefaultThreshold is preprocessing.yaml's fg_mask_threshold: a token is
// foreground when its min-max normalised projection is below it.
const DefaultThreshold = 0.6

// PCAOptions tunes FromFeatures. The zero value is the reference's setting.
type PCAOptions struct {
	// Threshold on the min-max normalised projection, in (0, 1): tokens
	// below it are foreground. 0 means DefaultThreshold (0.6).
	Threshold float32
	// Flip takes the orientation opposite to the one the border rule
	// picks (see FromFeatures), for videos where the rule gets it wrong.
	Flip bool
}

// FromFeatures computes foreground masks from DINO features by PCA, as the
// reference's create_fg_mask.py does (§1.4), and returns them at outH×outW.
//
//  1. The T·gh·gw tokens of all frames are taken jointly and each is
//     L2-normalised (x / max(‖x‖, 1e-12), F.normalize).
//  2. The first principal direction v of the centred tokens is the top
//     eigenvector of their C×C covariance, which is accumulated frame by
//     frame with GEMMs (float32 products, float64 sums; the tokens are
//     never all in memory) and solved with a restarted Lanczos iteration
//     from a fixed start vector. The reference's torch.pca_lowrank is
//     randomised; this is deterministic: the same features give the same
//     masks.
//  3. The uncentred normalised tokens are projected on v (a second pass
//     over the frames, so Frame is called twice per frame), the projections
//     are min-max normalised over all tokens, and a token is foreground
//     when its value is < Threshold.
//  4. Each frame's gh×gw token mask is upsampled to outH×outW with
//     PyTorch's nearest rule (see Load).
//
// Orientation. The sign of a principal direction is arbitrary, and with it
// which end of the projection is foreground; the reference leaves this to
// chance. FromFeatures computes the foreground for both signs and keeps the
// one whose foreground is less connected to the frame border, scored by the
// boundary connectivity of Zhu et al. (CVPR 2014), |F ∩ B| / √|F|, where B
// is the set of tokens on the outer row and column of each frame and F the
// candidate foreground over all frames. This is the background prior of
// saliency detection: objects worth tracking are rarely glued to the image
// edge, while background almost always is. It holds for large objects too
// (a blob filling most of the frame but not its edge), where "foreground is
// the minority" would fail. Ties go to the smaller foreground, then to the
// low end of the projection with v's largest-magnitude entry positive.
// PCAOptions.Flip inverts the chosen orientation.
//
// Errors: bad sizes or threshold, a Frame error or a map of the wrong
// length (naming the frame), non-finite features, and features whose
// projection is constant (no foreground can be told apart).
func FromFeatures(feats FeatureSource, T, C, gh, gw, outH, outW int, opt PCAOptions) (*Masks, error) {
	if feats == nil {
		return nil, errors.New("fgmask: nil feature source")
	}
	if T < 1 || C < 1 || gh < 1 || gw < 1 || outH < 1 || outW < 1 {
		return nil, fmt.Errorf("fgmask: need positive sizes, got T=%d C=%d grid %d×%d output %d×%d", T, C, gh, gw, outH, outW)
	}
	thr := opt.Threshold
	if thr == 0 {
		thr = DefaultThreshold
	}
	if !(thr > 0 && thr < 1) {
		return nil, fmt.Errorf("fgmask: threshold %v is outside (0, 1)", opt.Threshold)
	}
	P := gh * gw
	proj, err := projectFirstPC(feats, T, C, P)
	if err != nil {
		return nil, err
	}
	lo, hi := proj[0], proj[0]
	for _, p := range proj {
		lo, hi = min(lo, p), max(hi, p)
	}
	if !(hi > lo) {
		return nil, fmt.Errorf("fgmask: the features' projection on their first principal direction is constant (%v): no foreground can be told apart", lo)
	}
	// The two orientations, in float32 as torch would compute them for v
	// and −v: (p − min)/(max − min) and (max − p)/(max − min).
	r := hi - lo
	low := make([]uint8, T*P)  // foreground with v
	high := make([]uint8, T*P) // foreground with −v
	for i, p := range proj {
		if (p-lo)/r < thr {
			low[i] = 1
		}
		if (hi-p)/r < thr {
			high[i] = 1
		}
	}
	tok := low
	if chooseHigh(low, high, T, gh, gw) != opt.Flip {
		tok = high
	}

	m := New(T, outH, outW)
	rows := nearestTable(gh, outH)
	cols := nearestTable(gw, outW)
	parallel.For(T, 1, func(a, b int) {
		for t := a; t < b; t++ {
			resizeNearest(m.Frame(t), tok[t*P:(t+1)*P], gw, rows, cols)
		}
	})
	return m, nil
}

// projectFirstPC returns the projections of the L2-normalised, uncentred
// tokens of all T frames ([T, P], P tokens of C channels per frame) on the
// first principal direction of the centred tokens (steps 1–3 of
// FromFeatures, before the min-max normalisation).
func projectFirstPC(feats FeatureSource, T, C, P int) ([]float32, error) {
	n := C * P

	var src []float32
	y := make([]float32, n) // normalised (and, in pass 1, shifted) tokens, [C, P]
	frame := func(t int) error {
		var err error
		src, err = feats.Frame(t, src)
		if err != nil {
			return fmt.Errorf("fgmask: features of frame %d: %w", t, err)
		}
		if len(src) != n {
			return fmt.Errorf("fgmask: features of frame %d hold %d values, want C·gh·gw = %d·%d = %d", t, len(src), C, P, n)
		}
		if err := normalizeTokens(y, src, C, P); err != nil {
			return fmt.Errorf("fgmask: features of frame %d: %w", t, err)
		}
		return nil
	}

	// Pass 1: covariance of the normalised tokens. To keep the float64
	// subtraction E[xxᵀ] − μμᵀ well conditioned, tokens are shifted by
	// frame 0's mean m0 first: cov = E[zzᵀ] − E[z]E[z]ᵀ with z = x − m0.
	m0 := make([]float32, C)
	sum := make([]float64, C)
	cov := make([]float64, C*C)
	g := make([]float32, C*C)
	for t := 0; t < T; t++ {
		if err := frame(t); err != nil {
			return nil, err
		}
		if t == 0 {
			for c := 0; c < C; c++ {
				var s float64
				for _, v := range y[c*P : (c+1)*P] {
					s += float64(v)
				}
				m0[c] = float32(s / float64(P))
			}
		}
		parallel.For(C, 16, func(lo, hi int) {
			for c := lo; c < hi; c++ {
				row := y[c*P : (c+1)*P]
				var s float64
				for p := range row {
					row[p] -= m0[c]
					s += float64(row[p])
				}
				sum[c] += s
			}
		})
		gemm.MatMul(false, true, C, C, P, 1, y, P, y, P, 0, g, C)
		for i, v := range g {
			cov[i] += float64(v)
		}
	}
	N := float64(T) * float64(P)
	for i := 0; i < C; i++ {
		for j := 0; j < C; j++ {
			cov[i*C+j] = cov[i*C+j]/N - (sum[i]/N)*(sum[j]/N)
		}
	}
	// Symmetrise exactly: GEMM rounding may leave the two halves a few ulps
	// apart.
	for i := 0; i < C; i++ {
		for j := i + 1; j < C; j++ {
			a := 0.5 * (cov[i*C+j] + cov[j*C+i])
			cov[i*C+j], cov[j*C+i] = a, a
		}
	}
	v64 := topEigenvector(cov, C)
	v := make([]float32, C)
	for i, x := range v64 {
		v[i] = float32(x)
	}

	// Pass 2: project the uncentred normalised tokens.
	proj := make([]float32, T*P)
	for t := 0; t < T; t++ {
		if err := frame(t); err != nil {
			return nil, err
		}
		gemm.MatMul(false, false, 1, P, C, 1, v, C, y, P, 0, proj[t*P:(t+1)*P], P)
	}
	return proj, nil
}

// normalizeTokens writes the L2-normalised tokens of the [C, P] map src
// into dst (same layout), as F.normalize(dim=channels, eps=1e-12) does. It
// fails on non-finite input.
func normalizeTokens(dst, src []float32, C, P int) error {
	inv := make([]float32, P)
	var bad atomic.Bool
	parallel.For(P, 1024, func(lo, hi int) {
		acc := make([]float64, hi-lo)
		for c := 0; c < C; c++ {
			row := src[c*P+lo : c*P+hi]
			for i, x := range row {
				acc[i] += float64(x) * float64(x)
			}
		}
		for i, s := range acc {
			if math.IsNaN(s) || math.IsInf(s, 0) {
				bad.Store(true)
			}
			inv[lo+i] = float32(1 / max(math.Sqrt(s), 1e-12))
		}
	})
	if bad.Load() {
		return errors.New("non-finite feature values")
	}
	parallel.For(C, 16, func(lo, hi int) {
		for c := lo; c < hi; c++ {
			s, d := src[c*P:(c+1)*P], dst[c*P:(c+1)*P]
			for p, x := range s {
				d[p] = x * inv[p]
			}
		}
	})
	return nil
}

// chooseHigh applies the orientation rule documented on FromFeatures to the
// two candidate token masks ([T, gh, gw]) and reports whether high wins.
func chooseHigh(low, high []uint8, T, gh, gw int) bool {
	bl, nl := borderCount(low, T, gh, gw)
	bh, nh := borderCount(high, T, gh, gw)
	// Compare bl/√nl with bh/√nh without division: bl²·nh vs bh²·nl.
	// Both sets hold at least the token at their extreme, so n > 0.
	sl := float64(bl) * float64(bl) * float64(nh)
	sh := float64(bh) * float64(bh) * float64(nl)
	switch {
	case sh < sl:
		return true
	case sh > sl:
		return false
	}
	return nh < nl
}

// borderCount returns how many foreground tokens lie on the outer ring of
// their frame, and how many there are in all.
func borderCount(tok []uint8, T, gh, gw int) (border, total int) {
	for t := 0; t < T; t++ {
		f := tok[t*gh*gw : (t+1)*gh*gw]
		for i := 0; i < gh; i++ {
			for j := 0; j < gw; j++ {
				if f[i*gw+j] == 0 {
					continue
				}
				total++
				if i == 0 || j == 0 || i == gh-1 || j == gw-1 {
					border++
				}
			}
		}
	}
	return border, total
}

// topEigenvector returns a unit eigenvector of the largest eigenvalue of
// the symmetric n×n matrix a (row-major), by Lanczos with full
// reorthogonalisation, restarted from the current Ritz vector until the
// residual ‖Ay − θy‖ is below 1e-10·‖A‖. The start vector is drawn from a
// fixed-seed generator, so the result is deterministic. Its sign is fixed
// so that the entry of largest magnitude (the first, on ties) is positive.
func topEigenvector(a []float64, n int) []float64 {
	if n == 1 {
		return []float64{1}
	}
	var anorm float64 // Frobenius norm, an upper bound of the spectral norm
	for _, x := range a {
		anorm += x * x
	}
	anorm = math.Sqrt(anorm)
	rng := rand.New(rand.NewPCG(0x9e3779b97f4a7c15, 0xf1e2d3c4b5a69788))
	y := make([]float64, n)
	for i := range y {
		y[i] = rng.NormFloat64()
	}
	if anorm == 0 {
		return canonicalSign(normalize(y))
	}
	m := min(n, 64)
	q := make([][]float64, 0, m+1)
	w := make([]float64, n)
	alpha := make([]float64, m)
	beta := make([]float64, m)
	for restart := 0; restart < 50; restart++ {
		q = append(q[:0], normalize(y))
		k := 0
		for j := 0; j < m; j++ {
			matVec(w, a, q[j], n)
			alpha[j] = dot(q[j], w)
			// Full reorthogonalisation, twice ("twice is enough").
			for range 2 {
				for _, qi := range q {
					axpy(-dot(qi, w), qi, w)
				}
			}
			k = j + 1
			beta[j] = math.Sqrt(dot(w, w))
			if j == m-1 || beta[j] <= 1e-13*anorm {
				break
			}
			nq := make([]float64, n)
			for i := range nq {
				nq[i] = w[i] / beta[j]
			}
			q = append(q, nq)
		}
		// Top eigenpair of the k×k tridiagonal.
		tri := mat.NewSymDense(k, nil)
		for i := 0; i < k; i++ {
			tri.SetSym(i, i, alpha[i])
			if i+1 < k {
				tri.SetSym(i, i+1, beta[i])
			}
		}
		var es mat.EigenSym
		if !es.Factorize(tri, true) {
			// Cannot happen for a finite symmetric tridiagonal; fall back
			// to the current Lanczos vector.
			return canonicalSign(normalize(q[0]))
		}
		vals := es.Values(nil)
		var vecs mat.Dense
		es.VectorsTo(&vecs)
		top := 0
		for i := range vals {
			if vals[i] > vals[top] {
				top = i
			}
		}
		for i := range y {
			y[i] = 0
		}
		for j := 0; j < k; j++ {
			axpy(vecs.At(j, top), q[j], y)
		}
		y = normalize(y)
		// Residual of the Ritz pair, computed directly.
		matVec(w, a, y, n)
		theta := dot(y, w)
		axpy(-theta, y, w)
		if math.Sqrt(dot(w, w)) <= 1e-10*anorm {
			break
		}
	}
	return canonicalSign(y)
}

func matVec(dst, a, x []float64, n int) {
	parallel.For(n, 64, func(lo, hi int) {
		for i := lo; i < hi; i++ {
			dst[i] = dot(a[i*n:(i+1)*n], x)
		}
	})
}

func dot(a, b []float64) float64 {
	var s float64
	for i, x := range a {
		s += x * b[i]
	}
	return s
}

func axpy(alpha float64, x, y []float64) {
	for i, v := range x {
		y[i] += alpha * v
	}
}

func normalize(x []float64) []float64 {
	out := make([]float64, len(x))
	s := math.Sqrt(dot(x, x))
	if s == 0 {
		out[0] = 1
		return out
	}
	for i, v := range x {
		out[i] = v / s
	}
	return out
}

func canonicalSign(v []float64) []float64 {
	big := 0
	for i, x := range v {
		if math.Abs(x) > math.Abs(v[big]) {
			big = i
		}
	}
	if v[big] < 0 {
		for i := range v {
			v[i] = -v[i]
		}
	}
	return v
}
