package dinotracker

import (
	"errors"
	"fmt"
	"log/slog"
	"math"
	"math/rand/v2"
	"sort"
	"sync"

	"dinotracker/corr"
	"dinotracker/fgmask"
	"dinotracker/gemm"
	"dinotracker/internal/parallel"
	"dinotracker/nn"
	"dinotracker/softargmax"
)

// DINO-Tracker's training objective (spec §3, upstream dino_tracker.py and
// models/tracker.py):
//
//	L = L_flow + [i ≥ 5000]·(0.5·L_rfn-cc + 5e-5·L_rfn-bb)
//	  + 2.5e-4·L_dino-bb + 1e-4·L_norm + 1e-4·L_angle
//
// Every loss here computes its value and, given a LossGrads, accumulates
// scale·∂loss/∂(refined feature maps) and scale·∂loss/∂(refiner parameters)
// into it, so one LossGrads collects the weighted gradient of the total.
// Each loss takes its random choices (frame pairs, subsamples, cycle pixels)
// as explicit arguments so tests can feed the reference's; Objective.Total
// draws them as upstream does.
//
// Frame indices. The losses see the frames of one iteration, frames_set_t
// (Objective.Frames, ascending absolute frame ids). A FramePair, the
// FlowPoint frame fields and the feature/gradient slices index into that
// list; masks and best-buddy lists are addressed by absolute frame id.

// LossConfig holds the loss constants of config/train.yaml (spec §7.2).
type LossConfig struct {
	FlowDelta float32 // Huber δ of the flow and cycle losses, image-normalised (1/32)

	CLPairs         int     // cl_n_frames: frame pairs per contrastive loss (4)
	CLPointsPerPair int     // cl_points_per_pair (256)
	CLFGRatio       float64 // cl_fg_points_ratio (0.7): fg cap int(256·0.7) = 179, bg cap 77
	CLTemp          float32 // cl_temp, InfoNCE temperature (0.1)
	DinoBBDiv       float64 // cl_div_dino_bb (700)
	RefinedBBDiv    float64 // cl_div_ref_bb (900; the sum is divided by 2·900)
	AmbA, AmbB      float64 // bb_amb_sig_a, bb_amb_sig_b: w_amb = sigmoid(a(1−r) + b) (27, −5.7)

	CycPairs         int     // cyc_n_frames (4)
	CycPointsPerPair int     // cyc_batch_size_per_frame (256)
	CycFGRatio       float64 // cyc_fg_points_ratio (0.7)
	CycThresh        float64 // cyc_thresh, pixels (4)
	CycGamma         float64 // cyc_gamma: weight γ^d (0.8)
	// CycRetries bounds the re-draws of the cycle pseudo-labels when no
	// point survives the threshold (upstream re-draws forever); after
	// 1+CycRetries empty draws the cycle loss is 0 and the reason is logged.
	CycRetries int

	LambdaCyc, LambdaRefinedBB, LambdaDinoBB, LambdaNorm, LambdaAngle float64

	// CycAfter and RefinedBBAfter are the iterations from which L_rfn-cc
	// and L_rfn-bb are switched on (apply_cyc_after, apply_cl_ref_after:
	// both 5000).
	CycAfter, RefinedBBAfter int
}

// DefaultLossConfig returns the reference configuration (spec §3, §7.2).
func DefaultLossConfig() LossConfig {
	return LossConfig{
		FlowDelta:        nn.FlowHuberDelta,
		CLPairs:          4,
		CLPointsPerPair:  256,
		CLFGRatio:        0.7,
		CLTemp:           0.1,
		DinoBBDiv:        700,
		RefinedBBDiv:     900,
		AmbA:             27,
		AmbB:             -5.7,
		CycPairs:         4,
		CycPointsPerPair: 256,
		CycFGRatio:       0.7,
		CycThresh:        4,
		CycGamma:         0.8,
		CycRetries:       3,
		LambdaCyc:        0.5,
		LambdaRefinedBB:  5e-5,
		LambdaDinoBB:     2.5e-4,
		LambdaNorm:       1e-4,
		LambdaAngle:      1e-4,
		CycAfter:         5000,
		RefinedBBAfter:   5000,
	}
}

// splitCaps returns upstream's fg/bg caps int(n·ratio) and n − that.
func splitCaps(n int, ratio float64) (fg, bg int) {
	fg = int(float64(n) * ratio)
	return fg, n - fg
}

// FramePair is an ordered (source, target) pair of indices into
// frames_set_t (Objective.Frames).
type FramePair struct{ S, T int }

// DrawFramePairs draws k frame pairs from n frames as upstream's
// torch.randint selectors do: k source indices, then k target indices,
// uniform in [0, n). With distinct set (the DINO best-buddy loss) no pair
// may have source = target; upstream re-draws the whole target vector until
// that holds, which is the same distribution as drawing each target
// uniformly among the n−1 other frames, which is what this does, so it
// never loops. distinct with n < 2 is an error wrapping ErrTooFewFrames
// (upstream would loop forever).
func DrawFramePairs(rng *rand.Rand, n, k int, distinct bool) ([]FramePair, error) {
	if n < 1 {
		return nil, fmt.Errorf("dinotracker: no frames to draw frame pairs from: %w", ErrTooFewFrames)
	}
	if distinct && n < 2 {
		return nil, fmt.Errorf("dinotracker: frames_set_t has one frame, but the DINO best-buddy loss needs two distinct frames (the flow sampler should never produce this): %w", ErrTooFewFrames)
	}
	p := make([]FramePair, k)
	for i := range p {
		p[i].S = rng.IntN(n)
	}
	for i := range p {
		if distinct {
			t := rng.IntN(n - 1)
			if t >= p[i].S {
				t++
			}
			p[i].T = t
		} else {
			p[i].T = rng.IntN(n)
		}
	}
	return p, nil
}

// rangeNorm is upstream's RangeNormalizer to (−1, 1) in float32:
// (v/(size−1))·2 − 1.
func rangeNorm(v float32, size int) float32 {
	return float32(v/float32(size-1))*2 - 1
}

// rangeUnnorm is RangeNormalizer.unnormalize from (−1, 1) in float32:
// ((v+1)/2)·(size−1).
func rangeUnnorm(v float32, size int) float32 {
	return float32((v+1)/2) * float32(size-1)
}

// LossGrads accumulates the gradients of the losses: Feat[k] is
// ∂L/∂(refined map of frame Frames[k]), [C·GH·GW] channel-major like the
// maps, and Head ∂L/∂(refiner parameters). Either may be nil to skip it.
// The losses add (+=); zero before each iteration.
type LossGrads struct {
	Feat [][]float32
	Head *Refiner
}

// Zero clears every gradient.
func (g *LossGrads) Zero() {
	for _, f := range g.Feat {
		clear(f)
	}
	if g.Head != nil {
		g.Head.Zero()
	}
}

// Objective evaluates the training losses for one video. It holds what
// stays fixed (geometry, masks, head, configuration, worker buffers); call
// SetFrames each iteration with that iteration's feature maps. An
// Objective is not safe for concurrent use; its methods parallelise
// internally.
type Objective struct {
	Geom   HeadGeometry
	C      int           // feature channels
	Masks  *fgmask.Masks // foreground masks of all T frames at the model resolution (Geom.W × Geom.H); must not change (counts are cached)
	Head   *Head         // tracker head (its refiner is read, never written)
	Config LossConfig
	Logger *slog.Logger // receives the cycle loss's give-up notices; nil means slog.Default()

	// Set by SetFrames; treat as read-only.
	Frames []int       // frames_set_t: absolute frame ids, ascending
	Feat   [][]float32 // refined map of each frame of Frames, [C·GH·GW]
	Raw    [][]float32 // raw DINO map of each frame of Frames (prior losses only; may be nil otherwise)
	Norm   [][]float32 // token norms of Feat (corr.Norms), [GH·GW]

	pool    chan *headWorker
	fgCount map[int]int // foreground pixel count per absolute frame
}

