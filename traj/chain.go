package traj

import (
	"context"
	"errors"
	"fmt"
	"math"

	"dinotracker/flow"
	"dinotracker/internal/parallel"
)

// Options configures Chain. The zero value is not useful; start from
// DefaultOptions.
type Options struct {
	// Threshold is the forward-backward consistency limit in pixels
	// (upstream `threshold`, 1.5). It is used three times, as upstream
	// does: for the consistent-with-previous masks, for the check at every
	// chaining step, and for the validity of the direct flows.
	Threshold float32
	// DirectThreshold is the largest distance in pixels between a chained
	// position and the direct-flow position of its seed
	// (upstream `direct_flow_threshold`, 2.5). Used only with UseDirect.
	DirectThreshold float32
	// UseDirect enables the direct-flow filter (upstream
	// `filter_using_direct_flow`, true for trajectories.pt; the
	// trajectories_wo_direct_filter.pt run has it off).
	UseDirect bool
	// MinLength is the minimum number of valid frames of a kept trajectory
	// (upstream `min_trajectory_length`, 2). It also limits the start
	// frames to 0 … T−MinLength.
	MinLength int
}

// DefaultOptions returns upstream's config/preprocessing.yaml settings:
// threshold 1.5, direct-flow threshold 2.5, direct filtering on, minimum
// length 2.
func DefaultOptions() Options {
	return Options{Threshold: 1.5, DirectThreshold: 2.5, UseDirect: true, MinLength: 2}
}

func (o Options) check() error {
	if !(o.Threshold > 0) || math.IsInf(float64(o.Threshold), 0) {
		return fmt.Errorf("traj: threshold %v must be positive and finite", o.Threshold)
	}
	if o.UseDirect && (!(o.DirectThreshold > 0) || math.IsInf(float64(o.DirectThreshold), 0)) {
		return fmt.Errorf("traj: direct-flow threshold %v must be positive and finite", o.DirectThreshold)
	}
	if o.MinLength < 1 {
		return fmt.Errorf("traj: minimum trajectory length %d must be at least 1", o.MinLength)
	}
	return nil
}

// Flows supplies the optical flow of a T-frame video to Chain and
// ConsistencyMasks. Every field must be W×H, planar, finite, and defined on
// the pixel grid of its source frame.
//
// Call pattern and cost. Chain processes one start frame s at a time and, for
// each, walks frames s, s+1, … while any of its trajectories is alive, so
// Forward(t) and Backward(t) are requested up to t+2 times each (once per
// start frame that reaches t, plus once for the consistency mask of frame
// t+1): implementations should keep the T−1 consecutive pairs in memory (see
// MemFlows) or cache them. Direct(from, to) is requested only with
// Options.UseDirect, only for |from−to| ≥ 2 (adjacent pairs reuse Forward
// and Backward), and each ordered pair at most once: up to (T−1)(T−2)
// fields per video, the O(T²) cost of upstream's direct filtering (about
// T(T−1) RAFT evaluations), so computing them lazily inside Direct is the
// intended use. Chain does not retain a returned field after the step that
// uses it.
type Flows interface {
	// Forward returns the flow from frame t to frame t+1, 0 ≤ t ≤ T−2.
	Forward(t int) (*flow.Field, error)
	// Backward returns the flow from frame t+1 to frame t, 0 ≤ t ≤ T−2.
	Backward(t int) (*flow.Field, error)
	// Direct returns the flow from frame `from` to frame `to` (either
	// order, |from−to| ≥ 2). Only called when Options.UseDirect is set.
	Direct(from, to int) (*flow.Field, error)
}

// MemFlows is a Flows held in memory: Fwd[t] is the flow t→t+1, Bwd[t] the
// flow t+1→t, and DirectFunc (optional, needed only with
// Options.UseDirect) computes or loads the direct flow from→to.
type MemFlows struct {
	Fwd, Bwd   []*flow.Field
	DirectFunc func(from, to int) (*flow.Field, error)
}

// Forward returns Fwd[t].
func (m *MemFlows) Forward(t int) (*flow.Field, error) {
	if t < 0 || t >= len(m.Fwd) {
		return nil, fmt.Errorf("traj: no forward flow %d (have %d)", t, len(m.Fwd))
	}
	return m.Fwd[t], nil
}

