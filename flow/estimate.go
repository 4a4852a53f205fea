package flow

import (
	"context"
	"errors"
	"fmt"
	"math"
	"sync"

	"dinotracker/imgproc"
)

// Options configures Estimate. Start from a preset (FastOptions,
// DefaultOptions, AccurateOptions) and adjust; the zero Options stands for
// DefaultOptions.
//
// The estimator works coarse to fine on a Gaussian pyramid (factor 2,
// binomial 5-tap blur) of BT.601 luma images: grey = 0.299 R + 0.587 G +
// 0.114 B on the 0–255 scale. On the coarse levels, from CoarsestLevel down
// to FinestPatchLevel, it runs DIS (Kroeger et al., ECCV 2016):
// inverse-compositional Lucas–Kanade on overlapping, mean-normalised
// patches with spatial propagation, then densification (each pixel
// averages the patches covering it, weighted by 1/max(1, residual²)), then
// PatchLevelWarps warps of variational refinement. The finer levels, down
// to full resolution, run the variational refinement alone (FineWarps
// warps each). The variational energy is that of OpenCV's
// VariationalRefinement: normalised brightness (Delta) and gradient (Gamma)
// constancy and flow-gradient smoothness (Alpha), all with the Charbonnier
// penalty, solved by lagged-diffusivity fixed-point iterations and
// red-black SOR. Pixels whose target leaves the image get no data term.
//
// Beyond OpenCV's DIS, the patch search also tries zero motion and the
// dominant motion (GlobalCandidates), runs an exhaustive integer search on
// the coarsest levels (SearchRadius, SearchLevels), rejects descents that
// increase the SSD or wander further than a patch, and compares only the
// in-image part of patches that reach outside the second image.
//
// The result does not depend on the number of CPUs: the patch search runs
// in fixed stripes of patch rows and SOR in red-black order.
type Options struct {
	// PatchSize is the side of the square patches of the inverse search.
	PatchSize int
	// PatchStride is the distance between neighbouring patches
	// (PatchSize - overlap).
	PatchStride int
	// PatchIters is the number of Gauss–Newton iterations per patch, split
	// over the two passes when Propagation is on.
	PatchIters int
	// Propagation enables DIS spatial propagation: two passes over the
	// patches (forward, then backward), each patch also trying the
	// displacements of its already searched neighbours.
	Propagation bool
	// GlobalCandidates adds two starting points to every patch search: zero
	// motion and the median motion of the coarser level's flow (the
	// dominant, often camera, motion). It lets background patches recover
	// from a coarse level where a large moving object swamped them.
	GlobalCandidates bool
	// SearchRadius, when positive, adds an exhaustive integer search within
	// ±SearchRadius pixels (of the level) around each patch's start on the
	// SearchLevels coarsest levels: it finds displacements beyond the reach
	// of the Gauss–Newton descent. Its best match is a candidate only when
	// it at least halves the SSD of the start.
	SearchRadius, SearchLevels int
	// CoarsestLevel is the coarsest pyramid level (level l has size
	// ceil(W/2^l)); 0 picks it from the image size so that the coarsest
	// image is about 4 patches wide. It is lowered when that level would be
	// smaller than a patch.
	CoarsestLevel int
	// FinestPatchLevel is the finest level where the patch search runs; the
	// levels below refine only. Images smaller than a patch skip the patch
	// search altogether.
	FinestPatchLevel int

	// Alpha weights the smoothness term, Gamma the gradient constancy and
	// Delta the brightness constancy of the variational refinement.
	Alpha, Gamma, Delta float32
	// EdgeKappa makes the smoothness edge-aware: α(x) = Alpha·exp(-EdgeKappa·|∇I0(x)|),
	// with |∇I0| in grey levels per pixel. 0 disables it.
	EdgeKappa float32
	// PatchLevelWarps is the number of warps of the refinement on levels
	// with a patch search; FineWarps on the levels below it.
	PatchLevelWarps, FineWarps int
	// FixedPointIters is the number of lagged-diffusivity iterations per
	// warp; SORIters the SOR sweeps per fixed-point iteration.
	FixedPointIters, SORIters int
	// Omega is the SOR relaxation factor, in (0, 2).
	Omega float32
	// Median applies a 5×5 median filter to the flow after each warp of the
	// refinement (Sun et al., CVPR 2010).
	Median bool
	// PreSmooth is the standard deviation in pixels of a Gaussian blur
	// applied to both grey images before the pyramid is built; 0 disables it.
	PreSmooth float32
}

