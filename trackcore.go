package dinotracker

import (
	"context"
	"fmt"
	"math"
	"slices"

	"dinotracker/corr"
	"dinotracker/gemm"
	"dinotracker/internal/parallel"
	"dinotracker/softargmax"
)

// This file is the inference engine behind Track (spec §5): the head
// evaluated for many (source feature, target frame) rows at once, the
// similarity along each track, the anchor back-projections and the
// occlusion rule. Everything runs at the model resolution, in model pixels.
//
// Cost per row: one row of a GEMM against the target frame's token matrix
// (the cosine cost volume, shared by every row that targets the frame) and
// the head proper evaluated only where its output can matter: the windowed
// soft-argmax depends on the refiner's logits inside the 35-pixel window,
// and those depend on the cost volume within two tokens of it (two 3×3
// convolutions), so the refiner runs on at most 15×15 tokens instead of the
// whole map. The global softmax normaliser cancels in the windowed mean; it
// matters only for the reference's fallback to uniform weights when the
// window holds less than 1e-8 of the mass, and a bound on the logits outside
// the window decides whether that can happen. When it can, the row goes
// through the full head (Head.forwardCost), so the result equals the
// reference's in every case.

// frameSource yields one frame's [C, GH, GW] feature map; dst is reused
// when large enough.
type frameSource interface {
	Frame(t int, dst []float32) ([]float32, error)
}

// memFrames is a frameSource over in-memory maps.
type memFrames [][]float32

// Frame returns frame t (no copy).
func (m memFrames) Frame(t int, _ []float32) ([]float32, error) {
	if t < 0 || t >= len(m) {
		return nil, fmt.Errorf("frame %d outside 0…%d", t, len(m)-1)
	}
	return m[t], nil
}

// trackCore evaluates the head against the refined features of a video.
type trackCore struct {
	g      HeadGeometry
	c, p   int
	t      int
	head   *Head
	k      RefinerKernels
	feats  frameSource
	norms  [][]float32 // [T][P] token norms
	wsPool chan *coreWork
	padQ   []float32 // [minGemmRows·C]
	// gpu, when set, evaluates the head on a CUDA device (package cuda)
	// instead of the CPU kernels.
	gpu    gpuHeads
	gpuRes []softargmax.Result
	// Positive and negative sums of each hidden unit's normalised kernel
	// (W0) and of its output kernel (W2), for outsideMass's bound.
	pos0, neg0, pos2, neg2 [RefinerHidden]float64
}

// gpuHeads is the part of cuda.Session the engine uses.
type gpuHeads interface {
	Heads(out []softargmax.Result, queries []float32, n int, frame int) error
}

// coreWork is one worker's scratch.
type coreWork struct {
	ws     *HeadWorkspace // full-head fallback
	hidden []float32
	logit  []float32
	buf    []float32 // frame buffer for lazily read features
}

// Window extents: the soft-argmax window spans ±winR tokens; the refiner
// needs one more token for its output convolution and one more for its
// input convolution.
func (tc *trackCore) winR() int { return int(math.Floor(tc.g.Radius / tc.g.Stride)) }

// newTrackCore prepares the engine; it computes the token norms of every
// frame (one pass over the features).
func newTrackCore(ctx context.Context, g HeadGeometry, c, T int, head *Head, feats frameSource) (*trackCore, error) {
	tc := &trackCore{g: g, c: c, p: g.Tokens(), t: T, head: head, feats: feats, padQ: make([]float32, minGemmRows*c)}
	tc.prepareHead()
	tc.norms = make([][]float32, T)
	var buf []float32
	for t := 0; t < T; t++ {
		if err := ctx.Err(); err != nil {
			return nil, err
		}
		f, err := feats.Frame(t, buf)
		if err != nil {
			return nil, err
		}
		if len(f) < c*tc.p {
			return nil, fmt.Errorf("frame %d holds %d feature values, want %d×%d", t, len(f), c, tc.p)
		}
		buf = f
		tc.norms[t] = make([]float32, tc.p)
		corr.Norms(tc.norms[t], f, c, tc.p)
	}
	nw := parallel.Workers()
	tc.wsPool = make(chan *coreWork, nw)
	for i := 0; i < nw; i++ {
		tc.wsPool <- tc.newWork()
	}
	return tc, nil
}