// Backward returns Bwd[t].
func (m *MemFlows) Backward(t int) (*flow.Field, error) {
	if t < 0 || t >= len(m.Bwd) {
		return nil, fmt.Errorf("traj: no backward flow %d (have %d)", t, len(m.Bwd))
	}
	return m.Bwd[t], nil
}

// Direct calls DirectFunc.
func (m *MemFlows) Direct(from, to int) (*flow.Field, error) {
	if m.DirectFunc == nil {
		return nil, fmt.Errorf("traj: no direct flows supplied (direct flow %d→%d requested)", from, to)
	}
	return m.DirectFunc(from, to)
}

// checkField reports a field of the wrong size or with a non-finite vector.
func checkField(f *flow.Field, W, H int, what string) error {
	if f == nil {
		return fmt.Errorf("traj: %s is missing (nil)", what)
	}
	if f.W != W || f.H != H || len(f.U) != W*H || len(f.V) != W*H {
		return fmt.Errorf("traj: %s is %d×%d with %d/%d values; the video is %d×%d", what, f.W, f.H, len(f.U), len(f.V), W, H)
	}
	// Scan in parallel; report the first bad pixel in row-major order.
	const grain = 1 << 16
	nChunks := (W*H + grain - 1) / grain
	first := make([]int, nChunks)
	parallel.For(nChunks, 1, func(lo, hi int) {
		for ch := lo; ch < hi; ch++ {
			first[ch] = -1
			u, v := f.U[ch*grain:min((ch+1)*grain, W*H)], f.V[ch*grain:min((ch+1)*grain, W*H)]
			for i := range u {
				// An all-ones exponent is Inf or NaN.
				if math.Float32bits(u[i])&0x7f800000 == 0x7f800000 || math.Float32bits(v[i])&0x7f800000 == 0x7f800000 {
					first[ch] = ch*grain + i
					break
				}
			}
		}
	})
	for _, i := range first {
		if i >= 0 {
			return fmt.Errorf("traj: %s has a non-finite vector (%v, %v) at pixel (x=%d, y=%d)", what, f.U[i], f.V[i], i%W, i/W)
		}
	}
	return nil
}

func checkDims(T, W, H int) error {
	if T < 2 {
		return fmt.Errorf("traj: a video of %d frame(s) has no flow; need at least 2 frames", T)
	}
	if W < 2 || H < 2 {
		return fmt.Errorf("traj: frame size %d×%d is too small; need at least 2×2", W, H)
	}
	if int64(W)*int64(H) > math.MaxInt32 {
		return fmt.Errorf("traj: frame size %d×%d has too many pixels", W, H)
	}
	return nil
}

// source wraps a Flows with size/finiteness checks; each consecutive field
// is validated the first time it is fetched.
type source struct {
	flows        Flows
	W, H         int
	fwdOK, bwdOK []bool
}

func newSource(flows Flows, T, W, H int) *source {
	return &source{flows: flows, W: W, H: H, fwdOK: make([]bool, T-1), bwdOK: make([]bool, T-1)}
}

func (s *source) forward(t int) (*flow.Field, error) {
	f, err := s.flows.Forward(t)
	if err != nil {
		return nil, fmt.Errorf("traj: forward flow %d (frame %d→%d): %w", t, t, t+1, err)
	}
	if !s.fwdOK[t] {
		if err := checkField(f, s.W, s.H, fmt.Sprintf("forward flow %d (frame %d→%d)", t, t, t+1)); err != nil {
			return nil, err
		}
		s.fwdOK[t] = true
	}
	return f, nil
}

func (s *source) backward(t int) (*flow.Field, error) {
	f, err := s.flows.Backward(t)
	if err != nil {
		return nil, fmt.Errorf("traj: backward flow %d (frame %d→%d): %w", t, t+1, t, err)
	}
	if !s.bwdOK[t] {
		if err := checkField(f, s.W, s.H, fmt.Sprintf("backward flow %d (frame %d→%d)", t, t+1, t)); err != nil {
			return nil, err
		}
		s.bwdOK[t] = true
	}
	return f, nil
}

func (s *source) direct(from, to int) (*flow.Field, error) {
	f, err := s.flows.Direct(from, to)
	if err != nil {
		return nil, fmt.Errorf("traj: direct flow (frame %d→%d): %w", from, to, err)
	}
	if err := checkField(f, s.W, s.H, fmt.Sprintf("direct flow (frame %d→%d)", from, to)); err != nil {
		return nil, err
	}
	return f, nil
}