// The presets below were tuned on Middlebury RubberWhale and FlyingChairs
// examples 0–4 (see TestFlowTargets); timings are for one 854×476 pair on
// two cores. Average end-point errors, RubberWhale / FlyingChairs mean:
//
//	Fast      0.145 / 3.32   about 0.21 s
//	Default   0.117 / 2.79   about 0.45 s (ForwardBackward: 0.9 s)
//	Accurate  0.092 / 2.47   about 0.68 s
//
// (OpenCV 4.6 on the same pairs: DIS medium 0.222 / 3.54, TV-L1 0.156 /
// 6.46, DeepFlow 0.121 / 2.98.)

// FastOptions is the quickest preset: the patch search stops at half
// resolution with a sparser grid and fewer iterations, and full resolution
// gets two light warps of refinement.
func FastOptions() Options {
	o := DefaultOptions()
	o.PatchIters = 12
	o.PatchStride = 4
	o.FineWarps = 2
	o.FixedPointIters = 3
	return o
}

// DefaultOptions is the preset for preprocessing videos, and what a zero
// Options selects: the patch search runs down to half resolution, then
// three warps of variational refinement at full resolution.
func DefaultOptions() Options {
	return Options{
		PatchSize:        8,
		PatchStride:      3,
		PatchIters:       16,
		Propagation:      true,
		GlobalCandidates: true,
		SearchRadius:     6,
		SearchLevels:     2,
		FinestPatchLevel: 1,
		Alpha:            20,
		Gamma:            10,
		Delta:            5,
		PatchLevelWarps:  1,
		FineWarps:        3,
		FixedPointIters:  5,
		SORIters:         5,
		Omega:            1.6,
	}
}

// AccurateOptions is the most accurate preset: the patch search runs down
// to full resolution and every level gets three warps of refinement.
func AccurateOptions() Options {
	o := DefaultOptions()
	o.FinestPatchLevel = 0
	o.PatchLevelWarps = 3
	return o
}

func (o *Options) check() error {
	if *o == (Options{}) {
		*o = DefaultOptions()
	}
	switch {
	case o.PatchSize < 2:
		return fmt.Errorf("flow: PatchSize %d is below 2", o.PatchSize)
	case o.PatchStride < 1:
		return fmt.Errorf("flow: PatchStride %d is below 1", o.PatchStride)
	case o.PatchIters < 0 || o.PatchLevelWarps < 0 || o.FineWarps < 0 || o.FixedPointIters < 0 || o.SORIters < 0 ||
		o.SearchRadius < 0 || o.SearchLevels < 0:
		return errors.New("flow: negative iteration count in Options")
	case o.CoarsestLevel < 0 || o.FinestPatchLevel < 0:
		return errors.New("flow: negative pyramid level in Options")
	case !(o.Omega > 0 && o.Omega < 2):
		return fmt.Errorf("flow: Omega %v outside (0, 2)", o.Omega)
	case !(o.Alpha >= 0 && o.Gamma >= 0 && o.Delta >= 0 && o.EdgeKappa >= 0 && o.PreSmooth >= 0):
		return errors.New("flow: negative or NaN weight in Options")
	}
	return nil
}