// prepareHead computes the refiner's normalised kernels and the weight
// sums outsideMass's bound uses.
func (tc *trackCore) prepareHead() {
	tc.head.Refiner.Kernels(&tc.k)
	for o := 0; o < RefinerHidden; o++ {
		for _, w := range tc.k.W0[o*refinerKK : (o+1)*refinerKK] {
			if w > 0 {
				tc.pos0[o] += float64(w)
			} else {
				tc.neg0[o] += float64(w)
			}
		}
		for _, w := range tc.k.W2[o*refinerKK : (o+1)*refinerKK] {
			if w > 0 {
				tc.pos2[o] += float64(w)
			} else {
				tc.neg2[o] += float64(w)
			}
		}
	}
}

func (tc *trackCore) newWork() *coreWork {
	s := 2*tc.winR() + 7
	return &coreWork{ws: NewHeadWorkspace(tc.g, tc.c), hidden: make([]float32, RefinerHidden*s*s), logit: make([]float32, s*s)}
}

// rowBlock is how many rows share one cost-volume buffer.
const rowBlock = 512

// minGemmRows is the fewest rows gemm computes with its packed kernel.
const minGemmRows = 3

// colBlockTokens is the fixed token block of the cost GEMM; fixed (not
// derived from the worker count) so results do not depend on GOMAXPROCS
// or on which rows share a batch.
const colBlockTokens = 512

// predict evaluates rows q [n×C] (source features) against frame t and
// writes the predictions in model pixels, quantised through the
// image-normalised float32 output as the reference returns them. cost is
// scratch of at least rowBlock·P values.
func (tc *trackCore) predict(t int, feat []float32, q []float32, n int, out [][2]float32, cost []float32) error {
	c, p := tc.c, tc.p
	if tc.gpu != nil {
		if cap(tc.gpuRes) < n {
			tc.gpuRes = make([]softargmax.Result, n)
		}
		res := tc.gpuRes[:n]
		if err := tc.gpu.Heads(res, q, n, t); err != nil {
			return fmt.Errorf("cuda: %w", err)
		}
		for i, r := range res {
			xn, yn := tc.g.Normalize(r.X, r.Y)
			px, py := tc.g.Unnormalize(xn, yn)
			out[i] = [2]float32{float32(px), float32(py)}
		}
		return nil
	}
	norm := tc.norms[t]
	for r0 := 0; r0 < n; r0 += rowBlock {
		nb := min(rowBlock, n-r0)
		qb := q[r0*c : (r0+nb)*c]
		mrows := nb
		if nb < minGemmRows {
			// gemm hands products of fewer rows to another kernel (a
			// different summation order): pad with zero rows so every row
			// is computed alike, whatever the batch.
			mrows = minGemmRows
			pad := tc.padQ[:mrows*c]
			clear(pad[nb*c:])
			copy(pad, qb)
			qb = pad
		}
		cb := cost[:mrows*p]
		nblk := (p + colBlockTokens - 1) / colBlockTokens
		parallel.For(nblk, 1, func(lo, hi int) {
			for b := lo; b < hi; b++ {
				j0 := b * colBlockTokens
				j1 := min(j0+colBlockTokens, p)
				gemm.MatMulSerial(false, false, mrows, j1-j0, c, 1, qb, c, feat[j0:], p, 0, cb[j0:], p)
			}
		})
		parallel.For(nb, 1, func(lo, hi int) {
			w := <-tc.wsPool
			defer func() { tc.wsPool <- w }()
			for i := lo; i < hi; i++ {
				row := cb[i*p : (i+1)*p]
				corr.ScaleRow(row, qb[i*c:(i+1)*c], norm, true)
				x, y, _ := tc.headRow(w, row)
				xn, yn := tc.g.Normalize(x, y)
				px, py := tc.g.Unnormalize(xn, yn)
				out[r0+i] = [2]float32{float32(px), float32(py)}
			}
		})
	}
	return nil
}