// consistencyMask fills dst[p] for every pixel p of frame i+1 given
// fwd = F[i] (i→i+1) and bwd = B[i] (i+1→i); hit is scratch of the same size.
func consistencyMask(fwd, bwd *flow.Field, g *geom, thr float32, dst, hit []bool) {
	W, H := g.W, g.H
	clear(hit)
	// Forward hits: p + F[i](p), rounded half to even (torch.round), inside.
	for y := 0; y < H; y++ {
		fy := float32(y)
		for x := 0; x < W; x++ {
			i := y*W + x
			rx := math.RoundToEven(float64(float32(x) + fwd.U[i]))
			ry := math.RoundToEven(float64(fy + fwd.V[i]))
			if rx >= 0 && rx <= float64(W-1) && ry >= 0 && ry <= float64(H-1) {
				hit[int(ry)*W+int(rx)] = true
			}
		}
	}
	// Back-forth error at every pixel of frame i+1.
	parallel.For(H, max(1, 16384/W), func(lo, hi int) {
		for y := lo; y < hi; y++ {
			py := float32(y)
			for x := 0; x < W; x++ {
				i := y*W + x
				px := float32(x)
				x1, y1 := px+bwd.U[i], py+bwd.V[i]
				fu, fv := g.sampleZero(fwd, x1, y1)
				dst[i] = hit[i] && norm2(px-(x1+fu), py-(y1+fv)) < thr
			}
		}
	})
}

// ConsistencyMask returns upstream's "consistent with the previous frame"
// mask of frame i+1 (get_flows_with_masks with add_missing_forward_warp)
// from fwd = F[i] (frame i→i+1) and bwd = B[i] (frame i+1→i): pixel p is
// consistent when its back-forth error ‖p − (q + F[i](q))‖, q = p + B[i](p),
// F sampled bilinearly (align_corners=True, zero padding), is below
// threshold, and some pixel of frame i moved by F[i] and rounded (half to
// even) lands on p. dst (row-major W·H) is reused when large enough.
func ConsistencyMask(fwd, bwd *flow.Field, threshold float32, dst []bool) ([]bool, error) {
	if fwd == nil || bwd == nil {
		return nil, errors.New("traj: ConsistencyMask needs both flows")
	}
	W, H := fwd.W, fwd.H
	if err := checkDims(2, W, H); err != nil {
		return nil, err
	}
	if err := checkField(fwd, W, H, "forward flow"); err != nil {
		return nil, err
	}
	if err := checkField(bwd, W, H, "backward flow"); err != nil {
		return nil, err
	}
	if cap(dst) < W*H {
		dst = make([]bool, W*H)
	}
	dst = dst[:W*H]
	g := newGeom(W, H)
	consistencyMask(fwd, bwd, &g, threshold, dst, make([]bool, W*H))
	return dst, nil
}

// ConsistencyMasks returns the T masks M[0..T−1] (each W·H, row-major) of
// upstream get_flows_with_masks: M[0] is all false and M[i+1] is
// ConsistencyMask(F[i], B[i]). Upstream allocates one more, always false,
// entry M[T]; it is not returned.
func ConsistencyMasks(ctx context.Context, flows Flows, T, W, H int, threshold float32) ([][]bool, error) {
	if err := checkDims(T, W, H); err != nil {
		return nil, err
	}
	src := newSource(flows, T, W, H)
	g := newGeom(W, H)
	hit := make([]bool, W*H)
	out := make([][]bool, T)
	out[0] = make([]bool, W*H)
	for i := 0; i+1 < T; i++ {
		if err := ctx.Err(); err != nil {
			return nil, err
		}
		fwd, err := src.forward(i)
		if err != nil {
			return nil, err
		}
		bwd, err := src.backward(i)
		if err != nil {
			return nil, err
		}
		out[i+1] = make([]bool, W*H)
		consistencyMask(fwd, bwd, &g, threshold, out[i+1], hit)
	}
	return out, nil
}