// headWorker is one goroutine's head workspace and refiner gradient.
type headWorker struct {
	ws   *HeadWorkspace
	grad *Refiner
}

// NewObjective returns an Objective for c-channel features on geometry g.
// The masks must cover the video at g's resolution.
func NewObjective(g HeadGeometry, c int, masks *fgmask.Masks, head *Head, cfg LossConfig) (*Objective, error) {
	g.check()
	switch {
	case c < 1:
		return nil, fmt.Errorf("dinotracker: objective needs ≥ 1 feature channel, got %d", c)
	case head == nil:
		return nil, errors.New("dinotracker: objective needs a head")
	case masks == nil:
		return nil, errors.New("dinotracker: objective needs foreground masks")
	case masks.W != g.W || masks.H != g.H:
		return nil, fmt.Errorf("dinotracker: masks are %d×%d but the model resolution is %d×%d", masks.W, masks.H, g.W, g.H)
	case len(masks.Data) != masks.T*masks.H*masks.W:
		return nil, fmt.Errorf("dinotracker: masks claim %d×%d×%d but hold %d values", masks.T, masks.H, masks.W, len(masks.Data))
	}
	return &Objective{Geom: g, C: c, Masks: masks, Head: head, Config: cfg, fgCount: map[int]int{}}, nil
}

// SetFrames installs one iteration's frames_set_t (ascending absolute
// frame ids), refined maps feat and raw maps raw (nil when the prior losses
// are not evaluated), each [C·GH·GW] per frame, and computes the token
// norms. The slices are kept, not copied: do not change them while the
// Objective uses them.
func (o *Objective) SetFrames(frames []int, feat, raw [][]float32) error {
	p := o.Geom.Tokens()
	if len(frames) == 0 {
		return fmt.Errorf("dinotracker: empty frames_set_t: %w", ErrTooFewFrames)
	}
	if len(feat) != len(frames) || (raw != nil && len(raw) != len(frames)) {
		return fmt.Errorf("dinotracker: %d frames but %d refined and %d raw maps", len(frames), len(feat), len(raw))
	}
	for k, f := range frames {
		if f < 0 || f >= o.Masks.T {
			return fmt.Errorf("dinotracker: frame %d outside the %d masked frames", f, o.Masks.T)
		}
		if k > 0 && f <= frames[k-1] {
			return fmt.Errorf("dinotracker: frames_set_t %v is not strictly ascending", frames)
		}
		if len(feat[k]) != o.C*p {
			return fmt.Errorf("dinotracker: frame %d's refined map holds %d values, want %d×%d×%d", f, len(feat[k]), o.C, o.Geom.GH, o.Geom.GW)
		}
		if raw != nil && len(raw[k]) != o.C*p {
			return fmt.Errorf("dinotracker: frame %d's raw map holds %d values, want %d×%d×%d", f, len(raw[k]), o.C, o.Geom.GH, o.Geom.GW)
		}
	}
	o.Frames, o.Feat, o.Raw = frames, feat, raw
	if cap(o.Norm) < len(frames) {
		o.Norm = make([][]float32, len(frames))
	}
	o.Norm = o.Norm[:len(frames)]
	parallel.For(len(frames), 1, func(lo, hi int) {
		for k := lo; k < hi; k++ {
			if len(o.Norm[k]) != p {
				o.Norm[k] = make([]float32, p)
			}
			corr.Norms(o.Norm[k], feat[k], o.C, p)
		}
	})
	return nil
}

// NewGrads returns zero gradients shaped for the current frames (feature
// maps and refiner).
func (o *Objective) NewGrads() *LossGrads {
	g := &LossGrads{Feat: make([][]float32, len(o.Frames)), Head: NewRefinerZero()}
	for k := range g.Feat {
		g.Feat[k] = make([]float32, o.C*o.Geom.Tokens())
	}
	return g
}

func (o *Objective) logger() *slog.Logger {
	if o.Logger != nil {
		return o.Logger
	}
	return slog.Default()
}

func (o *Objective) checkPair(p FramePair) {
	if p.S < 0 || p.S >= len(o.Frames) || p.T < 0 || p.T >= len(o.Frames) {
		panic(fmt.Sprintf("dinotracker: frame pair %v outside frames_set_t of %d frames", p, len(o.Frames)))
	}
}

// workers returns the pool of per-goroutine head workspaces, one per
// worker of package parallel.
func (o *Objective) workers() chan *headWorker {
	n := parallel.Workers()
	if o.pool == nil || cap(o.pool) != n {
		o.pool = make(chan *headWorker, n)
		for range n {
			o.pool <- &headWorker{ws: NewHeadWorkspace(o.Geom, o.C), grad: NewRefinerZero()}
		}
	}
	return o.pool
}

// samplePlan holds the bilinear taps of n query samplings (headSample at
// GridPos, as the head samples its query): gather samples them, run
// scatters their gradient back. The maps are channel-major, so both split
// the work by channel and loop over the queries inside one channel plane,
// which stays in cache; in run the goroutines never write the same value.
type samplePlan struct {
	o     *Objective
	frame []int
	idx   [][4]int
	wt    [][4]float64
}

func (o *Objective) newPlan(n int) *samplePlan {
	return &samplePlan{o: o, frame: make([]int, n), idx: make([][4]int, n), wt: make([][4]float64, n)}
}

// add records query k: frame index fr, pixel (x, y).
func (s *samplePlan) add(k, fr int, x, y float64) {
	g := s.o.Geom
	col, row := g.GridPos(x, y)
	s.frame[k] = fr
	s.idx[k], s.wt[k] = headBilinear(g.GH, g.GW, col, row)
}

// gather writes the n samples into dst [n·C] (row-major), exactly as
// headSample computes them.
func (s *samplePlan) gather(maps [][]float32, dst []float32) {
	c, p := s.o.C, s.o.Geom.Tokens()
	parallel.For(c, 8, func(lo, hi int) {
		for ch := lo; ch < hi; ch++ {
			for k, fr := range s.frame {
				f := maps[fr][ch*p : (ch+1)*p]
				i, w := &s.idx[k], &s.wt[k]
				dst[k*c+ch] = float32(w[0]*float64(f[i[0]]) + w[1]*float64(f[i[1]]) + w[2]*float64(f[i[2]]) + w[3]*float64(f[i[3]]))
			}
		}
	})
}

// run adds the scatter of d [n·C] (∂L/∂samples) into maps.
func (s *samplePlan) run(maps [][]float32, d []float32) {
	c, p := s.o.C, s.o.Geom.Tokens()
	parallel.For(c, 8, func(lo, hi int) {
		// Channel outer: one channel plane per frame stays in cache while
		// every query's taps land in it.
		for ch := lo; ch < hi; ch++ {
			for k, fr := range s.frame {
				m := maps[fr][ch*p : (ch+1)*p]
				g := float64(d[k*c+ch])
				idx, wt := &s.idx[k], &s.wt[k]
				for j := range idx {
					if wt[j] != 0 {
						m[idx[j]] += float32(wt[j] * g)
					}
				}
			}
		}
	})
}

// eachWorker calls fn on every pooled worker (none may be in use).
func (o *Objective) eachWorker(fn func(w *headWorker)) {
	pool := o.workers()
	ws := make([]*headWorker, 0, cap(pool))
	for range cap(pool) {
		w := <-pool
		fn(w)
		ws = append(ws, w)
	}
	for _, w := range ws {
		pool <- w
	}
}