// headRow runs the head on one ReLU'd cost volume and returns the windowed
// soft-argmax in pixels; windowed reports that the window alone decided
// (false: the full head ran).
//
// The refiner's logits are computed exactly on the window's bounding box
// grown by two tokens (region L); tokens farther out see only cost values
// outside the box, so their logits are bounded by the refiner's response to
// a map whose every value is the largest cost outside the box. That bounds
// the softmax mass outside the window from above; when the window's share
// could fall below 1e-6 (the reference's uniform fallback is at 1e-8), the
// full head decides.
func (tc *trackCore) headRow(w *coreWork, cost []float32) (x, y float64, windowed bool) {
	g := tc.g
	gh, gw := g.GH, g.GW
	am := softargmax.Argmax(cost)
	r0, c0 := am/gw, am%gw
	R := tc.winR()
	// Window box B, logit region L = B ± 2 and hidden region L ± 1.
	br0, br1 := max(r0-R, 0), min(r0+R+1, gh)
	bc0, bc1 := max(c0-R, 0), min(c0+R+1, gw)
	lr0, lr1 := max(br0-2, 0), min(br1+2, gh)
	lc0, lc1 := max(bc0-2, 0), min(bc1+2, gw)
	hr0, hr1 := max(lr0-1, 0), min(lr1+1, gh)
	hc0, hc1 := max(lc0-1, 0), min(lc1+1, gw)
	hh, hw := hr1-hr0, hc1-hc0
	hs := hh * hw
	k := &tc.k
	r := &tc.head.Refiner
	for o := 0; o < RefinerHidden; o++ {
		hid := w.hidden[o*hs : (o+1)*hs]
		kw := k.W0[o*refinerKK : (o+1)*refinerKK]
		b := r.B0[o]
		for i := 0; i < hh; i++ {
			rr := hr0 + i
			for j := 0; j < hw; j++ {
				cc := hc0 + j
				v := b
				for u := 0; u < 3; u++ {
					sr := rr + u - 1
					if sr < 0 || sr >= gh {
						continue
					}
					v = row3At(v, cost[sr*gw:(sr+1)*gw], cc, kw[u*3], kw[u*3+1], kw[u*3+2])
				}
				if !(v > 0) && !(v != v) {
					v = 0
				}
				hid[i*hw+j] = v
			}
		}
	}
	// Logits on L; the hidden map is zero outside the image, and L ± 1 lies
	// within the hidden region wherever it is inside the image.
	mw := math.Inf(-1)
	nan := false
	lw := lc1 - lc0
	for i := lr0; i < lr1; i++ {
		for j := lc0; j < lc1; j++ {
			v := r.B2[0]
			for o := 0; o < RefinerHidden; o++ {
				kw := k.W2[o*refinerKK : (o+1)*refinerKK]
				hid := w.hidden[o*hs : (o+1)*hs]
				for u := 0; u < 3; u++ {
					sr := i + u - 1
					if sr < 0 || sr >= gh {
						continue
					}
					v = row3AtWin(v, hid[(sr-hr0)*hw:(sr-hr0+1)*hw], hc0, gw, j, kw[u*3], kw[u*3+1], kw[u*3+2])
				}
			}
			w.logit[(i-lr0)*lw+(j-lc0)] = v
			if v != v {
				nan = true
			}
			if inWin(g, i, j, r0, c0) && float64(v) > mw {
				mw = float64(v)
			}
		}
	}
	var s, sx, sy, ring float64
	nL := 0
	for i := lr0; i < lr1; i++ {
		yc := g.Offset + g.Stride*float64(i)
		for j := lc0; j < lc1; j++ {
			e := math.Exp(float64(w.logit[(i-lr0)*lw+(j-lc0)]) - mw)
			nL++
			if !inWin(g, i, j, r0, c0) {
				ring += e
				continue
			}
			xc := g.Offset + g.Stride*float64(j)
			s += e
			sx += e * xc
			sy += e * yc
		}
	}
	outside := tc.outsideMass(cost, lr0, lr1, lc0, lc1, mw, 2*s/1e-6)
	massLB := s / (s + ring + outside)
	if nan || !(massLB >= 1e-6) {
		ws := w.ws
		copy(ws.Cost, cost)
		tc.head.forwardCost(ws)
		return ws.Win.X, ws.Win.Y, false
	}
	return sx / s, sy / s, true
}

