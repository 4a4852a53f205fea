package dinotracker

import (
	"context"
	"fmt"
	"math"
	"slices"

	"dinotracker/corr"
	"dinotracker/gemm"
	"dinotracker/internal/parallel"
	"dinotracker/internal/rowconv"
	"dinotracker/softargmax"
)

// This file is the inference engine behind Track (spec §5): the head
// evaluated for many (source feature, target frame) rows at once, the
// similarity along each track, the anchor back-projections and the
// occlusion rule. Everything runs at the model resolution, in model pixels.
//
// Cost per row: one row of a GEMM against the target frame's token matrix
// (the cosine cost volume, shared by every row that targets the frame), the
// refiner's logits over the whole map (rowconv.Conv3Strips, fused
// multiply-adds over zero-padded rows) and the soft-argmax evaluated on the
// 35-pixel window alone. The global softmax normaliser cancels in the
// windowed mean; it matters only for the reference's fallback to uniform
// weights when the window holds less than 1e-8 of the mass. The largest
// logit outside the window (or, when that is not enough, the exact sum)
// bounds that mass; when the window's share could fall below 1e-6 the row
// goes through the full head (Head.forwardCost), so the result equals the
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
	// gpu, when set, evaluates the head on a CUDA device (package cuda)
	// instead of the CPU kernels.
	gpu    gpuHeads
	gpuRes []softargmax.Result
	// Absolute sums of each hidden unit's normalised kernel (W0) and of
	// its slice of the output kernel (W2), for the rounding margin.
	abs0, abs2 [RefinerHidden]float64
}

// gpuHeads is the part of cuda.Session the engine uses.
type gpuHeads interface {
	Heads(out []softargmax.Result, queries []float32, n int, frame int) error
}

// coreWork is one worker's scratch.
type coreWork struct {
	ws *HeadWorkspace // full-head fallback
	// The refiner's maps, zero-padded for rowconv.Conv3Strips: the cost
	// [GH+2][stride], the hidden maps [GH+2][RefinerHidden][stride] and the
	// logits [GH][wpad]. Image row i, column j lives at padded row i+1,
	// column j+1; the padding is never written.
	cost, hidden, logit []float32
	wpad, stride        int
}

// Window extent: the soft-argmax window spans ±winR tokens.
func (tc *trackCore) winR() int { return int(math.Floor(tc.g.Radius / tc.g.Stride)) }

// newTrackCore prepares the engine. Token norms are computed per frame at
// its first use (norm), from the frame being read anyway, so that features
// read from disk are read once per pass rather than once more up front.
func newTrackCore(ctx context.Context, g HeadGeometry, c, T int, head *Head, feats frameSource) (*trackCore, error) {
	if err := ctx.Err(); err != nil {
		return nil, err
	}
	tc := &trackCore{g: g, c: c, p: g.Tokens(), t: T, head: head, feats: feats}
	tc.prepareHead()
	tc.norms = make([][]float32, T)
	nw := parallel.Workers()
	tc.wsPool = make(chan *coreWork, nw)
	for i := 0; i < nw; i++ {
		tc.wsPool <- tc.newWork()
	}
	return tc, nil
}

// prepareHead computes the refiner's normalised kernels and their absolute
// sums.
func (tc *trackCore) prepareHead() {
	tc.head.Refiner.Kernels(&tc.k)
	for o := 0; o < RefinerHidden; o++ {
		for _, w := range tc.k.W0[o*refinerKK : (o+1)*refinerKK] {
			tc.abs0[o] += math.Abs(float64(w))
		}
		for _, w := range tc.k.W2[o*refinerKK : (o+1)*refinerKK] {
			tc.abs2[o] += math.Abs(float64(w))
		}
	}
}