// lossQuery is one tracker-head evaluation: the point at pixel (X, Y) of
// frame index Src tracked to frame index Tgt.
type lossQuery struct {
	X, Y     float64
	Src, Tgt int
}

// runHead evaluates the head on every query and writes the image-normalised
// predictions into pred [2·len(qs)]. When g is non-nil, back(i, xn, yn)
// must return ∂L/∂(prediction i) (already scaled) and the gradients are
// accumulated into g. back is called concurrently for different i.
//
// Queries are grouped by target frame: one sampling pass builds the query
// features, one corr.Cosine GEMM the cost volumes, the head proper runs per
// query (ForwardCost and, with g, BackwardCost at once: every loss here is
// a sum of per-point terms), then one corr.CosineBackward and the sampling
// scatter. This is exactly Head.Forward/Backward per query, batched.
func (o *Objective) runHead(qs []lossQuery, pred []float32, back func(i int, xn, yn float32) (float32, float32), g *LossGrads) {
	c, p := o.C, o.Geom.Tokens()
	pool := o.workers()
	withGrad := g != nil && back != nil
	headGrad := withGrad && g.Head != nil
	byTgt := make([][]int, len(o.Frames))
	for i, q := range qs {
		if q.Src < 0 || q.Src >= len(o.Frames) || q.Tgt < 0 || q.Tgt >= len(o.Frames) {
			panic(fmt.Sprintf("dinotracker: query %d between frame indices %d and %d, frames_set_t has %d", i, q.Src, q.Tgt, len(o.Frames)))
		}
		byTgt[q.Tgt] = append(byTgt[q.Tgt], i)
	}
	for t, idx := range byTgt {
		n := len(idx)
		if n == 0 {
			continue
		}
		q := make([]float32, n*c)
		plan := o.newPlan(n)
		for k, i := range idx {
			plan.add(k, qs[i].Src, qs[i].X, qs[i].Y)
		}
		plan.gather(o.Feat, q)
		cost := make([]float32, n*p)
		corr.Cosine(cost, q, n, c, o.Feat[t], o.Norm[t], p, true)
		var dS []float32
		if withGrad {
			dS = make([]float32, n*p)
		}
		// Each chunk of queries accumulates its refiner gradient in its own
		// buffer; the buffers are added in chunk order, so the sum does not
		// depend on which worker ran which chunk (bit-reproducible runs).
		var chunkMu sync.Mutex
		var chunks []chunkGrad
		parallel.For(n, 1, func(lo, hi int) {
			w := <-pool
			defer func() { pool <- w }()
			var grad *Refiner
			if headGrad {
				grad = w.grad
				grad.Zero()
			}
			for k := lo; k < hi; k++ {
				i := idx[k]
				copy(w.ws.Cost, cost[k*p:(k+1)*p])
				xn, yn := o.Head.ForwardCost(w.ws)
				pred[2*i], pred[2*i+1] = xn, yn
				if withGrad {
					dx, dy := back(i, xn, yn)
					copy(dS[k*p:(k+1)*p], o.Head.BackwardCost(w.ws, dx, dy, grad))
				}
			}
			if headGrad {
				chunkMu.Lock()
				chunks = append(chunks, chunkGrad{lo, grad.Clone()})
				chunkMu.Unlock()
			}
		})
		if headGrad {
			sort.Slice(chunks, func(a, b int) bool { return chunks[a].lo < chunks[b].lo })
			for _, cg := range chunks {
				g.Head.Add(cg.grad)
			}
		}
		if !withGrad || g.Feat == nil {
			continue
		}
		dq := make([]float32, n*c)
		corr.CosineBackward(dq, g.Feat[t], dS, cost, q, n, c, o.Feat[t], o.Norm[t], p, true, nil)
		plan.run(g.Feat, dq)
	}
}

// chunkGrad is one chunk's refiner gradient in runHead.
type chunkGrad struct {
	lo   int
	grad *Refiner
}

// FlowLoss is L_flow (spec §3.2): the head tracks each point from its
// source to its target frame, and
//
//	L_flow = mean over points × {x, y} of Huber_δ(pred − label)
//
// in image-normalised coordinates, δ = Config.FlowDelta (PyTorch HuberLoss:
// ½e² for |e| < δ, else δ(|e| − ½δ)). It returns the loss and the
// predictions [2·len(points)] (x_n, y_n per point), and with g accumulates
// scale·∂L_flow/∂(maps, refiner). An empty batch gives 0.
func (o *Objective) FlowLoss(points []FlowPoint, scale float32, g *LossGrads) (float32, []float32) {
	n := len(points)
	pred := make([]float32, 2*n)
	if n == 0 {
		return 0, pred
	}
	qs := make([]lossQuery, n)
	label := make([]float32, 2*n)
	for i, pt := range points {
		qs[i] = lossQuery{X: float64(pt.X), Y: float64(pt.Y), Src: pt.Src, Tgt: pt.Tgt}
		label[2*i], label[2*i+1] = pt.LX, pt.LY
	}
	delta := float64(o.Config.FlowDelta)
	k := float64(scale) / float64(2*n)
	o.runHead(qs, pred, func(i int, xn, yn float32) (float32, float32) {
		return float32(k * huberGrad(float64(xn)-float64(label[2*i]), delta)),
			float32(k * huberGrad(float64(yn)-float64(label[2*i+1]), delta))
	}, g)
	return nn.HuberForward(pred, label, nil, 2*n, o.Config.FlowDelta), pred
}

// huberGrad is ∂Huber_δ(e)/∂e = clamp(e, −δ, δ).
func huberGrad(e, delta float64) float64 { return max(-delta, min(delta, e)) }

// huber is PyTorch's huber_loss of one residual.
func huber(e, delta float64) float64 {
	if a := math.Abs(e); a < delta {
		return 0.5 * e * e
	} else {
		return delta * (a - 0.5*delta)
	}
}

// BBForeground reports, for each point (x, y) of xy [2n] (pixels), whether
// frame's mask counts it as foreground the way upstream's
// filter_bb_foreground_pairs does: F.grid_sample of the mask at
// (2x/W − 1, 2y/H − 1), bilinear, align_corners=False, zero padding, in
// float32, and value > 0. Note W and H, not W−1 and H−1: the lookup lands
// half a pixel up-left of (x, y) and reads pixels x−1…x, y−1…y, so a point
// on the mask's outer edge counts as foreground (the mask is effectively
// dilated by one pixel to the right and bottom).
func BBForeground(m *fgmask.Masks, frame int, xy []float32) []bool {
	if frame < 0 || frame >= m.T {
		panic(fmt.Sprintf("dinotracker: BBForeground: frame %d outside %d masks", frame, m.T))
	}
	out := make([]bool, len(xy)/2)
	plane := m.Frame(frame)
	for i := range out {
		out[i] = maskTapFG(plane, m.W, m.H, xy[2*i], xy[2*i+1])
	}
	return out
}

// maskTapFG is one grid_sample lookup of a 0/nonzero mask plane at pixel
// (x, y), see BBForeground. A corner counts when it is inside the plane,
// nonzero and has a positive bilinear weight; the sum of the weighted
// corners is then positive.
func maskTapFG(plane []uint8, w, h int, x, y float32) bool {
	ix := gridUnnormNoAlign(float32(x/float32(w))*2-1, w)
	iy := gridUnnormNoAlign(float32(y/float32(h))*2-1, h)
	if ix != ix || iy != iy {
		return false
	}
	x0f, y0f := float32(math.Floor(float64(ix))), float32(math.Floor(float64(iy)))
	x0, y0 := int(x0f), int(y0f)
	fx, fy := ix-x0f, iy-y0f
	for k := 0; k < 4; k++ {
		dx, dy := k&1, k>>1
		if (dx == 1 && !(fx > 0)) || (dy == 1 && !(fy > 0)) {
			continue // zero weight
		}
		cx, cy := x0+dx, y0+dy
		if cx >= 0 && cx < w && cy >= 0 && cy < h && plane[cy*w+cx] != 0 {
			return true
		}
	}
	return false
}