// levels returns the number of pyramid levels and whether the patch search
// runs, for a w×h image.
func (o *Options) levels(w, h int) (n int, dis bool) {
	p := o.PatchSize
	if min(w, h) < p {
		return 1, false
	}
	c := o.CoarsestLevel
	if c == 0 {
		c = int(math.Log2(float64(max(w, h))/(4*float64(p))) + 0.5)
	}
	c = max(c, 0)
	for c > 0 && (min(levelSize(w, c), levelSize(h, c)) < p) {
		c--
	}
	return c + 1, true
}

// levelSize is the size of an axis of length n at pyramid level l.
func levelSize(n, l int) int {
	for ; l > 0; l-- {
		n = (n + 1) / 2
	}
	return n
}

// pyramid is a Gaussian pyramid of grey images; levels[0] is full size.
type pyramid struct {
	levels []plane
	tmp    plane
}

func (py *pyramid) build(m *imgproc.RGB8, n int, sigma float32) {
	if cap(py.levels) < n {
		py.levels = append(py.levels[:cap(py.levels)], make([]plane, n-cap(py.levels))...)
	}
	py.levels = py.levels[:n]
	toGrey(&py.levels[0], m)
	if sigma > 0 {
		blur(&py.levels[0], &py.levels[0], &py.tmp, gaussKernel(float64(sigma)))
	}
	for l := 1; l < n; l++ {
		pyrDown(&py.levels[l], &py.levels[l-1], &py.tmp)
	}
}

// solver holds the per-direction buffers of one estimation.
type solver struct {
	dis    disSolver
	vs     varSolver
	bu, bv [2][]float32 // flow buffers of the coarse levels (ping-pong)
	cu, cv []float32    // flow of the previous (coarser) level
}

// solve estimates the flow from p0 to p1 into out (full size).
func (s *solver) solve(ctx context.Context, p0, p1 *pyramid, o *Options, useDIS bool, out *Field) error {
	n := len(p0.levels)
	var U, V []float32
	var pw, ph int
	for l := n - 1; l >= 0; l-- {
		if err := ctx.Err(); err != nil {
			return err
		}
		I0, I1 := &p0.levels[l], &p1.levels[l]
		w, h := I0.w, I0.h
		if l == 0 {
			U, V = out.U, out.V
		} else {
			k := l & 1
			s.bu[k], s.bv[k] = grow(s.bu[k], w*h), grow(s.bv[k], w*h)
			U, V = s.bu[k], s.bv[k]
		}
		if l == n-1 {
			clear(U)
			clear(V)
		} else {
			upsampleFlow(U, V, w, h, s.cu, s.cv, pw, ph)
		}
		vp := varParams{
			alpha: o.Alpha, gamma: o.Gamma, delta: o.Delta, edgeKappa: o.EdgeKappa,
			fixedPoint: o.FixedPointIters, sor: o.SORIters, omega: o.Omega, median: o.Median,
			warps: o.FineWarps,
		}
		if useDIS && l >= o.FinestPatchLevel {
			dp := disParams{patch: o.PatchSize, stride: o.PatchStride, iters: o.PatchIters, propagate: o.Propagation, globalCands: o.GlobalCandidates}
			if l >= n-o.SearchLevels {
				dp.radius = o.SearchRadius
			}
			s.dis.run(I0, I1, U, V, dp)
			vp.warps = o.PatchLevelWarps
		}
		if err := s.vs.refine(ctx, I0, I1, U, V, vp); err != nil {
			return err
		}
		s.cu, s.cv, pw, ph = U, V, w, h
	}
	return nil
}

type workspace struct {
	pa, pb pyramid
	s      [2]solver
}

var workspaces = sync.Pool{New: func() any { return new(workspace) }}