// boundTile is the side of the token tiles of outsideMass.
const boundTile = 4

// outsideMass returns an upper bound on Σ exp(logit − mw) over the tokens
// outside the region [lr0, lr1)×[lc0, lc1). It bounds each tile's logits by
// interval arithmetic through the refiner: the cost values in the tile's
// receptive field (±2 tokens, zero padding included) give each hidden
// unit's range, those give the logit's upper end. It stops early, returning
// +Inf, once the sum exceeds stop (the caller needs only to know that it is
// that large: the window then certainly holds too little of the mass).
func (tc *trackCore) outsideMass(cost []float32, lr0, lr1, lc0, lc1 int, mw, stop float64) float64 {
	g := tc.g
	gh, gw := g.GH, g.GW
	r := &tc.head.Refiner
	total := 0.0
	for tr0 := 0; tr0 < gh; tr0 += boundTile {
		tr1 := min(tr0+boundTile, gh)
		or := max(0, min(tr1, lr1)-max(tr0, lr0))
		for tc0 := 0; tc0 < gw; tc0 += boundTile {
			tc1 := min(tc0+boundTile, gw)
			n := (tr1-tr0)*(tc1-tc0) - or*max(0, min(tc1, lc1)-max(tc0, lc0))
			if n == 0 {
				continue
			}
			lo, hi := float32(math.Inf(1)), float32(math.Inf(-1))
			for rr := max(tr0-2, 0); rr < min(tr1+2, gh); rr++ {
				row := cost[rr*gw+max(tc0-2, 0) : rr*gw+min(tc1+2, gw)]
				for _, v := range row {
					lo = min(lo, v)
					hi = max(hi, v)
				}
			}
			if tr0-2 < 0 || tc0-2 < 0 || tr1+2 > gh || tc1+2 > gw {
				lo, hi = min(lo, 0), max(hi, 0)
			}
			if lo != lo || hi != hi {
				return math.Inf(1)
			}
			l := float64(r.B2[0])
			lo64, hi64 := float64(lo), float64(hi)
			border := tr0-1 < 0 || tc0-1 < 0 || tr1+1 > gh || tc1+1 > gw
			for o := 0; o < RefinerHidden; o++ {
				// Σ w·x over x ∈ [lo, hi] is extreme at x = lo or hi per
				// weight: the positive and negative weight sums give both ends.
				b := float64(r.B0[o])
				hlo := max(b+tc.pos0[o]*lo64+tc.neg0[o]*hi64, 0)
				hhi := max(b+tc.pos0[o]*hi64+tc.neg0[o]*lo64, 0)
				if border {
					hlo = 0 // zero-padded hidden taps
				}
				l += tc.pos2[o]*hhi + tc.neg2[o]*hlo
			}
			// Margin for float32 rounding in the real computation.
			l += 1e-3 * (1 + math.Abs(l))
			total += float64(n) * math.Exp(l-mw)
			if total > stop {
				return math.Inf(1)
			}
		}
	}
	return total
}

// inWin is softargmax's window test: squared pixel distance ≤ Radius².
func inWin(g HeadGeometry, r, c, r0, c0 int) bool {
	dx := g.Stride * float64(c-c0)
	dy := g.Stride * float64(r-r0)
	return dx*dx+dy*dy <= g.Radius*g.Radius
}