// DirectMask returns upstream's validity mask of a direct flow pair
// (compute_direct_flows_for_start_frame): with fwd the flow s→t and bwd the
// flow t→s, pixel p of frame s is valid when c = p + fwd(p) lies in
// [0, W−1]×[0, H−1] and the cycle error ‖p − (c + bwd(c))‖ is below
// threshold, bwd sampled bilinearly with border padding. dst is reused when
// large enough.
func DirectMask(fwd, bwd *flow.Field, threshold float32, dst []bool) ([]bool, error) {
	if fwd == nil || bwd == nil {
		return nil, errors.New("traj: DirectMask needs both flows")
	}
	W, H := fwd.W, fwd.H
	if err := checkDims(2, W, H); err != nil {
		return nil, err
	}
	if err := checkField(fwd, W, H, "forward direct flow"); err != nil {
		return nil, err
	}
	if err := checkField(bwd, W, H, "backward direct flow"); err != nil {
		return nil, err
	}
	if cap(dst) < W*H {
		dst = make([]bool, W*H)
	}
	dst = dst[:W*H]
	g := newGeom(W, H)
	for p := range dst {
		dst[p] = g.directValidAt(fwd, bwd, p, float32(p%W), float32(p/W), threshold)
	}
	return dst, nil
}

// bitset marks covered pixels of one frame.
type bitset []uint64

func (b bitset) set(i int)      { b[i>>6] |= 1 << (uint(i) & 63) }
func (b bitset) get(i int) bool { return b[i>>6]&(1<<(uint(i)&63)) != 0 }

// Chain builds the long trajectories of a T-frame W×H video from its optical
// flow exactly as upstream preprocessing/extract_trajectories.py
// save_trajectories does (spec §1.3 step C):
//
//   - For each start frame s = 0 … T−MinLength, the seeds are the integer
//     pixels p of frame s that are not consistent with frame s−1
//     (ConsistencyMask; every pixel at s = 0) or that no already kept
//     trajectory passes through at frame s (its position rounded half to
//     even, inside the image).
//   - Each seed moves by c' = c + F[t](c), F sampled bilinearly
//     (align_corners=True, zero padding), in float32. It dies at the first
//     step where the back-forth error ‖c − (c' + B[t](c'))‖ reaches
//     Threshold, where c'.x ∉ [0, W−1] or c'.y ∉ [0, H−1], or (with
//     UseDirect) where the direct flow s→t+1 is valid at the seed
//     (DirectMask) and ‖c' − (p + D(p))‖ reaches DirectThreshold.
//   - Trajectories with at least MinLength valid frames are kept, ordered by
//     start frame, then by seed pixel in row-major order.
//
// Flows are fetched through flows (see Flows for the call pattern and the
// O(T²) cost of the direct flows); every field is checked for its size and
// for NaN/Inf (the error names the flow, its frames and the first bad
// pixel).
//
// Memory: Chain never builds the dense [N, T, 2] array. It keeps the kept
// trajectories compactly (one block per start frame), the positions of the
// current start frame's live seeds step by step (about that start frame's
// share of the result), a coverage bitmap per future start frame (at most
// T·W·H/8 bytes) and O(W·H) scratch; at the end the blocks are copied once
// into the Set's slices, so the peak is about twice the result's size. The
// per-seed propagation runs in parallel (internal/parallel.For); the result
// does not depend on GOMAXPROCS.
//
// progress, if not nil, is called from the calling goroutine with the work
// done so far and the total, in units of one frame step of one start frame
// (Σ_s (T−s) units in all; start frames whose seeds all die early jump
// ahead). Chain returns ctx.Err() when ctx is cancelled.
func Chain(ctx context.Context, flows Flows, T, W, H int, opt Options, progress func(done, total int)) (*Set, error) {
	if err := checkDims(T, W, H); err != nil {
		return nil, err
	}
	if err := opt.check(); err != nil {
		return nil, err
	}
	c := newChainer(flows, T, W, H, opt)
	nStart := max(0, T-(opt.MinLength-1))
	total := 0
	for s := 0; s < nStart; s++ {
		total += T - s
	}
	done := 0
	for s := 0; s < nStart; s++ {
		report := func(n int) {
			done += n
			if progress != nil {
				progress(done, total)
			}
		}
		if err := c.startFrame(ctx, s, nStart, report); err != nil {
			return nil, err
		}
	}
	c.hist = history{} // release the scratch before the final copy
	return c.assemble(), nil
}

type chainer struct {
	src    *source
	T      int
	g      geom
	opt    Options
	pieces []piece // kept trajectories, one piece per start frame

	cov  []bitset // coverage of each future start frame by kept trajectories
	mask []bool   // consistency mask of the current start frame
	hit  []bool

	seedPix []int32   // seed pixel of each seed ordinal
	alive   []int32   // seed ordinals still alive, ascending
	cx, cy  []float32 // current positions of the alive seeds
	nx, ny  []float32 // next positions (per alive slot)
	ok      []bool    // survival of the current step (per alive slot)
	length  []int32   // valid frames of each seed ordinal
	hist    history   // per-step positions of the alive seeds
	histOff []int     // index of each step's first position in hist
	cursor  []int
}