// gridUnnormNoAlign is grid_sample's align_corners=False unnormalisation
// ((g + 1)·size − 1)/2 in float32 (conversions keep it from being fused).
func gridUnnormNoAlign(g float32, size int) float32 {
	return (float32(float32(g+1)*float32(size)) - 1) / 2
}

// subsample returns up to k of idx: the first k when rng is nil, else a
// uniformly random k-subset in random order (upstream
// idx[torch.randperm(len)[:k]]). idx is not modified.
func subsample(rng *rand.Rand, idx []int, k int) []int {
	k = min(k, len(idx))
	if rng == nil {
		return idx[:k:k]
	}
	c := append([]int(nil), idx...)
	for i := 0; i < k; i++ {
		j := i + rng.IntN(len(c)-i)
		c[i], c[j] = c[j], c[i]
	}
	return c[:k:k]
}

// bbNCE is the symmetric InfoNCE of upstream get_bb_pairs_contrastive_loss
// for n pairs (src_i, tgt_i) of features [n·c] (row-major) between a
// source and a target frame map [c·p]:
//
//	pos_i  = cos(src_i, tgt_i)
//	l_st,i = logΣ_j exp(cos(src_i, tgt map_j)/τ) − pos_i/τ
//	l_ts,i = logΣ_j exp(cos(tgt_i, src map_j)/τ) − pos_i/τ
//
// with cos(a, b) = ⟨a, b⟩/max(‖a‖‖b‖, 1e-8); the positive is also in its
// own denominator (it is one of the map's tokens).
type bbNCE struct {
	n, c, p          int
	temp             float32
	src, tgt         []float32
	srcMap, tgtMap   []float32
	srcNorm, tgtNorm []float32
	st, ts           []float32 // [n·p] cosines against the other frame's tokens
	lseST, lseTS     []float32
	pos              []float32
	lst, lts         []float32
}

func newBBNCE(src, tgt []float32, n, c int, srcMap, srcNorm, tgtMap, tgtNorm []float32, p int, temp float32) *bbNCE {
	b := &bbNCE{n: n, c: c, p: p, temp: temp, src: src, tgt: tgt, srcMap: srcMap, tgtMap: tgtMap, srcNorm: srcNorm, tgtNorm: tgtNorm,
		st: make([]float32, n*p), ts: make([]float32, n*p), lseST: make([]float32, n), lseTS: make([]float32, n),
		pos: make([]float32, n), lst: make([]float32, n), lts: make([]float32, n)}
	corr.Cosine(b.st, src, n, c, tgtMap, tgtNorm, p, false)
	corr.Cosine(b.ts, tgt, n, c, srcMap, srcNorm, p, false)
	for i := 0; i < n; i++ {
		b.pos[i] = float32(pairCos(src[i*c:(i+1)*c], tgt[i*c:(i+1)*c]).cos)
	}
	nn.InfoNCEForward(b.lst, b.lseST, b.pos, b.st, n, p, temp)
	nn.InfoNCEForward(b.lts, b.lseTS, b.pos, b.ts, n, p, temp)
	return b
}

// pairCosine holds cos(a, b) = ⟨a, b⟩/max(‖a‖‖b‖, 1e-8) and its parts.
type pairCosine struct {
	cos, na, nb, den float64
	clamped          bool
}

func pairCos(a, b []float32) pairCosine {
	var dot, na, nb float64
	for k, v := range a {
		w := float64(b[k])
		dot += float64(v) * w
		na += float64(v) * float64(v)
		nb += w * w
	}
	r := pairCosine{na: math.Sqrt(na), nb: math.Sqrt(nb)}
	r.den = r.na * r.nb
	if r.den < float64(corr.Eps) {
		r.den, r.clamped = float64(corr.Eps), true
	}
	r.cos = dot / r.den
	return r
}

// addPairCosGrad adds d·∂cos(a, b)/∂a into da and d·∂cos/∂b into db.
func addPairCosGrad(da, db, a, b []float32, d float64) {
	pc := pairCos(a, b)
	ka, kb := 0.0, 0.0
	if !pc.clamped {
		if pc.na > 0 {
			ka = pc.cos / (pc.na * pc.na)
		}
		if pc.nb > 0 {
			kb = pc.cos / (pc.nb * pc.nb)
		}
	}
	for k := range a {
		av, bv := float64(a[k]), float64(b[k])
		da[k] += float32(d * (bv/pc.den - ka*av))
		db[k] += float32(d * (av/pc.den - kb*bv))
	}
}

// backward takes dl[i] = ∂L/∂l_st,i = ∂L/∂l_ts,i, adds ∂L/∂(maps) into
// dSrcMap and dTgtMap (which may be the same slice, or nil) and returns
// ∂L/∂src and ∂L/∂tgt [n·c].
func (b *bbNCE) backward(dl []float32, dSrcMap, dTgtMap []float32) (dsrc, dtgt []float32) {
	n, c, p := b.n, b.c, b.p
	dsrc, dtgt = make([]float32, n*c), make([]float32, n*c)
	dpos := make([]float32, n)
	dLogits := make([]float32, n*p)
	nn.InfoNCEBackward(dpos, dLogits, dl, b.lseST, b.st, n, p, b.temp)
	corr.CosineBackward(dsrc, dTgtMap, dLogits, b.st, b.src, n, c, b.tgtMap, b.tgtNorm, p, false, nil)
	clear(dLogits)
	nn.InfoNCEBackward(dpos, dLogits, dl, b.lseTS, b.ts, n, p, b.temp)
	corr.CosineBackward(dtgt, dSrcMap, dLogits, b.ts, b.tgt, n, c, b.srcMap, b.srcNorm, p, false, nil)
	for i := 0; i < n; i++ {
		addPairCosGrad(dsrc[i*c:(i+1)*c], dtgt[i*c:(i+1)*c], b.src[i*c:(i+1)*c], b.tgt[i*c:(i+1)*c], float64(dpos[i]))
	}
	return dsrc, dtgt
}

// BBList is the filtered DINO best-buddy list of one ordered frame pair
// (dino_best_buddies_filtered.pt, key "s_t"): n pairs of a source token
// centre in frame s and a target token centre in frame t.
type BBList struct {
	Source []float32 // [2n] source (x, y), pixels
	Target []float32 // [2n] target (x, y), pixels
	Cos    []float32 // [n] raw DINO cosine c of each pair
	R      []float32 // [n] NMS ambiguity ratio r of each pair
}

// Len returns the number of pairs (0 for nil).
func (l *BBList) Len() int {
	if l == nil {
		return 0
	}
	return len(l.Cos)
}

func (l *BBList) check() error {
	n := l.Len()
	if len(l.Source) != 2*n || len(l.Target) != 2*n || len(l.R) != n {
		return fmt.Errorf("best-buddy list holds %d source and %d target coordinates, %d cosines and %d ratios; want 2n, 2n, n, n",
			len(l.Source), len(l.Target), n, len(l.R))
	}
	return nil
}

// BBLists maps an ordered pair of absolute frame ids {source, target} to
// its filtered best-buddy list. Missing and empty lists are skipped, as
// upstream skips None lists.
type BBLists map[[2]int]*BBList