// row3At adds row3Acc's term at column j of s (zero outside s) to v, with
// the same float32 expression shape as refiner.go's row3Acc.
func row3At(v float32, s []float32, j int, k0, k1, k2 float32) float32 {
	n := len(s)
	switch {
	case n == 1:
		return v + k1*s[0]
	case j == 0:
		return v + (k1*s[0] + k2*s[1])
	case j == n-1:
		return v + (k0*s[n-2] + k1*s[n-1])
	default:
		return v + (k0*s[j-1] + k1*s[j] + k2*s[j+1])
	}
}

// row3AtWin is row3At on a hidden row that holds image columns
// [c0, c0+len(s)) of an image gw wide.
func row3AtWin(v float32, s []float32, c0, gw, j int, k0, k1, k2 float32) float32 {
	at := func(cc int) float32 { return s[cc-c0] }
	switch {
	case gw == 1:
		return v + k1*at(j)
	case j == 0:
		return v + (k1*at(0) + k2*at(1))
	case j == gw-1:
		return v + (k0*at(gw-2) + k1*at(gw-1))
	default:
		return v + (k0*at(j-1) + k1*at(j) + k2*at(j+1))
	}
}

// sample writes the bilinear (border) sample of feat at model pixel (x, y)
// into dst [C].
func (tc *trackCore) sample(dst, feat []float32, x, y float64) {
	col, row := tc.g.GridPos(x, y)
	headSample(dst, feat, tc.c, tc.g.GH, tc.g.GW, col, row)
}

// coreQuery is one query in model pixels.
type coreQuery struct {
	X, Y float64
	T    int
}

// OcclusionSettings are the thresholds of the occlusion rule (spec §5.3).
type OcclusionSettings struct {
	// AnchorCos is the cosine similarity from which a frame is an anchor
	// (anchor_cosine_similarity_threshold, 0.7).
	AnchorCos float64
	// Cos is the cosine similarity below which a point is occluded
	// (cosine_similarity_threshold, 0.6).
	Cos float64
	// Skip leaves out the anchor back-projections (the costly part): a point
	// is then occluded only when its similarity is below Cos.
	Skip bool
}

// DefaultOcclusion returns the reference's thresholds (config/train.yaml).
func DefaultOcclusion() OcclusionSettings { return OcclusionSettings{AnchorCos: 0.7, Cos: 0.6} }

// coreResult holds the per-query outputs of one run, in model pixels.
type coreResult struct {
	traj     [][][2]float32 // [N][T] predicted positions (incl. the query frame)
	cos      [][]float32    // [N][T]
	anchors  [][]bool       // [N][T]
	median   [][]float32    // [N][T] lower median back-projection distance (NaN when skipped)
	thr      []float32      // [N]
	occluded [][]bool       // [N][T]
	conf     [][]float32    // [N][T]
	// backproj[i][a][t], filled when keepBackproj is set (tests).
	backproj [][][][2]float32
}

// coreProgress reports frames done of a pass.
type coreProgress func(stage string, done, total int)