// piece holds the kept trajectories of one start frame.
type piece struct {
	start int
	len   []int32
	xy    []float32
}

// history is an append-only list of (x, y) positions stored in fixed-size
// blocks, so that it grows without copying; blocks are reused across start
// frames.
type history struct {
	blocks [][]float32
	n      int // positions stored
}

const histShift = 18 // 2^18 positions (2 MiB) per block

func (h *history) reset() { h.n = 0 }

func (h *history) add(x, y float32) {
	b, o := h.n>>histShift, 2*(h.n&(1<<histShift-1))
	if b == len(h.blocks) {
		h.blocks = append(h.blocks, make([]float32, 2<<histShift))
	}
	blk := h.blocks[b]
	blk[o], blk[o+1] = x, y
	h.n++
}

func (h *history) at(q int) (x, y float32) {
	blk := h.blocks[q>>histShift]
	o := 2 * (q & (1<<histShift - 1))
	return blk[o], blk[o+1]
}

func newChainer(flows Flows, T, W, H int, opt Options) *chainer {
	n := W * H
	return &chainer{
		src:  newSource(flows, T, W, H),
		T:    T,
		g:    newGeom(W, H),
		opt:  opt,
		cov:  make([]bitset, T),
		mask: make([]bool, n),
		hit:  make([]bool, n),
	}
}

func (c *chainer) startFrame(ctx context.Context, s, nStart int, report func(int)) error {
	if err := ctx.Err(); err != nil {
		return err
	}
	W, n := c.g.W, c.g.W*c.g.H
	// Seeds: not consistent with frame s−1, or not covered by a kept trajectory.
	if s == 0 {
		clear(c.mask)
	} else {
		fwd, err := c.src.forward(s - 1)
		if err != nil {
			return err
		}
		bwd, err := c.src.backward(s - 1)
		if err != nil {
			return err
		}
		consistencyMask(fwd, bwd, &c.g, c.opt.Threshold, c.mask, c.hit)
	}
	cov := c.cov[s]
	c.cov[s] = nil
	c.seedPix = c.seedPix[:0]
	for p := 0; p < n; p++ {
		if !c.mask[p] || cov == nil || !cov.get(p) {
			c.seedPix = append(c.seedPix, int32(p))
		}
	}
	ns := len(c.seedPix)
	c.alive = grow(c.alive, ns)
	c.cx, c.cy = grow(c.cx, ns), grow(c.cy, ns)
	c.nx, c.ny = grow(c.nx, ns), grow(c.ny, ns)
	c.ok = grow(c.ok, ns)
	c.length = grow(c.length, ns)
	c.hist.reset()
	c.histOff = append(c.histOff[:0], 0)
	for i, p := range c.seedPix {
		x, y := float32(int(p)%W), float32(int(p)/W)
		c.alive[i], c.cx[i], c.cy[i], c.length[i] = int32(i), x, y, 1
		c.hist.add(x, y)
	}
	c.histOff = append(c.histOff, ns)
	report(1)

	nAlive := ns
	steps := c.T - 1 - s
	k := 0
	for ; k < steps && nAlive > 0; k++ {
		if err := ctx.Err(); err != nil {
			return err
		}
		if err := c.step(s, k, nAlive); err != nil {
			return err
		}
		// Compact the survivors (deterministic, in seed order).
		m := 0
		for j := 0; j < nAlive; j++ {
			if !c.ok[j] {
				continue
			}
			a := c.alive[j]
			c.alive[m], c.cx[m], c.cy[m] = a, c.nx[j], c.ny[j]
			c.length[a]++
			c.hist.add(c.nx[j], c.ny[j])
			m++
		}
		nAlive = m
		c.histOff = append(c.histOff, c.histOff[len(c.histOff)-1]+m)
		report(1)
	}
	if k < steps {
		report(steps - k)
	}
	c.collect(s, nStart, ns)
	return nil
}