// BBPairStats describes one processed frame pair of a contrastive loss; the
// per-point slices are in the loss's order (foreground, then background).
type BBPairStats struct {
	Pair FramePair
	// Index: DINO-BB: the points' indices into the pair's BBList;
	// refined-BB: the source tokens (flat index row·GW + col).
	Index []int
	// Target: refined-BB only: the matching target tokens.
	Target   []int
	IsFG     []bool
	LST, LTS []float32 // per-point InfoNCE terms l_st, l_ts
	Weight   []float32 // per-point weight
}

// BBResult is the value of a contrastive loss with its per-pair details.
type BBResult struct {
	Loss  float32
	Pairs []BBPairStats // processed pairs (skipped ones are absent)
}

// DinoBBLoss is L_dino-bb (spec §3.3, upstream get_dino_bb_contrastive_loss)
// over the given frame pairs (indices into Frames; pairs with source =
// target and pairs without a list are skipped). For each pair it splits
// the list into foreground and background by the source frame's mask
// (BBForeground), keeps up to 179 fg and 77 bg pairs (all of them when
// under the caps; a random subset drawn from rng otherwise, or the first
// ones when rng is nil), samples the refined features at the token centres
// bilinearly as the head samples queries, and adds the symmetric InfoNCE
// against every token of the other frame with τ = Config.CLTemp and weight
// sigmoid(27(1 − r) − 5.7)·max(2c³, 0):
//
//	L = ½·[Σ_i l_st,i·w_i/700 + Σ_i l_ts,i·w_i/700]   (a sum, not a mean)
//
// With g it accumulates scale·∂L/∂(maps); the refiner is not involved.
func (o *Objective) DinoBBLoss(bb BBLists, pairs []FramePair, rng *rand.Rand, scale float32, g *LossGrads) (*BBResult, error) {
	cfg := o.Config
	c, p := o.C, o.Geom.Tokens()
	capFG, capBG := splitCaps(cfg.CLPointsPerPair, cfg.CLFGRatio)
	res := &BBResult{}
	var sum float64
	for _, pr := range pairs {
		o.checkPair(pr)
		if pr.S == pr.T {
			continue
		}
		fs, ft := o.Frames[pr.S], o.Frames[pr.T]
		list := bb[[2]int{fs, ft}]
		if list.Len() == 0 {
			continue
		}
		if err := list.check(); err != nil {
			return nil, fmt.Errorf("dinotracker: pair %d_%d: %w", fs, ft, err)
		}
		isFG := BBForeground(o.Masks, fs, list.Source)
		var fgIdx, bgIdx []int
		for i, f := range isFG {
			if f {
				fgIdx = append(fgIdx, i)
			} else {
				bgIdx = append(bgIdx, i)
			}
		}
		used := append(subsample(rng, fgIdx, capFG), subsample(rng, bgIdx, capBG)...)
		n := len(used)
		if n == 0 {
			continue
		}
		st := BBPairStats{Pair: pr, Index: used, IsFG: make([]bool, n), Weight: make([]float32, n)}
		srcPlan, tgtPlan := o.newPlan(n), o.newPlan(n)
		for k, i := range used {
			st.IsFG[k] = isFG[i]
			srcPlan.add(k, pr.S, float64(list.Source[2*i]), float64(list.Source[2*i+1]))
			tgtPlan.add(k, pr.T, float64(list.Target[2*i]), float64(list.Target[2*i+1]))
			amb := 1 / (1 + math.Exp(-(cfg.AmbA*(1-float64(list.R[i])) + cfg.AmbB)))
			cc := float64(list.Cos[i])
			st.Weight[k] = float32(amb * max(2*cc*cc*cc, 0))
		}
		src, tgt := make([]float32, n*c), make([]float32, n*c)
		srcPlan.gather(o.Feat, src)
		tgtPlan.gather(o.Feat, tgt)
		nce := newBBNCE(src, tgt, n, c, o.Feat[pr.S], o.Norm[pr.S], o.Feat[pr.T], o.Norm[pr.T], p, cfg.CLTemp)
		st.LST, st.LTS = nce.lst, nce.lts
		for k := range used {
			sum += (float64(nce.lst[k]) + float64(nce.lts[k])) * float64(st.Weight[k]) / cfg.DinoBBDiv
		}
		if g != nil && g.Feat != nil {
			dl := make([]float32, n)
			for k, w := range st.Weight {
				dl[k] = float32(float64(scale) * float64(w) / (2 * cfg.DinoBBDiv))
			}
			dsrc, dtgt := nce.backward(dl, g.Feat[pr.S], g.Feat[pr.T])
			srcPlan.run(g.Feat, dsrc)
			tgtPlan.run(g.Feat, dtgt)
		}
		res.Pairs = append(res.Pairs, st)
	}
	res.Loss = float32(sum / 2)
	return res, nil
}

// mutualNNRows is the row block of mutualNN's affinity (rows × p floats).
const mutualNNRows = 256

// mutualNN finds the best buddies between two maps [c·p] (channel-major)
// as upstream get_refined_bb_contrastive_loss does without gradients: the
// affinity A[a, b] = ⟨src_a, tgt_b⟩/max(‖src_a‖‖tgt_b‖, 1e-8) (float32),
// nn[a] = argmax_b A[a, b] and best[a] its value, and a is a best buddy
// iff argmax_a′ A[a′, nn[a]] = a (first index on ties, as torch.argmax).
// The p×p matrix is never stored: row blocks go through one GEMM each and
// the column maxima are kept running.
func mutualNN(src, srcNorm, tgt, tgtNorm []float32, c, p int) (nnIdx []int32, best []float32, bb []bool) {
	nnIdx, best, bb = make([]int32, p), make([]float32, p), make([]bool, p)
	colMax := make([]float32, p)
	colArg := make([]int32, p)
	for j := range colMax {
		colMax[j] = float32(math.Inf(-1))
	}
	buf := make([]float32, mutualNNRows*p)
	for r0 := 0; r0 < p; r0 += mutualNNRows {
		r := min(mutualNNRows, p-r0)
		a := buf[:r*p]
		gemm.MatMul(true, false, r, p, c, 1, src[r0:], p, tgt, p, 0, a, p)
		parallel.For(r, 8, func(lo, hi int) {
			for i := lo; i < hi; i++ {
				row := a[i*p : (i+1)*p]
				corr.ScaleRowNorm(row, srcNorm[r0+i], tgtNorm, false)
				// The first largest cosine; a NaN never wins (the loop
				// below), whereas Argmax would pick it.
				if m := softargmax.Max(row); m == m {
					bi := softargmax.Argmax(row)
					nnIdx[r0+i], best[r0+i] = int32(bi), row[bi]
					continue
				}
				bi, bv := 0, float32(math.Inf(-1))
				for j, v := range row {
					if v > bv {
						bi, bv = j, v
					}
				}
				nnIdx[r0+i], best[r0+i] = int32(bi), bv
			}
		})
		parallel.For(p, 512, func(lo, hi int) {
			for i := 0; i < r; i++ {
				corr.ColumnMax(colMax[lo:hi], colArg[lo:hi], a[i*p+lo:i*p+hi], int32(r0+i))
			}
		})
	}
	for i := range bb {
		bb[i] = colArg[nnIdx[i]] == int32(i)
	}
	return nnIdx, best, bb
}