// run tracks queries through every frame and applies the occlusion rule.
func (tc *trackCore) run(ctx context.Context, qs []coreQuery, occ OcclusionSettings, keepBackproj bool, prog coreProgress) (*coreResult, error) {
	n, T, c := len(qs), tc.t, tc.c
	res := &coreResult{traj: make([][][2]float32, n), cos: make([][]float32, n), anchors: make([][]bool, n),
		median: make([][]float32, n), thr: make([]float32, n), occluded: make([][]bool, n), conf: make([][]float32, n)}
	if keepBackproj {
		res.backproj = make([][][][2]float32, n)
	}
	for i := range qs {
		res.traj[i] = make([][2]float32, T)
		res.cos[i] = make([]float32, T)
		res.anchors[i] = make([]bool, T)
		res.median[i] = make([]float32, T)
		res.occluded[i] = make([]bool, T)
		res.conf[i] = make([]float32, T)
	}
	if n == 0 {
		return res, nil
	}
	report := func(stage string, done, total int) {
		if prog != nil {
			prog(stage, done, total)
		}
	}
	cost := make([]float32, rowBlock*tc.p)
	var buf []float32
	frame := func(t int) ([]float32, error) {
		if err := ctx.Err(); err != nil {
			return nil, err
		}
		f, err := tc.feats.Frame(t, buf)
		if err != nil {
			return nil, err
		}
		buf = f
		return f, nil
	}

	// 1. Query features, grouped by query frame.
	qf := make([]float32, n*c)
	byFrame := make([][]int, T)
	for i, q := range qs {
		byFrame[q.T] = append(byFrame[q.T], i)
	}
	for t, ids := range byFrame {
		if len(ids) == 0 {
			continue
		}
		f, err := frame(t)
		if err != nil {
			return nil, err
		}
		for _, i := range ids {
			tc.sample(qf[i*c:(i+1)*c], f, qs[i].X, qs[i].Y)
		}
	}

	// 2. Trajectories: every query against every frame; then the refined
	// features at the predicted positions (spec §5.2).
	pred := make([][2]float32, n)
	sf := make([]float32, n*T*c) // sampled features [N][T][C]
	for t := 0; t < T; t++ {
		f, err := frame(t)
		if err != nil {
			return nil, err
		}
		if err := tc.predict(t, f, qf, n, pred, cost); err != nil {
			return nil, err
		}
		for i := range qs {
			res.traj[i][t] = pred[i]
			tc.sample(sf[(i*T+t)*c:(i*T+t+1)*c], f, float64(pred[i][0]), float64(pred[i][1]))
		}
		report("track", t+1, T)
	}
	for i, q := range qs {
		ref := sf[(i*T+q.T)*c : (i*T+q.T+1)*c]
		for t := 0; t < T; t++ {
			res.cos[i][t] = cosine(ref, sf[(i*T+t)*c:(i*T+t+1)*c])
			res.anchors[i][t] = float64(res.cos[i][t]) >= occ.AnchorCos
		}
		res.anchors[i][q.T] = true
	}
	if occ.Skip {
		for i := range qs {
			res.thr[i] = float32(math.NaN())
			for t := 0; t < T; t++ {
				res.median[i][t] = float32(math.NaN())
				res.occluded[i][t] = float64(res.cos[i][t]) < occ.Cos
				res.conf[i][t] = confidence(res.cos[i][t], 0, 0, occ, res.occluded[i][t], true)
			}
		}
		return res, nil
	}

	// 3. Back-projections (spec §5.3): for each anchor frame a, the
	// predicted point of every frame t tracked into a. Rows are grouped by
	// target frame so each frame's features are read once and every row
	// against it is one GEMM.
	aIdx := make([][]int, n) // frame → anchor slot, −1 when not an anchor
	dist := make([][]float32, n)
	for i := range qs {
		aIdx[i] = make([]int, T)
		k := 0
		for t := 0; t < T; t++ {
			aIdx[i][t] = -1
			if res.anchors[i][t] {
				aIdx[i][t] = k
				k++
			}
		}
		dist[i] = make([]float32, k*T)
		if keepBackproj {
			res.backproj[i] = make([][][2]float32, T)
		}
	}
	var rows []int // query ids with a as an anchor
	qb := make([]float32, rowBlock*c)
	gp := make([][2]float32, rowBlock)
	for a := 0; a < T; a++ {
		rows = rows[:0]
		for i := range qs {
			if res.anchors[i][a] {
				rows = append(rows, i)
			}
		}
		if len(rows) == 0 {
			report("occlusion", a+1, T)
			continue
		}
		f, err := frame(a)
		if err != nil {
			return nil, err
		}
		total := len(rows) * T
		for r0 := 0; r0 < total; r0 += rowBlock {
			nb := min(rowBlock, total-r0)
			for k := 0; k < nb; k++ {
				i, t := rows[(r0+k)/T], (r0+k)%T
				copy(qb[k*c:(k+1)*c], sf[(i*T+t)*c:(i*T+t+1)*c])
			}
			if err := tc.predict(a, f, qb, nb, gp, cost); err != nil {
				return nil, err
			}
			for k := 0; k < nb; k++ {
				i, t := rows[(r0+k)/T], (r0+k)%T
				ta := res.traj[i][a]
				dx, dy := gp[k][0]-ta[0], gp[k][1]-ta[1]
				dist[i][aIdx[i][a]*T+t] = float32(math.Sqrt(float64(dx*dx + dy*dy)))
				if keepBackproj {
					if res.backproj[i][a] == nil {
						res.backproj[i][a] = make([][2]float32, T)
					}
					res.backproj[i][a][t] = gp[k]
				}
			}
		}
		report("occlusion", a+1, T)
	}

	// 4. Lower median over anchors, threshold, occlusion, confidence.
	var col []float32
	for i := range qs {
		na := len(dist[i]) / T
		thr := float32(math.Inf(-1))
		for t := 0; t < T; t++ {
			col = col[:0]
			for k := 0; k < na; k++ {
				col = append(col, dist[i][k*T+t])
			}
			slices.SortFunc(col, func(a, b float32) int {
				switch {
				case a < b:
					return -1
				case a > b:
					return 1
				}
				return 0
			})
			res.median[i][t] = col[(na-1)/2]
		}
		for t := 0; t < T; t++ {
			if res.anchors[i][t] && res.median[i][t] > thr {
				thr = res.median[i][t]
			}
		}
		res.thr[i] = thr
		for t := 0; t < T; t++ {
			res.occluded[i][t] = res.median[i][t] > thr || float64(res.cos[i][t]) < occ.Cos
			res.conf[i][t] = confidence(res.cos[i][t], res.median[i][t], thr, occ, res.occluded[i][t], false)
		}
	}
	return res, nil
}