// step advances the nAlive live seeds of start frame s from frame s+k to
// s+k+1, filling nx, ny and ok.
func (c *chainer) step(s, k, nAlive int) error {
	t := s + k
	fwd, err := c.src.forward(t)
	if err != nil {
		return err
	}
	bwd, err := c.src.backward(t)
	if err != nil {
		return err
	}
	var dfw, dbw *flow.Field
	if c.opt.UseDirect {
		if k == 0 {
			dfw, dbw = fwd, bwd // the direct pair s→s+1 is the consecutive pair
		} else {
			if dfw, err = c.src.direct(s, t+1); err != nil {
				return err
			}
			if dbw, err = c.src.direct(t+1, s); err != nil {
				return err
			}
		}
	}
	g := &c.g
	W := g.W
	thr, dthr := c.opt.Threshold, c.opt.DirectThreshold
	cx, cy, nx, ny, oks := c.cx[:nAlive], c.cy[:nAlive], c.nx[:nAlive], c.ny[:nAlive], c.ok[:nAlive]
	alive, seedPix := c.alive[:nAlive], c.seedPix
	parallel.For(nAlive, 2048, func(lo, hi int) {
		for j := lo; j < hi; j++ {
			x, y := cx[j], cy[j]
			fu, fv := g.sampleZero(fwd, x, y)
			x1, y1 := x+fu, y+fv
			bu, bv := g.sampleZero(bwd, x1, y1)
			ok := norm2(x-(x1+bu), y-(y1+bv)) < thr && g.inside(x1, y1)
			if ok && dfw != nil {
				p := int(seedPix[alive[j]])
				px, py := float32(p%W), float32(p/W)
				if g.directValidAt(dfw, dbw, p, px, py, thr) {
					ok = norm2(x1-(px+dfw.U[p]), y1-(py+dfw.V[p])) < dthr
				}
			}
			nx[j], ny[j], oks[j] = x1, y1, ok
		}
	})
	return nil
}

// collect stores the kept trajectories of start frame s (ns seeds) as a
// piece, in seed order, and marks the frames they cover.
func (c *chainer) collect(s, nStart, ns int) {
	minLen := int32(c.opt.MinLength)
	nKeep, nPos := 0, 0
	for _, l := range c.length[:ns] {
		if l >= minLen {
			nKeep++
			nPos += int(l)
		}
	}
	if nKeep == 0 {
		return
	}
	pc := piece{start: s, len: make([]int32, 0, nKeep), xy: make([]float32, 0, 2*nPos)}
	steps := len(c.histOff) - 1
	c.cursor = append(c.cursor[:0], c.histOff[:steps]...)
	W, H := c.g.W, c.g.H
	for i := 0; i < ns; i++ {
		L := int(c.length[i])
		if c.length[i] < minLen {
			for k := 0; k < L; k++ {
				c.cursor[k]++
			}
			continue
		}
		pc.len = append(pc.len, int32(L))
		for k := 0; k < L; k++ {
			x, y := c.hist.at(c.cursor[k])
			c.cursor[k]++
			pc.xy = append(pc.xy, x, y)
			f := s + k
			if k == 0 || f >= nStart {
				continue
			}
			rx, ry := math.RoundToEven(float64(x)), math.RoundToEven(float64(y))
			if rx >= 0 && rx <= float64(W-1) && ry >= 0 && ry <= float64(H-1) {
				if c.cov[f] == nil {
					c.cov[f] = make(bitset, (W*H+63)/64)
				}
				c.cov[f].set(int(ry)*W + int(rx))
			}
		}
	}
	c.pieces = append(c.pieces, pc)
}

// assemble concatenates the pieces into one Set with exactly sized slices.
func (c *chainer) assemble() *Set {
	n, p := 0, 0
	for _, pc := range c.pieces {
		n += len(pc.len)
		p += len(pc.xy)
	}
	set := &Set{T: c.T, Start: make([]int32, 0, n), Len: make([]int32, 0, n), Off: make([]int64, 1, n+1), XY: make([]float32, 0, p)}
	for i := range c.pieces {
		pc := &c.pieces[i]
		for _, l := range pc.len {
			set.Start = append(set.Start, int32(pc.start))
			set.Len = append(set.Len, l)
			set.Off = append(set.Off, set.Off[len(set.Off)-1]+int64(l))
		}
		set.XY = append(set.XY, pc.xy...)
		*pc = piece{} // let the collector reclaim it
	}
	c.pieces = nil
	return set
}

func grow[E any](b []E, n int) []E {
	if cap(b) < n {
		return make([]E, n)
	}
	return b[:n]
}