// RefinedBBLoss is L_rfn-bb (spec §3.4, upstream
// get_refined_bb_contrastive_loss) over the given frame pairs (source =
// target allowed: every token is then its own best buddy). For each pair it
// finds the mutual nearest neighbours of the current refined token
// features (no gradient; mutualNN), splits them by the source frame's mask
// at the source token centre (BBForeground), keeps up to 179 fg and 77 bg
// (random subset from rng, or the first in token order when rng is nil),
// and adds the symmetric InfoNCE on the grid features (no interpolation)
// with weight max(2a³, 0), a the pair's no-gradient refined cosine:
//
//	L = Σ_pairs Σ_i (l_st,i + l_ts,i)·w_i / (2·900)
//
// With g it accumulates scale·∂L/∂(maps) (weights and pairs are constants).
func (o *Objective) RefinedBBLoss(pairs []FramePair, rng *rand.Rand, scale float32, g *LossGrads) *BBResult {
	c, p := o.C, o.Geom.Tokens()
	capFG, capBG := splitCaps(o.Config.CLPointsPerPair, o.Config.CLFGRatio)
	res := &BBResult{}
	var sum float64
	for _, pr := range pairs {
		o.checkPair(pr)
		nnIdx, best, isBB := mutualNN(o.Feat[pr.S], o.Norm[pr.S], o.Feat[pr.T], o.Norm[pr.T], c, p)
		var srcTok []int
		var xy []float32
		for a, ok := range isBB {
			if ok {
				srcTok = append(srcTok, a)
				x, y := o.Geom.TokenCentre(a)
				xy = append(xy, float32(x), float32(y))
			}
		}
		if len(srcTok) == 0 {
			continue
		}
		isFG := BBForeground(o.Masks, o.Frames[pr.S], xy)
		var fgIdx, bgIdx []int
		for k, f := range isFG {
			if f {
				fgIdx = append(fgIdx, k)
			} else {
				bgIdx = append(bgIdx, k)
			}
		}
		sel := append(subsample(rng, fgIdx, capFG), subsample(rng, bgIdx, capBG)...)
		n := len(sel)
		if n == 0 {
			continue
		}
		st := BBPairStats{Pair: pr, Index: make([]int, n), Target: make([]int, n), IsFG: make([]bool, n), Weight: make([]float32, n)}
		src, tgt := make([]float32, n*c), make([]float32, n*c)
		for k, s := range sel {
			a := srcTok[s]
			b := int(nnIdx[a])
			st.Index[k], st.Target[k], st.IsFG[k] = a, b, isFG[s]
			aff := float64(best[a])
			st.Weight[k] = float32(max(2*aff*aff*aff, 0))
			for ch := 0; ch < c; ch++ {
				src[k*c+ch] = o.Feat[pr.S][ch*p+a]
				tgt[k*c+ch] = o.Feat[pr.T][ch*p+b]
			}
		}
		nce := newBBNCE(src, tgt, n, c, o.Feat[pr.S], o.Norm[pr.S], o.Feat[pr.T], o.Norm[pr.T], p, o.Config.CLTemp)
		st.LST, st.LTS = nce.lst, nce.lts
		for k, w := range st.Weight {
			sum += (float64(nce.lst[k]) + float64(nce.lts[k])) * float64(w)
		}
		if g != nil && g.Feat != nil {
			dl := make([]float32, n)
			for k, w := range st.Weight {
				dl[k] = float32(float64(scale) * float64(w) / (2 * o.Config.RefinedBBDiv))
			}
			dsrc, dtgt := nce.backward(dl, g.Feat[pr.S], g.Feat[pr.T])
			for k := range sel {
				a, b := st.Index[k], st.Target[k]
				for ch := 0; ch < c; ch++ {
					g.Feat[pr.S][ch*p+a] += dsrc[k*c+ch]
					g.Feat[pr.T][ch*p+b] += dtgt[k*c+ch]
				}
			}
		}
		res.Pairs = append(res.Pairs, st)
	}
	res.Loss = float32(sum / (2 * o.Config.RefinedBBDiv))
	return res
}

// CyclePairStats describes the pseudo-label mining of one frame pair of the
// cycle loss; every slice has one entry per sampled pixel.
type CyclePairStats struct {
	Pair  FramePair
	P     []float32 // [2n] sampled pixels (x, y) in the source frame
	Q     []float32 // [2n] p tracked to the target frame, pixels
	PBack []float32 // [2n] q tracked back to the source frame, pixels
	Dist  []float32 // [n] ‖p − p′‖, pixels
	Kept  []bool    // [n] Dist ≤ Config.CycThresh
}

// CycleResult is the value of L_rfn-cc with its mining details.
type CycleResult struct {
	Loss  float32
	Kept  int              // cycle-consistent points over all pairs
	Pairs []CyclePairStats // the (last) draw's pairs
	// PredST and PredTS [2·Kept] are the normalised predictions p → target
	// and q → source of the kept points, in pair order.
	PredST, PredTS []float32
	Draws          int    // pseudo-label draws made (RandomCycleLoss)
	Reason         string // why the loss is 0 when no point was kept
}

// cycleKept is a kept cycle point.
type cycleKept struct {
	p, q   [2]float32 // pixels
	predST [2]float32 // normalised p → target prediction (mining)
	s, t   int        // frame indices
	dist   float32
}

// cycleMine tracks every pixel p of pixels[k] (frame pairs[k].S, [2n]
// interleaved) to the target frame (q) and back (p′), without gradients,
// as upstream get_cycle_consistent_coords: predictions are unnormalised to
// pixels in float32 as RangeNormalizer.unnormalize does, and p is kept when
// ‖p − p′‖ ≤ Config.CycThresh.
func (o *Objective) cycleMine(pairs []FramePair, pixels [][]float32) ([]CyclePairStats, []cycleKept) {
	if len(pixels) != len(pairs) {
		panic(fmt.Sprintf("dinotracker: %d cycle frame pairs but %d pixel sets", len(pairs), len(pixels)))
	}
	var qs []lossQuery
	for k, pr := range pairs {
		o.checkPair(pr)
		px := pixels[k]
		for i := 0; i+1 < len(px); i += 2 {
			qs = append(qs, lossQuery{X: float64(px[i]), Y: float64(px[i+1]), Src: pr.S, Tgt: pr.T})
		}
	}
	w, h := o.Geom.W, o.Geom.H
	pred := make([]float32, 2*len(qs))
	o.runHead(qs, pred, nil, nil)
	back := make([]lossQuery, len(qs))
	qpx := make([]float32, 2*len(qs))
	for i, q := range qs {
		qpx[2*i], qpx[2*i+1] = rangeUnnorm(pred[2*i], w), rangeUnnorm(pred[2*i+1], h)
		back[i] = lossQuery{X: float64(qpx[2*i]), Y: float64(qpx[2*i+1]), Src: q.Tgt, Tgt: q.Src}
	}
	predBack := make([]float32, 2*len(qs))
	o.runHead(back, predBack, nil, nil)
	stats := make([]CyclePairStats, len(pairs))
	var kept []cycleKept
	off := 0
	for k, pr := range pairs {
		n := len(pixels[k]) / 2
		st := CyclePairStats{Pair: pr, P: pixels[k][:2*n], Q: qpx[2*off : 2*(off+n)], PBack: make([]float32, 2*n),
			Dist: make([]float32, n), Kept: make([]bool, n)}
		for i := 0; i < n; i++ {
			j := off + i
			bx, by := rangeUnnorm(predBack[2*j], w), rangeUnnorm(predBack[2*j+1], h)
			st.PBack[2*i], st.PBack[2*i+1] = bx, by
			dx, dy := st.P[2*i]-bx, st.P[2*i+1]-by
			d := float32(math.Sqrt(float64(dx)*float64(dx) + float64(dy)*float64(dy)))
			st.Dist[i] = d
			if float64(d) <= o.Config.CycThresh {
				st.Kept[i] = true
				kept = append(kept, cycleKept{
					p: [2]float32{st.P[2*i], st.P[2*i+1]}, q: [2]float32{qpx[2*j], qpx[2*j+1]},
					predST: [2]float32{pred[2*j], pred[2*j+1]}, s: pr.S, t: pr.T, dist: d})
			}
		}
		stats[k] = st
		off += n
	}
	return stats, kept
}