// cosine is ⟨a, b⟩ / max(‖a‖·‖b‖, 1e-8) in float64.
func cosine(a, b []float32) float32 {
	var ab, aa, bb float64
	b = b[:len(a)]
	for i, x := range a {
		y := float64(b[i])
		ab += float64(x) * y
		aa += float64(x) * float64(x)
		bb += y * y
	}
	return float32(ab / max(math.Sqrt(aa)*math.Sqrt(bb), 1e-8))
}

// Confidence scales: a similarity ConfCosScale above the cosine threshold,
// or a back-projection median ConfMedianScale·max(thr, 4 px) below the
// threshold, moves the score from 0.5 to σ(1) ≈ 0.73.
const (
	confCosScale    = 0.05
	confMedianScale = 0.25
)

// confidence is the visibility score of one point and frame: the smaller
// of two logistic margins, one for the similarity against the cosine
// threshold and one for the back-projection median against the anchor
// threshold. Each is exactly 0.5 at its threshold, so the score is below
// 0.5 exactly when the reference's rule says occluded; rounding is settled
// in favour of the hard flag, which is passed in.
func confidence(cos, median, thr float32, occ OcclusionSettings, occluded, cosOnly bool) float32 {
	s := sigmoid((float64(cos) - occ.Cos) / confCosScale)
	if !cosOnly {
		scale := confMedianScale * max(float64(thr), 4)
		s = min(s, sigmoid((float64(thr)-float64(median))/scale))
	}
	v := float32(s)
	if occluded && v >= ConfidenceThreshold {
		v = math.Nextafter32(ConfidenceThreshold, 0)
	}
	if !occluded && v < ConfidenceThreshold {
		v = ConfidenceThreshold
	}
	return v
}

func sigmoid(x float64) float64 {
	if x >= 0 {
		return 1 / (1 + math.Exp(-x))
	}
	e := math.Exp(x)
	return e / (1 + e)
}