func checkPair(a, b *imgproc.RGB8) error {
	if a == nil || b == nil {
		return errors.New("flow: nil image")
	}
	if a.W != b.W || a.H != b.H {
		return fmt.Errorf("flow: image sizes differ: first frame is %d×%d, second is %d×%d", a.W, a.H, b.W, b.H)
	}
	if a.W <= 0 || a.H <= 0 {
		return fmt.Errorf("flow: empty image (%d×%d)", a.W, a.H)
	}
	if len(a.Pix) != 3*a.W*a.H || len(b.Pix) != 3*b.W*b.H {
		return fmt.Errorf("flow: malformed RGB8 image: %d×%d needs %d bytes, have %d and %d", a.W, a.H, 3*a.W*a.H, len(a.Pix), len(b.Pix))
	}
	return nil
}

// Estimate returns the dense optical flow from a to b: for each pixel of a,
// its displacement to b (see Field). The images must have the same size;
// images smaller than a patch are refined variationally only. It returns
// ctx.Err() when ctx is cancelled.
func Estimate(ctx context.Context, a, b *imgproc.RGB8, opt Options) (*Field, error) {
	if err := checkPair(a, b); err != nil {
		return nil, err
	}
	if err := opt.check(); err != nil {
		return nil, err
	}
	ws := workspaces.Get().(*workspace)
	defer workspaces.Put(ws)
	n, useDIS := opt.levels(a.W, a.H)
	ws.pa.build(a, n, opt.PreSmooth)
	ws.pb.build(b, n, opt.PreSmooth)
	f := NewField(a.W, a.H)
	if err := ws.s[0].solve(ctx, &ws.pa, &ws.pb, &opt, useDIS, f); err != nil {
		return nil, err
	}
	return f, nil
}

// ForwardBackward returns the flows a→b and b→a. The two directions share
// the grey pyramids and run concurrently.
func ForwardBackward(ctx context.Context, a, b *imgproc.RGB8, opt Options) (fwd, bwd *Field, err error) {
	if err := checkPair(a, b); err != nil {
		return nil, nil, err
	}
	if err := opt.check(); err != nil {
		return nil, nil, err
	}
	ws := workspaces.Get().(*workspace)
	defer workspaces.Put(ws)
	n, useDIS := opt.levels(a.W, a.H)
	ws.pa.build(a, n, opt.PreSmooth)
	ws.pb.build(b, n, opt.PreSmooth)
	fwd, bwd = NewField(a.W, a.H), NewField(a.W, a.H)
	var errB error
	var wg sync.WaitGroup
	wg.Add(1)
	go func() {
		defer wg.Done()
		errB = ws.s[1].solve(ctx, &ws.pb, &ws.pa, &opt, useDIS, bwd)
	}()
	err = ws.s[0].solve(ctx, &ws.pa, &ws.pb, &opt, useDIS, fwd)
	wg.Wait()
	if err == nil {
		err = errB
	}
	if err != nil {
		return nil, nil, err
	}
	return fwd, bwd, nil
}

// unknownThreshold is the Middlebury convention: components above it in
// magnitude mark an unknown vector.
const unknownThreshold = 1e9

func unknown(u, v float32) bool {
	return u != u || v != v || math.Abs(float64(u)) > unknownThreshold || math.Abs(float64(v)) > unknownThreshold
}

// EPE returns the average end-point error ‖est − gt‖ over the pixels where
// gt is known (finite and not above 1e9 in magnitude), and their number.
// Where est itself is NaN the mean is NaN. Fields of different sizes give
// (NaN, 0).
func EPE(est, gt *Field) (mean float64, n int) {
	if est == nil || gt == nil || est.W != gt.W || est.H != gt.H || len(est.U) != len(gt.U) || len(est.V) != len(gt.V) || len(gt.U) != len(gt.V) {
		return math.NaN(), 0
	}
	var s float64
	for i := range gt.U {
		gu, gv := gt.U[i], gt.V[i]
		if unknown(gu, gv) {
			continue
		}
		du, dv := float64(est.U[i]-gu), float64(est.V[i]-gv)
		s += math.Sqrt(du*du + dv*dv)
		n++
	}
	if n == 0 {
		return math.NaN(), 0
	}
	return s / float64(n), n
}