// cycleFinish is the loss on mined pseudo-labels (upstream
// get_cycle_consistency_loss), w_i = γ^{d_i}:
//
//	L = ½·[mean(w·Huber(pred_{p→t} − q)) + mean(w·Huber(pred_{q→s} − p))]
//
// means over kept points × 2 coordinates, in image-normalised coordinates
// (q and p normalised in float32 as RangeNormalizer does). pred_{p→t} is
// the mining prediction itself, so the first term's residual is only the
// float32 round trip of q (≈1e-7) and its gradient, proportional to that
// residual, is dropped; the first term is kept in the value. The second
// term is recomputed with gradients.
func (o *Objective) cycleFinish(kept []cycleKept, scale float32, g *LossGrads) (loss float32, predST, predTS []float32) {
	n := len(kept)
	if n == 0 {
		return 0, nil, nil
	}
	w, h := o.Geom.W, o.Geom.H
	delta := float64(o.Config.FlowDelta)
	wt := make([]float64, n)
	qs := make([]lossQuery, n)
	predST = make([]float32, 2*n)
	var t1 float64
	for i, k := range kept {
		wt[i] = float64(float32(math.Pow(o.Config.CycGamma, float64(k.dist))))
		qs[i] = lossQuery{X: float64(k.q[0]), Y: float64(k.q[1]), Src: k.t, Tgt: k.s}
		predST[2*i], predST[2*i+1] = k.predST[0], k.predST[1]
		t1 += wt[i] * (huber(float64(k.predST[0])-float64(rangeNorm(k.q[0], w)), delta) +
			huber(float64(k.predST[1])-float64(rangeNorm(k.q[1], h)), delta))
	}
	predTS = make([]float32, 2*n)
	gk := float64(scale) / 2 / float64(2*n)
	o.runHead(qs, predTS, func(i int, xn, yn float32) (float32, float32) {
		px, py := float64(rangeNorm(kept[i].p[0], w)), float64(rangeNorm(kept[i].p[1], h))
		return float32(gk * wt[i] * huberGrad(float64(xn)-px, delta)), float32(gk * wt[i] * huberGrad(float64(yn)-py, delta))
	}, g)
	var t2 float64
	for i, k := range kept {
		t2 += wt[i] * (huber(float64(predTS[2*i])-float64(rangeNorm(k.p[0], w)), delta) +
			huber(float64(predTS[2*i+1])-float64(rangeNorm(k.p[1], h)), delta))
	}
	return float32((t1 + t2) / float64(2*n) / 2), predST, predTS
}

// CycleLoss is L_rfn-cc (spec §3.5) on given pseudo-label draws: pixels[k]
// [2n] holds the integer pixels (x, y) sampled in frame pairs[k].S (see
// DrawCyclePixels). Every pixel is tracked to pairs[k].T and back without
// gradients; the points with ‖p − p′‖ ≤ 4 px are kept, and the loss is
// cycleFinish's. With no kept point the loss is 0 and Reason says why
// (upstream would re-draw; RandomCycleLoss does, a bounded number of
// times). With g it accumulates scale·∂L/∂(maps, refiner).
func (o *Objective) CycleLoss(pairs []FramePair, pixels [][]float32, scale float32, g *LossGrads) *CycleResult {
	stats, kept := o.cycleMine(pairs, pixels)
	res := &CycleResult{Pairs: stats, Kept: len(kept), Draws: 1}
	if len(kept) == 0 {
		res.Reason = fmt.Sprintf("none of the sampled points of %d frame pairs is cycle-consistent within %g px", len(pairs), o.Config.CycThresh)
		return res
	}
	res.Loss, res.PredST, res.PredTS = o.cycleFinish(kept, scale, g)
	return res
}

// RandomCycleLoss draws the cycle loss's frame pairs (Config.CycPairs,
// source = target allowed) and pixels (DrawCyclePixels) from rng and
// evaluates CycleLoss. When no point is cycle-consistent it re-draws, at
// most Config.CycRetries times (upstream loops until one is); then the loss
// is 0, Reason says why and the Objective's Logger gets a warning.
func (o *Objective) RandomCycleLoss(rng *rand.Rand, scale float32, g *LossGrads) (*CycleResult, error) {
	cfg := o.Config
	capFG, capBG := splitCaps(cfg.CycPointsPerPair, cfg.CycFGRatio)
	var res *CycleResult
	for draw := 1; draw <= 1+max(cfg.CycRetries, 0); draw++ {
		pairs, err := DrawFramePairs(rng, len(o.Frames), cfg.CycPairs, false)
		if err != nil {
			return nil, err
		}
		pixels := make([][]float32, len(pairs))
		for k, pr := range pairs {
			pixels[k] = o.DrawCyclePixels(rng, o.Frames[pr.S], capFG, capBG)
		}
		stats, kept := o.cycleMine(pairs, pixels)
		res = &CycleResult{Pairs: stats, Kept: len(kept), Draws: draw}
		if len(kept) > 0 {
			res.Loss, res.PredST, res.PredTS = o.cycleFinish(kept, scale, g)
			return res, nil
		}
	}
	res.Reason = fmt.Sprintf("no cycle-consistent point (‖p − p′‖ ≤ %g px) in %d draws of %d frame pairs; the cycle loss is 0 this iteration (upstream would re-draw forever)",
		cfg.CycThresh, res.Draws, cfg.CycPairs)
	o.logger().Warn("dinotracker: cycle-consistency loss skipped", "reason", res.Reason, "frames", o.Frames)
	return res, nil
}

// DrawCyclePixels draws up to nFG foreground and nBG background integer
// pixels of absolute frame's mask, uniformly without replacement and in
// random order (upstream: grid_coords[mask][torch.randperm(count)[:n]]),
// and returns them fg first as [2·n] interleaved (x, y).
func (o *Objective) DrawCyclePixels(rng *rand.Rand, frame, nFG, nBG int) []float32 {
	plane := o.Masks.Frame(frame)
	if o.fgCount == nil {
		o.fgCount = map[int]int{}
	}
	nfg, ok := o.fgCount[frame]
	if !ok {
		for _, v := range plane {
			if v != 0 {
				nfg++
			}
		}
		o.fgCount[frame] = nfg
	}
	out := make([]float32, 0, 2*(nFG+nBG))
	out = drawMaskPixels(out, rng, plane, o.Masks.W, true, nfg, nFG)
	return drawMaskPixels(out, rng, plane, o.Masks.W, false, len(plane)-nfg, nBG)
}

// drawMaskPixels appends k distinct pixels of plane whose foreground flag
// is fg (count of them: count), uniformly and in random order. Frequent
// classes use rejection (no scan), rare ones a scan.
func drawMaskPixels(out []float32, rng *rand.Rand, plane []uint8, w int, fg bool, count, k int) []float32 {
	k = min(k, count)
	if k <= 0 {
		return out
	}
	is := func(i int) bool { return (plane[i] != 0) == fg }
	if k < count && count*16 >= len(plane) {
		seen := make(map[int]struct{}, k)
		for len(seen) < k {
			i := rng.IntN(len(plane))
			if _, dup := seen[i]; dup || !is(i) {
				continue
			}
			seen[i] = struct{}{}
			out = append(out, float32(i%w), float32(i/w))
		}
		return out
	}
	idx := make([]int, 0, count)
	for i := range plane {
		if is(i) {
			idx = append(idx, i)
		}
	}
	for _, i := range subsample(rng, idx, k) {
		out = append(out, float32(i%w), float32(i/w))
	}
	return out
}

// priorBlock is the token block of the prior losses' channel loops.
const priorBlock = 256