func (tc *trackCore) newWork() *coreWork {
	gh, gw := tc.g.GH, tc.g.GW
	wpad := (gw + rowconv.StripWidth - 1) / rowconv.StripWidth * rowconv.StripWidth
	stride := (wpad + 2 + 7) &^ 7
	return &coreWork{ws: NewHeadWorkspace(tc.g, tc.c), wpad: wpad, stride: stride,
		cost:   make([]float32, (gh+2)*stride),
		hidden: make([]float32, (gh+2)*RefinerHidden*stride),
		logit:  make([]float32, gh*wpad)}
}

// rowBlock is how many rows share one cost-volume buffer.
const rowBlock = 512

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
	// Frame t's token norms are computed at its first use, each block of
	// tokens just before its first product, while its features are still
	// in cache (feat comes from run's frame(), which checked its length).
	norm := tc.norms[t]
	fresh := norm == nil
	if fresh {
		norm = make([]float32, p)
	}
	for r0 := 0; r0 < n; r0 += rowBlock {
		nb := min(rowBlock, n-r0)
		qb := q[r0*c : (r0+nb)*c]
		cb := cost[:nb*p]
		nblk := (p + colBlockTokens - 1) / colBlockTokens
		parallel.For(nblk, 1, func(lo, hi int) {
			for b := lo; b < hi; b++ {
				j0 := b * colBlockTokens
				j1 := min(j0+colBlockTokens, p)
				// The project's kernel whatever the BLAS: a row's cost
				// volume does not depend on the rows beside it. A few rows
				// read the frame in place, with the norms in the same pass
				// when they are due (DotsAndNorms: the same bits).
				var due []float32
				if fresh && r0 == 0 {
					due = norm
				}
				if corr.DotsAndNorms(cb[j0:], p, due, qb, nb, c, feat, p, j0, j1) {
					continue
				}
				if due != nil {
					corr.NormsCols(norm, feat, c, p, j0, j1)
				}
				gemm.MatMulKernel(false, false, nb, j1-j0, c, 1, qb, c, feat[j0:], p, 0, cb[j0:], p)
			}
		})
		if fresh && r0 == 0 {
			tc.norms[t] = norm // every block's norms are in place
		}
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

// logits computes the refiner's output on the whole map into w.logit
// (row i at i·wpad) with fused multiply-adds: each hidden row as soon as
// its three cost rows are in place, each block of logit rows as soon as
// its hidden rows are.
func (tc *trackCore) logits(w *coreWork, cost []float32) {
	gh, gw := tc.g.GH, tc.g.GW
	s, wpad := w.stride, w.wpad
	ns := wpad / rowconv.StripWidth
	hs := RefinerHidden * s
	k, r := &tc.k, &tc.head.Refiner
	for i := 0; i < gh; i++ {
		copy(w.cost[(i+1)*s+1:(i+1)*s+1+gw], cost[i*gw:(i+1)*gw])
	}
	hidden := func(i int) { // image row i → padded hidden row i+1
		base := (i + 1) * hs
		rowconv.Conv3StripsMulti(w.hidden[base+1:], s, w.cost[i*s:], s, k.W0[:], r.B0, RefinerHidden, ns, true)
		for o := 0; o < RefinerHidden; o++ {
			clear(w.hidden[base+o*s+1+gw : base+o*s+1+wpad]) // columns past the image are zero padding
		}
	}
	next := 0 // the next image row of hidden units to compute
	upTo := func(i int) {
		for ; next <= min(i, gh-1); next++ {
			hidden(next)
		}
	}
	// Logit rows four at a time (each hidden row is read once for all the
	// rows it feeds), then the rest; the values are Conv3Strips' either way.
	i := 0
	for ; i+4 <= gh; i += 4 {
		upTo(i + 4)
		rowconv.Conv3Strips4(w.logit[i*wpad:], wpad, w.hidden[i*hs:], s, hs, RefinerHidden, k.W2[:], r.B2[0], ns, false)
	}
	for ; i < gh; i++ {
		upTo(i + 1)
		rowconv.Conv3Strips(w.logit[i*wpad:], w.hidden[i*hs:], s, hs, RefinerHidden, k.W2[:], r.B2[0], ns, false)
	}
}

// headRow runs the head on one ReLU'd cost volume and returns the windowed
// soft-argmax in pixels; windowed reports that the window alone decided
// (false: the full head ran).
//
// The logits come from fused multiply-adds in an order other than the full
// head's, so each may differ from it by the rounding of its terms: at most
// margin = 4e-5·(|b2| + Σ_o Σ|w2_o|·(|b0_o| + Σ|w0_o|·max cost)), about 670
// float32 roundings of the largest possible sum of absolute terms. The
// window's share of the softmax mass is bounded from below with the
// logits outside it raised, and the window's own lowered, by that margin;
// the bound needs to clear 1e-6, a hundredfold the reference's 1e-8.
func (tc *trackCore) headRow(w *coreWork, cost []float32) (x, y float64, windowed bool) {
	g := tc.g
	gh, gw := g.GH, g.GW
	am := softargmax.Argmax(cost)
	r0, c0 := am/gw, am%gw
	// The cost is ReLU'd, so its largest magnitude is at the argmax; a NaN
	// anywhere reaches the logits and is caught there.
	cmax := math.Abs(float64(cost[am]))
	r := &tc.head.Refiner
	sumAbs := math.Abs(float64(r.B2[0]))
	for o := 0; o < RefinerHidden; o++ {
		sumAbs += tc.abs2[o] * (math.Abs(float64(r.B0[o])) + tc.abs0[o]*cmax)
	}
	margin := 4e-5 * sumAbs
	if !(margin < 1) { // NaN or Inf included: nothing can be bounded
		return tc.fullHead(w, cost)
	}
	tc.logits(w, cost)
	R := tc.winR()
	br0, br1 := max(r0-R, 0), min(r0+R+1, gh)
	bc0, bc1 := max(c0-R, 0), min(c0+R+1, gw)
	// Largest logit inside the window (mw) and outside it (mo); the
	// builtin max propagates NaN.
	mw, mo := float32(math.Inf(-1)), float32(math.Inf(-1))
	for i := 0; i < gh; i++ {
		row := w.logit[i*w.wpad : i*w.wpad+gw]
		if i < br0 || i >= br1 {
			mo = max(mo, softargmax.Max(row))
			continue
		}
		mo = max(mo, softargmax.Max(row[:bc0]), softargmax.Max(row[bc1:]))
		for j := bc0; j < bc1; j++ {
			if inWin(g, i, j, r0, c0) {
				mw = max(mw, row[j])
			} else {
				mo = max(mo, row[j])
			}
		}
	}
	if mw != mw || mo != mo {
		return tc.fullHead(w, cost)
	}
	var s, sx, sy float64
	nw := 0
	for i := br0; i < br1; i++ {
		yc := g.Offset + g.Stride*float64(i)
		for j := bc0; j < bc1; j++ {
			if !inWin(g, i, j, r0, c0) {
				continue
			}
			e := math.Exp(float64(w.logit[i*w.wpad+j]) - float64(mw))
			xc := g.Offset + g.Stride*float64(j)
			s += e
			sx += e * xc
			sy += e * yc
			nw++
		}
	}
	// Lower bound on the window's share with every outside logit at mo
	// and then, if that is not enough, summed exactly.
	lo := s * math.Exp(-2*margin)
	outside := float64(gh*gw-nw) * math.Exp(float64(mo)-float64(mw))
	if !(lo/(lo+outside) >= 1e-6) {
		outside = 0
		for i := 0; i < gh; i++ {
			row := w.logit[i*w.wpad : i*w.wpad+gw]
			for j, v := range row {
				if !(i >= br0 && i < br1 && j >= bc0 && j < bc1 && inWin(g, i, j, r0, c0)) {
					outside += math.Exp(float64(v) - float64(mw))
				}
			}
		}
		if !(lo/(lo+outside) >= 1e-6) {
			return tc.fullHead(w, cost)
		}
	}
	return sx / s, sy / s, true
}

// fullHead runs the full head (the reference's computation) on one cost
// volume.
func (tc *trackCore) fullHead(w *coreWork, cost []float32) (x, y float64, windowed bool) {
	ws := w.ws
	copy(ws.Cost, cost)
	tc.head.forwardCost(ws)
	return ws.Win.X, ws.Win.Y, false
}

// inWin is softargmax's window test: squared pixel distance ≤ Radius².
func inWin(g HeadGeometry, r, c, r0, c0 int) bool {
	dx := g.Stride * float64(c-c0)
	dy := g.Stride * float64(r-r0)
	return dx*dx+dy*dy <= g.Radius*g.Radius
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
	// MaxAnchors, when positive, back-projects into at most that many
	// anchor frames per query: the query frame and others evenly spaced in
	// time among the anchors. The medians are then taken over those; the
	// threshold is still the largest median over every anchor frame, so
	// anchors stay visible. The occlusion step then costs MaxAnchors·T head
	// evaluations per query instead of |anchors|·T, and the flags are no
	// longer the reference's (an approximation; 0, the default, uses every
	// anchor as the reference does).
	MaxAnchors int
}

// chooseAnchors returns the anchor frames the back-projections go into:
// every anchor when limit ≤ 0 or there are at most limit of them, else the
// query frame tq and limit−1 others evenly spaced through the anchors' list
// (its first and last among them), filled up from the list's start where
// the spacing lands on tq.
func chooseAnchors(anchors []bool, tq, limit int) []bool {
	chosen := slices.Clone(anchors)
	var list []int
	for t, a := range anchors {
		if a {
			list = append(list, t)
		}
	}
	if limit <= 0 || len(list) <= limit {
		return chosen
	}
	clear(chosen)
	chosen[tq] = true
	n, m := 1, limit-1
	for j := 0; j < m; j++ {
		t := list[0]
		if m > 1 {
			t = list[j*(len(list)-1)/(m-1)]
		}
		if !chosen[t] {
			chosen[t] = true
			n++
		}
	}
	for _, t := range list {
		if n >= limit {
			break
		}
		if !chosen[t] {
			chosen[t] = true
			n++
		}
	}
	return chosen
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
	// The cost rows of the largest product: n queries, or n·T back-projections.
	costRows := n
	if !occ.Skip {
		costRows = n * T
	}
	cost := make([]float32, min(rowBlock, costRows)*tc.p)
	var buf []float32
	frame := func(t int) ([]float32, error) {
		if err := ctx.Err(); err != nil {
			return nil, err
		}
		f, err := tc.feats.Frame(t, buf)
		if err != nil {
			return nil, err
		}
		if len(f) < c*tc.p {
			return nil, fmt.Errorf("frame %d holds %d feature values, want %d×%d", t, len(f), c, tc.p)
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
		// Sampling gathers 4 tokens' worth of scattered channel values
		// per query (cache misses, mostly): on the workers.
		parallel.For(n, 8, func(lo, hi int) {
			for i := lo; i < hi; i++ {
				res.traj[i][t] = pred[i]
				tc.sample(sf[(i*T+t)*c:(i*T+t+1)*c], f, float64(pred[i][0]), float64(pred[i][1]))
			}
		})
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
	aIdx := make([][]int, n) // frame → anchor slot, −1 when not a chosen anchor
	dist := make([][]float32, n)
	chosen := make([][]bool, n)
	for i := range qs {
		chosen[i] = chooseAnchors(res.anchors[i], qs[i].T, occ.MaxAnchors)
		aIdx[i] = make([]int, T)
		k := 0
		for t := 0; t < T; t++ {
			aIdx[i][t] = -1
			if chosen[i][t] {
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
	qb := make([]float32, min(rowBlock, n*T)*c)
	gp := make([][2]float32, rowBlock)
	for a := 0; a < T; a++ {
		rows = rows[:0]
		for i := range qs {
			if chosen[i][a] {
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