// priorLoss evaluates Σ_tokens term(‖Φ‖, ‖Φ_D‖, ⟨Φ, Φ_D⟩)/N over every
// token of every frame (N of them) and, with g, adds scale/N·(a·Φ + b·Φ_D)
// per token to the gradient, where (term, a, b) = f(nf, nr, dot).
func (o *Objective) priorLoss(what string, scale float32, g *LossGrads, f func(nf, nr, dot float64) (term, a, b float64)) float32 {
	if o.Raw == nil {
		panic(fmt.Sprintf("dinotracker: the %s prior loss needs the raw maps (SetFrames raw)", what))
	}
	c, p := o.C, o.Geom.Tokens()
	nTok := len(o.Frames) * p
	blocks := (p + priorBlock - 1) / priorBlock
	partial := make([]float64, len(o.Frames)*blocks)
	k := float64(scale) / float64(nTok)
	parallel.For(len(o.Frames)*blocks, 1, func(lo, hi int) {
		var nf2, nr2, dot, ca, cb [priorBlock]float64
		for job := lo; job < hi; job++ {
			fr, j0 := job/blocks, (job%blocks)*priorBlock
			j1 := min(j0+priorBlock, p)
			m := j1 - j0
			clear(nf2[:m])
			clear(nr2[:m])
			clear(dot[:m])
			feat, raw := o.Feat[fr], o.Raw[fr]
			for ch := 0; ch < c; ch++ {
				fs, rs := feat[ch*p+j0:ch*p+j1], raw[ch*p+j0:ch*p+j1]
				for j, v := range fs {
					fv, rv := float64(v), float64(rs[j])
					nf2[j] += fv * fv
					nr2[j] += rv * rv
					dot[j] += fv * rv
				}
			}
			var s float64
			for j := 0; j < m; j++ {
				t, a, b := f(math.Sqrt(nf2[j]), math.Sqrt(nr2[j]), dot[j])
				s += t
				ca[j], cb[j] = k*a, k*b
			}
			partial[job] = s
			if g == nil || g.Feat == nil {
				continue
			}
			gf := g.Feat[fr]
			for ch := 0; ch < c; ch++ {
				gs, fs, rs := gf[ch*p+j0:ch*p+j1], feat[ch*p+j0:ch*p+j1], raw[ch*p+j0:ch*p+j1]
				for j := range gs {
					gs[j] += float32(ca[j]*float64(fs[j]) + cb[j]*float64(rs[j]))
				}
			}
		}
	})
	var sum float64
	for _, s := range partial {
		sum += s
	}
	return float32(sum / float64(nTok))
}

// sign is the sign of x (0 at 0), as torch.sign and abs's gradient.
func sign(x float64) float64 {
	switch {
	case x > 0:
		return 1
	case x < 0:
		return -1
	}
	return 0
}

// NormLoss is L_norm (spec §3.6): mean over the frames and tokens of
// |‖Φ‖/‖Φ_D‖ − 1|, Φ the refined and Φ_D the raw token feature. With g it
// accumulates scale·∂L/∂Φ (zero for a zero Φ, as PyTorch's norm backward).
func (o *Objective) NormLoss(scale float32, g *LossGrads) float32 {
	return o.priorLoss("norm", scale, g, func(nf, nr, _ float64) (float64, float64, float64) {
		r := nf / nr
		a := 0.0
		if nf > 0 {
			a = sign(r-1) / (nf * nr)
		}
		return math.Abs(r - 1), a, 0
	})
}

// AngleLoss is L_angle (spec §3.6): mean of |cos(Φ, Φ_D) − 1| with
// cos = ⟨Φ, Φ_D⟩/(‖Φ‖‖Φ_D‖) (no epsilon, as upstream). With g it
// accumulates scale·∂L/∂Φ.
func (o *Objective) AngleLoss(scale float32, g *LossGrads) float32 {
	return o.priorLoss("angle", scale, g, func(nf, nr, dot float64) (float64, float64, float64) {
		den := nf * nr
		cs := dot / den
		s := sign(cs - 1)
		return math.Abs(cs - 1), -s * cs / (nf * nf), s / den
	})
}

// LossValues are one iteration's loss terms and their weighted total.
type LossValues struct {
	Flow, DinoBB, RefinedBB, Cycle, Norm, Angle float32
	// CycleOn and RefinedBBOn report whether the two late losses were
	// active (iteration ≥ Config.CycAfter, RefinedBBAfter); inactive ones
	// are 0 and not evaluated.
	CycleOn, RefinedBBOn bool
	Total                float32
	CycleReason          string // set when the cycle loss gave up (see RandomCycleLoss)
}

// Weighted returns the total loss of spec §3.7 for the terms in v at
// iteration iter:
//
//	L = Flow + [iter ≥ CycAfter]·λ_cyc·Cycle + [iter ≥ RefinedBBAfter]·λ_rfn·RefinedBB
//	  + λ_dino·DinoBB + λ_norm·Norm + λ_angle·Angle
func (c LossConfig) Weighted(iter int, v LossValues) float32 {
	t := float64(v.Flow) + c.LambdaDinoBB*float64(v.DinoBB) + c.LambdaNorm*float64(v.Norm) + c.LambdaAngle*float64(v.Angle)
	if iter >= c.CycAfter {
		t += c.LambdaCyc * float64(v.Cycle)
	}
	if iter >= c.RefinedBBAfter {
		t += c.LambdaRefinedBB * float64(v.RefinedBB)
	}
	return float32(t)
}

// Total evaluates the whole objective of iteration iter (spec §3.7, §4) on
// the flow batch, whose Frames must be the Objective's (SetFrames), drawing
// every random choice from rng in upstream's order: cycle pairs and pixels
// (from CycAfter on), refined-BB pairs (from RefinedBBAfter on), DINO-BB
// pairs and subsets. With g it accumulates the gradient of the weighted
// total (each loss scaled by its λ). bb may be nil (no DINO best-buddies).
func (o *Objective) Total(iter int, batch *FlowBatch, bb BBLists, rng *rand.Rand, g *LossGrads) (*LossValues, error) {
	cfg := o.Config
	if len(batch.Frames) != len(o.Frames) {
		return nil, fmt.Errorf("dinotracker: the flow batch's frames %v are not the objective's %v (call SetFrames with them)", batch.Frames, o.Frames)
	}
	for k, f := range batch.Frames {
		if o.Frames[k] != f {
			return nil, fmt.Errorf("dinotracker: the flow batch's frames %v are not the objective's %v (call SetFrames with them)", batch.Frames, o.Frames)
		}
	}
	v := &LossValues{CycleOn: iter >= cfg.CycAfter, RefinedBBOn: iter >= cfg.RefinedBBAfter}
	v.Flow, _ = o.FlowLoss(batch.Points, 1, g)
	if v.CycleOn {
		r, err := o.RandomCycleLoss(rng, float32(cfg.LambdaCyc), g)
		if err != nil {
			return nil, err
		}
		v.Cycle, v.CycleReason = r.Loss, r.Reason
	}
	if v.RefinedBBOn {
		pairs, err := DrawFramePairs(rng, len(o.Frames), cfg.CLPairs, false)
		if err != nil {
			return nil, err
		}
		v.RefinedBB = o.RefinedBBLoss(pairs, rng, float32(cfg.LambdaRefinedBB), g).Loss
	}
	pairs, err := DrawFramePairs(rng, len(o.Frames), cfg.CLPairs, true)
	if err != nil {
		return nil, err
	}
	r, err := o.DinoBBLoss(bb, pairs, rng, float32(cfg.LambdaDinoBB), g)
	if err != nil {
		return nil, err
	}
	v.DinoBB = r.Loss
	v.Norm = o.NormLoss(float32(cfg.LambdaNorm), g)
	v.Angle = o.AngleLoss(float32(cfg.LambdaAngle), g)
	v.Total = cfg.Weighted(iter, *v)
	return v, nil
}
