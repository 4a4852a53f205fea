package dinotracker

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"math"
	"math/rand/v2"
	"os"
	"path/filepath"
	"time"

	"dinotracker/internal/prefault"
	"dinotracker/nn"
)

// Tracker fits DINO-Tracker to one video (spec §2–§4): it preprocesses the
// video, trains Delta-DINO and the tracker head with the flow, best-buddy,
// cycle-consistency and prior losses, and checkpoints its whole state so a
// later Fit resumes exactly where an interrupted one stopped.
//
// A Tracker is not safe for concurrent use.
type Tracker struct {
	cfg       Config
	progress  func(Progress)
	fitProg   func(FitProgress)
	log       *slog.Logger
	extractor *FeatureExtractor
	workDir   string
	maskDir   string
	flowDir   string
	bb        BBLists
	bbFunc    func(context.Context, *Preprocessed) (BBLists, error)

	model    *Model
	summary  *FitSummary
	sess     *trackSession
	trackOpt *TrackOptions
	videoSrc string

	cudaLogged bool
}

// Option configures a Tracker (see NewTracker).
type Option func(*Tracker)

// WithProgress receives progress reports of every stage: the preprocessing
// stages (features, flow, trajectories, …) and then "fit" once per
// training iteration (Done = iterations done, Total = Config.Iterations).
func WithProgress(fn func(Progress)) Option { return func(t *Tracker) { t.progress = fn } }

// WithFitProgress receives one FitProgress per training iteration: the
// loss values, learning rates, iteration time and ETA.
func WithFitProgress(fn func(FitProgress)) Option { return func(t *Tracker) { t.fitProg = fn } }

// WithLogger sets the logger for stage timings, loss summaries (every 100
// iterations, as the reference logs) and warnings; nil means
// slog.Default().
func WithLogger(l *slog.Logger) Option { return func(t *Tracker) { t.log = l } }

// WithFeatureExtractor sets the feature extractor (NewFeatureExtractor for
// DINOv2); without it Fit uses the built-in extractor
// (NewBuiltinFeatureExtractor), and FitSummary.Extractor says so.
func WithFeatureExtractor(e *FeatureExtractor) Option { return func(t *Tracker) { t.extractor = e } }

// WithWorkDir sets the folder that holds the preprocessing outputs
// (dir/preprocess), the training checkpoints (dir/checkpoints), the final
// weights (dir/delta_dino.safetensors, dir/tracker_head.safetensors) and
// dir/fit.json. A Fit in a folder that holds checkpoints resumes from the
// latest one. Without a work folder Fit preprocesses into a temporary
// folder that it deletes, and writes no checkpoints.
func WithWorkDir(dir string) Option { return func(t *Tracker) { t.workDir = dir } }

// WithMasks sets a folder of foreground masks, one image per frame (any
// nonzero value is foreground); without it the masks come from a PCA of the
// features.
func WithMasks(dir string) Option { return func(t *Tracker) { t.maskDir = dir } }

// WithFlowDir sets a folder of precomputed optical flows at the model
// resolution (see PreprocessOptions.FlowDir); without it they are
// estimated.
func WithFlowDir(dir string) Option { return func(t *Tracker) { t.flowDir = dir } }

// WithBestBuddies gives Fit the filtered DINO best-buddy lists (keys are
// absolute frame ids) for the DINO-BB loss, in place of those preprocessing
// computes (Preprocessed.BBLists). Without best-buddies that loss is 0.
func WithBestBuddies(bb BBLists) Option { return func(t *Tracker) { t.bb = bb } }

// WithBestBuddiesFunc computes the best-buddy lists after preprocessing
// (e.g. from the features and trajectories of p); it takes precedence over
// WithBestBuddies and over the preprocessed best-buddies.
func WithBestBuddiesFunc(fn func(ctx context.Context, p *Preprocessed) (BBLists, error)) Option {
	return func(t *Tracker) { t.bbFunc = fn }
}

// WithVideoSource records where the fitted video came from (a folder of
// frames or a movie file) in fit.json, so LoadTracker and the CLI's track
// command can reopen it; without it Fit records the folder of the frame
// files when they share one.
func WithVideoSource(path string) Option { return func(t *Tracker) { t.videoSrc = path } }

// NewTracker returns a Tracker for cfg, which must pass Config.Validate.
func NewTracker(cfg Config, opts ...Option) (*Tracker, error) {
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	t := &Tracker{cfg: cfg}
	for _, o := range opts {
		o(t)
	}
	if t.log == nil {
		t.log = slog.Default()
	}
	return t, nil
}

// Config returns the tracker's configuration.
func (t *Tracker) Config() Config { return t.cfg }

// Model returns the fitted model after a successful Fit (nil before).
func (t *Tracker) Model() *Model { return t.model }

// Summary describes the latest Fit (nil before one finished).
func (t *Tracker) Summary() *FitSummary { return t.summary }

// FitProgress reports one training iteration.
type FitProgress struct {
	Iteration  int        // iterations done, 1…Iterations
	Iterations int        // Config.Iterations
	Losses     LossValues // this iteration's loss terms and weighted total
	LRDelta    float64    // Delta-DINO learning rate used this iteration
	LRHead     float64    // tracker-head learning rate used this iteration
	Frames     int        // frames refined this iteration (|frames_set_t|)
	Points     int        // flow points this iteration
	IterTime   time.Duration
	Elapsed    time.Duration // training time of this Fit call (not counting earlier, resumed runs)
	ETA        time.Duration // estimated time to the last iteration
}

// FitSummary describes a finished Fit; Fit writes it as fit.json in the
// work folder.
type FitSummary struct {
	Config    string `json:"config"`    // Config.Name
	Extractor string `json:"extractor"` // Features.Model: "builtin-dsift-v1" (no DINOv2) or e.g. "ViT-L/14"
	Frames    int    `json:"frames"`    // video frames
	Height    int    `json:"height"`    // model resolution
	Width     int    `json:"width"`
	Channels  int    `json:"channels"` // feature channels (Delta-DINO's output width)
	// Iterations is the total trained (all runs); ResumedFrom the
	// checkpoint's iteration this Fit started from (0 for a fresh start).
	Iterations        int        `json:"iterations"`
	ResumedFrom       int        `json:"resumed_from"`
	BestBuddyPairs    int        `json:"best_buddy_frame_pairs"` // ordered frame pairs with best-buddies
	PreprocessSeconds float64    `json:"preprocess_seconds"`     // this Fit's preprocessing (reused outputs are fast)
	TrainSeconds      float64    `json:"train_seconds"`          // this Fit's training loop
	SecondsPerIter    float64    `json:"seconds_per_iteration"`  // TrainSeconds per iteration of this Fit
	FinalLosses       LossValues `json:"final_losses"`           // the last iteration's losses
	// FlowLossFirst and FlowLossLast are the mean flow loss of the first and
	// the last (up to) 10% of this run's iterations.
	FlowLossFirst float64 `json:"flow_loss_first"`
	FlowLossLast  float64 `json:"flow_loss_last"`
	// Video is the fitted video's folder or file (see WithVideoSource), and
	// InputWidth×InputHeight its frame size: Track's coordinates.
	Video        string `json:"video,omitempty"`
	InputWidth   int    `json:"input_width"`
	InputHeight  int    `json:"input_height"`
	FeatureBlock int    `json:"feature_block"`
}

// Model is a fitted DINO-Tracker: Delta-DINO, whose output is added to the
// frozen features, and the tracker head. Its weights use the reference's
// PyTorch state_dict names (see SaveModel and LoadModel).
type Model struct {
	Delta *nn.DeltaDINO // run it in eval mode (BatchNorm running statistics) for inference
	Head  *Head
}

// Fit trains the tracker on v (spec §4): it preprocesses the video into the
// work folder (reusing what an earlier run left there), builds Delta-DINO
// and the head with the reference's initialisation (or resumes from the
// latest checkpoint) and runs the training loop to Config.Iterations.
// Each iteration samples a flow batch, refines the frames it uses through
// Delta-DINO in training mode (chunks of Config.ChunkFrames), evaluates the
// objective (Objective.Total), backpropagates through the losses, the
// alignment and Delta-DINO, and takes an Adam step on both parameter
// groups (LambdaLR on Delta-DINO's only).
//
// When ctx is cancelled Fit abandons the current iteration, restores the
// state it had before it (so nothing is lost or repeated), writes a
// checkpoint and returns ctx.Err(). Errors wrap ErrTooFewFrames for videos
// of fewer than 2 frames and ErrNoTrainingPairs when the trajectories
// cannot supply flow pairs.
func (t *Tracker) Fit(ctx context.Context, v *Video) (err error) {
	if v == nil || v.Len() < MinFrames {
		n := 0
		if v != nil {
			n = v.Len()
		}
		return fmt.Errorf("dinotracker: fit: the video has %d frame(s): %w", n, ErrTooFewFrames)
	}
	if err := ctx.Err(); err != nil {
		return err
	}
	cfg := t.cfg
	h, w, err := cfg.modelSize(v.Height, v.Width)
	if err != nil {
		return err
	}
	work := t.workDir
	if work == "" {
		tmp, err := os.MkdirTemp("", "dinotracker-fit-*")
		if err != nil {
			return fmt.Errorf("dinotracker: fit: %w", err)
		}
		defer os.RemoveAll(tmp)
		work = tmp
	} else if err := os.MkdirAll(work, 0o755); err != nil {
		return fmt.Errorf("dinotracker: fit: %w", err)
	}

	// Preprocessing (resumable).
	start := time.Now()
	popt := cfg.preprocessOptions(h, w)
	popt.Extractor = t.extractor
	popt.MaskDir, popt.FlowDir = t.maskDir, t.flowDir
	popt.Progress, popt.Logger = t.progress, t.log
	if t.sess != nil {
		t.sess.close()
		t.sess = nil
	}
	t.model, t.summary = nil, nil
	pre, err := Preprocess(ctx, v, filepath.Join(work, "preprocess"), popt)
	if err != nil {
		return fmt.Errorf("dinotracker: fit: %w", err)
	}
	keep := false
	defer func() {
		if !keep {
			pre.Close()
		}
	}()
	prepSec := time.Since(start).Seconds()

	bb := pre.BBLists()
	switch {
	case t.bbFunc != nil:
		if bb, err = t.bbFunc(ctx, pre); err != nil {
			return fmt.Errorf("dinotracker: fit: best-buddies: %w", err)
		}
	case t.bb != nil:
		bb = t.bb
	}
	if len(bb) == 0 {
		t.log.Info("fit: no DINO best-buddies; the DINO-BB loss is 0")
	}

	tr, err := newTrainer(cfg, pre, bb, t.log)
	if err != nil {
		return fmt.Errorf("dinotracker: fit: %w", err)
	}
	ckDir := ""
	if t.workDir != "" {
		ckDir = filepath.Join(work, "checkpoints")
		if path, it, ok := latestCheckpoint(ckDir); ok {
			if err := tr.loadCheckpoint(path); err != nil {
				return fmt.Errorf("dinotracker: fit: resume from %s: %w (delete it, or use another work folder, to start over)", path, err)
			}
			t.log.Info("fit: resumed", "checkpoint", path, "iteration", it)
		}
	}
	save := func() error {
		if ckDir == "" {
			return nil
		}
		if err := tr.saveCheckpoint(ckDir, cfg.KeepCheckpoints); err != nil {
			return fmt.Errorf("dinotracker: fit: %w", err)
		}
		return nil
	}

	sum := &FitSummary{Config: cfg.Name, Extractor: pre.Features.Model, Frames: pre.T, Height: h, Width: w,
		Channels: pre.Features.C, ResumedFrom: tr.iter, BestBuddyPairs: len(bb), PreprocessSeconds: prepSec,
		Video: videoSource(t.videoSrc, v), InputWidth: v.Width, InputHeight: v.Height, FeatureBlock: pre.Features.Block}
	trainStart := time.Now()
	first := tr.iter
	var flows []float32
	var last LossValues
	var acc lossAccum
	for tr.iter < cfg.Iterations {
		it0 := time.Now()
		lrD, lrH := cfg.LRDelta*cfg.lrFactor(tr.sched), cfg.LRHead
		vals, nf, np, err := tr.step(ctx)
		if err != nil {
			if ctx.Err() != nil {
				if serr := save(); serr != nil {
					return errors.Join(ctx.Err(), serr)
				}
				t.log.Info("fit: cancelled; checkpoint written", "iteration", tr.iter)
				return ctx.Err()
			}
			return fmt.Errorf("dinotracker: fit: iteration %d: %w", tr.iter, err)
		}
		last = *vals
		flows = append(flows, vals.Flow)
		acc.add(vals)
		if tr.iter%100 == 0 || tr.iter == cfg.Iterations {
			acc.log(t.log, tr.iter)
		}
		done := tr.iter - first
		elapsed := time.Since(trainStart)
		eta := time.Duration(float64(elapsed) / float64(done) * float64(cfg.Iterations-tr.iter))
		if t.fitProg != nil {
			t.fitProg(FitProgress{Iteration: tr.iter, Iterations: cfg.Iterations, Losses: *vals, LRDelta: lrD, LRHead: lrH,
				Frames: nf, Points: np, IterTime: time.Since(it0), Elapsed: elapsed, ETA: eta})
		}
		if t.progress != nil {
			t.progress(Progress{Stage: "fit", Done: tr.iter, Total: cfg.Iterations, Elapsed: elapsed})
		}
		if cfg.CheckpointEvery > 0 && tr.iter%cfg.CheckpointEvery == 0 && tr.iter < cfg.Iterations {
			if err := save(); err != nil {
				return err
			}
		}
	}
	if tr.iter != first {
		if err := save(); err != nil {
			return err
		}
	}
	sum.Iterations = tr.iter
	sum.TrainSeconds = time.Since(trainStart).Seconds()
	if n := tr.iter - first; n > 0 {
		sum.SecondsPerIter = sum.TrainSeconds / float64(n)
	}
	sum.FinalLosses = last
	if k := len(flows); k > 0 {
		m := max(1, k/10)
		sum.FlowLossFirst, sum.FlowLossLast = meanF32(flows[:m]), meanF32(flows[k-m:])
	}
	t.model = &Model{Delta: tr.delta, Head: tr.head}
	t.summary = sum
	t.sess = &trackSession{inW: v.Width, inH: v.Height, T: pre.T, H: pre.H, W: pre.W, frames: pre.Frames, feats: pre.Features, workDir: t.workDir}
	keep = true
	if t.workDir != "" {
		if err := SaveModel(t.workDir, t.model); err != nil {
			return fmt.Errorf("dinotracker: fit: %w", err)
		}
		if err := writeJSON(filepath.Join(t.workDir, "fit.json"), sum); err != nil {
			return fmt.Errorf("dinotracker: fit: %w", err)
		}
	}
	return nil
}

// videoSource is the path fit.json records for v.
func videoSource(explicit string, v *Video) string {
	if explicit != "" {
		if abs, err := filepath.Abs(explicit); err == nil {
			return abs
		}
		return explicit
	}
	dir := ""
	for _, n := range v.Names {
		if n == "" {
			return ""
		}
		d := filepath.Dir(n)
		if dir != "" && d != dir {
			return ""
		}
		dir = d
	}
	if abs, err := filepath.Abs(dir); err == nil {
		return abs
	}
	return dir
}

func meanF32(v []float32) float64 {
	var s float64
	for _, x := range v {
		s += float64(x)
	}
	return s / float64(len(v))
}

// lossAccum keeps the running means of the loss terms between log lines.
type lossAccum struct {
	n                                        int
	flow, dino, rfn, cyc, norm, angle, total float64
}

func (a *lossAccum) add(v *LossValues) {
	a.n++
	a.flow += float64(v.Flow)
	a.dino += float64(v.DinoBB)
	a.rfn += float64(v.RefinedBB)
	a.cyc += float64(v.Cycle)
	a.norm += float64(v.Norm)
	a.angle += float64(v.Angle)
	a.total += float64(v.Total)
}

func (a *lossAccum) log(l *slog.Logger, iter int) {
	if a.n == 0 {
		return
	}
	n := float64(a.n)
	l.Info("fit: losses", "iteration", iter, "flow", a.flow/n, "dino_bb", a.dino/n, "refined_bb", a.rfn/n,
		"cycle", a.cyc/n, "norm", a.norm/n, "angle", a.angle/n, "total", a.total/n)
	*a = lossAccum{}
}

// preprocessOptions returns the preprocessing settings of c at the model
// resolution h×w (without extractor, folders, progress or logger).
func (c Config) preprocessOptions(h, w int) PreprocessOptions {
	o := DefaultPreprocessOptions()
	o.Height, o.Width = h, w
	o.Features.Stride, o.Features.Block = c.FeatureStride, c.FeatureBlock
	o.DirectFilter = c.DirectFilter
	o.Flow, o.DirectFlow = c.Flow, c.DirectFlow
	o.Trajectories = c.Trajectories
	o.BestBuddies, o.SkipBestBuddies = c.BestBuddies, c.SkipBestBuddies
	return o
}

// trainer is the state of one training run: the model, the optimiser, the
// sampler and the buffers of an iteration.
type trainer struct {
	cfg      Config
	pre      *Preprocessed
	log      *slog.Logger
	c, p     int // feature channels, tokens per frame
	h, w     int // model resolution
	delta    *nn.DeltaDINO
	views    []*nn.DeltaDINO // one per chunk, sharing delta's stages
	head     *Head
	headGrad *Refiner
	obj      *Objective
	sampler  *FlowSampler
	bb       BBLists
	optDelta *adamGroup
	optHead  *adamGroup
	iter     int // iterations done
	sched    int // scheduler steps done

	rawBuf, raw [][]float32
	// refined[k] is frame k's raw + Δ, held in place of Δ in its chunk's
	// Delta-DINO output (which Backward does not read).
	refined [][]float32
	// gradFeat[k] is ∂L/∂refined of frame k, a slice of gradSlab: the
	// frames of a chunk are adjacent, so the chunk's slab is Backward's
	// ∂L/∂Δ as it is.
	gradFeat [][]float32
	gradSlab []float32
	in       [][]float32 // per chunk
	reserved bool        // buffers sized for the largest batch (reserve)
}

// maxStepFrames is the most frames one iteration refines: the union of
// the two point sets' frames (Sampler.NumFrames each), at most the video's.
func (tr *trainer) maxStepFrames() int { return min(2*tr.cfg.Sampler.NumFrames, tr.pre.T) }

// reserve sizes every per-iteration buffer for the largest batch once (step
// only slices them), so that iterations allocate none of them: batches grow to that size over
// the first iterations, and each growth would otherwise replace gigabytes
// of Delta-DINO activations, which count toward the peak until collected.
func (tr *trainer) reserve() {
	if tr.reserved {
		return
	}
	tr.reserved = true
	maxN, chunk := tr.maxStepFrames(), tr.cfg.ChunkFrames
	cp, hw3 := tr.c*tr.p, 3*tr.h*tr.w
	tr.rawBuf = growSlices(tr.rawBuf, maxN, cp)
	tr.raw = make([][]float32, maxN)
	tr.refined = make([][]float32, maxN)
	tr.gradSlab = make([]float32, maxN*cp)
	prefault.Floats(tr.gradSlab)
	tr.gradFeat = make([][]float32, maxN)
	for k := range tr.gradFeat {
		tr.gradFeat[k] = tr.gradSlab[k*cp : (k+1)*cp : (k+1)*cp]
	}
	nChunks := (maxN + chunk - 1) / chunk
	tr.in = growSlices(tr.in, nChunks, 0)
	for ci := 0; ci < nChunks; ci++ {
		m := min(chunk, maxN-ci*chunk)
		tr.view(ci).Reserve(m, tr.h, tr.w, true)
		if cap(tr.in[ci]) < m*hw3 {
			tr.in[ci] = make([]float32, m*hw3)
		}
	}
}

// headSeedStream is the PCG stream of the refiner's initialisation (seeded
// with Config.Seed; Delta-DINO's and the sampler's use their own streams).
const headSeedStream = 0x4ead

func newTrainer(cfg Config, pre *Preprocessed, bb BBLists, log *slog.Logger) (*trainer, error) {
	f := pre.Features
	geom := NewHeadGeometry(pre.W, pre.H)
	if f.H != geom.GH || f.W != geom.GW {
		return nil, fmt.Errorf("features are on a %d×%d grid but %d×%d frames need %d×%d (stride 7)", f.H, f.W, pre.H, pre.W, geom.GH, geom.GW)
	}
	tr := &trainer{cfg: cfg, pre: pre, log: log, c: f.C, p: geom.Tokens(), h: pre.H, w: pre.W, bb: bb}
	tr.delta = newDeltaDINO(cfg.Seed, cfg.DeltaWidths, f.C)
	tr.head = NewHead(rand.New(rand.NewPCG(cfg.Seed, headSeedStream)))
	tr.headGrad = NewRefinerZero()
	obj, err := NewObjective(geom, f.C, pre.Masks, tr.head, cfg.Loss)
	if err != nil {
		return nil, err
	}
	obj.Logger = log
	tr.obj = obj
	if tr.sampler, err = newFitSampler(pre, cfg, log); err != nil {
		return nil, err
	}
	tr.optDelta = newAdamGroup(deltaParamEntries(tr.delta))
	tr.optHead = newAdamGroup(headParamEntries(tr.head, tr.headGrad))
	return tr, nil
}

// newFitSampler builds the flow sampler; when one of the trajectory sets
// cannot supply pairs (e.g. an empty foreground mask) all points come from
// the other one, with a warning, instead of failing.
func newFitSampler(pre *Preprocessed, cfg Config, log *slog.Logger) (*FlowSampler, error) {
	sc := cfg.Sampler
	s, err := NewFlowSampler(pre.FG, pre.BG, pre.W, pre.H, sc, cfg.Seed)
	if err == nil || !errors.Is(err, ErrNoTrainingPairs) {
		return s, err
	}
	for _, alt := range []struct {
		ratio float64
		what  string
	}{{0, "foreground"}, {1, "background"}} {
		c := sc
		c.FGRatio = alt.ratio
		if s2, err2 := NewFlowSampler(pre.FG, pre.BG, pre.W, pre.H, c, cfg.Seed); err2 == nil {
			log.Warn("fit: too few "+alt.what+" trajectories for flow pairs; sampling every flow point from the other set", "error", err)
			return s2, nil
		}
	}
	return nil, err
}

// newDeltaDINO returns Delta-DINO with hidden widths ws and cout output
// channels, initialised as nn.NewDeltaDINO (which it equals for widths
// 64/128/256 and 1024 outputs): PyTorch's default conv init from a PCG
// seeded with seed, BN γ 1, β 0, running statistics 0/1, last conv zero
// and last γ 0.05.
func newDeltaDINO(seed uint64, ws [3]int, cout int) *nn.DeltaDINO {
	d := nn.NewDeltaDINO(seed)
	chans := []int{3, ws[0], ws[1], ws[2], cout}
	if chans[1] == 64 && chans[2] == 128 && chans[3] == 256 && cout == 1024 {
		return d
	}
	r := rand.New(rand.NewPCG(seed, 0xde17a))
	for i, s := range d.Stages {
		last := i == len(d.Stages)-1
		s.Cin, s.Cout = chans[i], chans[i+1]
		s.Weight = nn.NewParam(s.Cout, s.Cin, s.Kernel, s.Kernel)
		s.Bias = nn.NewParam(s.Cout)
		s.Gamma, s.Beta = nn.NewParam(s.Cout), nn.NewParam(s.Cout)
		s.RunningMean, s.RunningVar = make([]float32, s.Cout), make([]float32, s.Cout)
		if !last {
			fanIn := s.Cin * s.Kernel * s.Kernel
			nn.KaimingUniform(s.Weight.Data, fanIn, r.Float64)
			nn.KaimingUniform(s.Bias.Data, fanIn, r.Float64)
		}
		g := float32(1)
		if last {
			g = 0.05
		}
		for c := range s.Gamma.Data {
			s.Gamma.Data[c] = g
			s.RunningVar[c] = 1
		}
	}
	return d
}

// view returns the chunk-i Delta-DINO: it shares the stages (parameters,
// gradients, BN state) with delta but keeps its own activations, so every
// chunk of an iteration can be backpropagated.
func (tr *trainer) view(i int) *nn.DeltaDINO {
	for len(tr.views) <= i {
		if len(tr.views) == 0 {
			tr.views = append(tr.views, tr.delta)
			continue
		}
		d := tr.delta
		tr.views = append(tr.views, &nn.DeltaDINO{Stages: d.Stages, VitStride: d.VitStride, Patch: d.Patch, Momentum: d.Momentum, Eps: d.Eps})
	}
	return tr.views[i]
}

// iterSnapshot is what an iteration changes before its optimiser step: the
// sampler's generator and Delta-DINO's BatchNorm state.
type iterSnapshot struct {
	rng  []byte
	mean [][]float32
	vr   [][]float32
	nbt  []int64
}

func (tr *trainer) snapshot() (*iterSnapshot, error) {
	b, err := tr.sampler.MarshalBinary()
	if err != nil {
		return nil, err
	}
	s := &iterSnapshot{rng: b}
	for _, st := range tr.delta.Stages {
		s.mean = append(s.mean, append([]float32(nil), st.RunningMean...))
		s.vr = append(s.vr, append([]float32(nil), st.RunningVar...))
		s.nbt = append(s.nbt, st.NumBatchesTracked)
	}
	return s, nil
}

func (tr *trainer) restore(s *iterSnapshot) error {
	for i, st := range tr.delta.Stages {
		copy(st.RunningMean, s.mean[i])
		copy(st.RunningVar, s.vr[i])
		st.NumBatchesTracked = s.nbt[i]
	}
	return tr.sampler.UnmarshalBinary(s.rng)
}

func growSlices(s [][]float32, n, size int) [][]float32 {
	for len(s) < n {
		s = append(s, nil)
	}
	for i := 0; i < n; i++ {
		if cap(s[i]) < size {
			s[i] = make([]float32, size)
			prefault.Floats(s[i])
		}
		s[i] = s[i][:size]
	}
	return s
}

// step runs one training iteration. When ctx is cancelled before the
// optimiser step, the iteration's changes are undone and ctx.Err() is
// returned.
func (tr *trainer) step(ctx context.Context) (vals *LossValues, frames, points int, err error) {
	snap, err := tr.snapshot()
	if err != nil {
		return nil, 0, 0, err
	}
	cancelled := func() bool {
		if ctx.Err() == nil {
			return false
		}
		if rerr := tr.restore(snap); rerr != nil {
			err = errors.Join(ctx.Err(), rerr)
		} else {
			err = ctx.Err()
		}
		return true
	}
	batch, err := tr.sampler.Sample()
	if err != nil {
		return nil, 0, 0, err
	}
	fs := batch.Frames
	n := len(fs)
	cp := tr.c * tr.p
	tr.reserve()
	if n > len(tr.gradFeat) {
		return nil, 0, 0, fmt.Errorf("the sampler gave %d frames, more than the %d an iteration can take", n, len(tr.gradFeat))
	}
	for k, f := range fs {
		if tr.raw[k], err = tr.pre.Features.Frame(f, tr.rawBuf[k]); err != nil {
			return nil, 0, 0, err
		}
	}

	// Refine frames_set_t: Δ = DeltaDINO(frames) aligned to the token grid,
	// refined = raw + Δ, in chunks.
	chunk := tr.cfg.ChunkFrames
	hw3 := 3 * tr.h * tr.w
	nChunks := (n + chunk - 1) / chunk
	for ci := 0; ci < nChunks; ci++ {
		if cancelled() {
			return nil, 0, 0, err
		}
		c0 := ci * chunk
		m := min(chunk, n-c0)
		in := tr.in[ci][:m*hw3]
		for j := 0; j < m; j++ {
			tr.pre.Frames[fs[c0+j]].Float32CHW(in[j*hw3 : (j+1)*hw3 : (j+1)*hw3])
		}
		out, _, _ := tr.view(ci).Forward(in, m, tr.h, tr.w, true)
		for j := 0; j < m; j++ {
			raw, d := tr.raw[c0+j], out[j*cp:(j+1)*cp:(j+1)*cp]
			raw = raw[:len(d)]
			for i, v := range raw {
				d[i] = v + d[i]
			}
			tr.refined[c0+j] = d
		}
	}
	if cancelled() {
		return nil, 0, 0, err
	}

	// Losses and their gradients with respect to the refined maps and the
	// refiner.
	if err := tr.obj.SetFrames(fs, tr.refined[:n], tr.raw[:n]); err != nil {
		return nil, 0, 0, err
	}
	g := &LossGrads{Feat: tr.gradFeat[:n], Head: tr.headGrad}
	g.Zero()
	vals, err = tr.obj.Total(tr.iter, batch, tr.bb, tr.sampler.Rand(), g)
	if err != nil {
		return nil, 0, 0, err
	}
	if math.IsNaN(float64(vals.Total)) || math.IsInf(float64(vals.Total), 0) {
		return nil, 0, 0, fmt.Errorf("the loss is %g (flow %g, dino-bb %g, refined-bb %g, cycle %g, norm %g, angle %g); training diverged",
			vals.Total, vals.Flow, vals.DinoBB, vals.RefinedBB, vals.Cycle, vals.Norm, vals.Angle)
	}
	if cancelled() {
		return nil, 0, 0, err
	}

	// Backward through the alignment and Delta-DINO: ∂L/∂Δ = ∂L/∂refined.
	for _, p := range tr.delta.Params() {
		p.ZeroGrad()
	}
	for ci := 0; ci < nChunks; ci++ {
		c0 := ci * chunk
		m := min(chunk, n-c0)
		tr.view(ci).Backward(tr.gradSlab[c0*cp : (c0+m)*cp])
	}
	if cancelled() {
		return nil, 0, 0, err
	}

	// Adam on both groups; LambdaLR on Delta-DINO's.
	tr.optDelta.step(tr.cfg, tr.cfg.LRDelta*tr.cfg.lrFactor(tr.sched))
	tr.optHead.step(tr.cfg, tr.cfg.LRHead)
	tr.sched++
	tr.iter++
	return vals, n, len(batch.Points), nil
}

// paramEntry is one named parameter tensor with its gradient.
type paramEntry struct {
	name  string
	shape []int
	data  []float32
	grad  []float32
}

// adamGroup is one torch.optim.Adam parameter group with its state.
type adamGroup struct {
	params []paramEntry
	m, v   [][]float32
	steps  int
}

func newAdamGroup(ps []paramEntry) *adamGroup {
	g := &adamGroup{params: ps}
	for _, p := range ps {
		g.m = append(g.m, make([]float32, len(p.data)))
		g.v = append(g.v, make([]float32, len(p.data)))
	}
	return g
}

func (g *adamGroup) step(cfg Config, lr float64) {
	g.steps++
	for i, p := range g.params {
		nn.AdamUpdate(p.data, p.grad, g.m[i], g.v[i], g.steps, float32(lr), float32(cfg.Beta1), float32(cfg.Beta2), float32(cfg.Eps), 0)
	}
}

// deltaParamEntries lists Delta-DINO's parameters in PyTorch's order with
// their state_dict names.
func deltaParamEntries(d *nn.DeltaDINO) []paramEntry {
	names := d.ParamNames()
	var ps []paramEntry
	for i, p := range d.Params() {
		ps = append(ps, paramEntry{name: names[i], shape: p.Shape, data: p.Data, grad: p.Grad})
	}
	return ps
}

// headParamEntries lists the refiner's parameters with grad's slices as
// their gradients.
func headParamEntries(h *Head, grad *Refiner) []paramEntry {
	gs := grad.Params()
	var ps []paramEntry
	for i, p := range h.Refiner.Params() {
		ps = append(ps, paramEntry{name: p.Name, shape: p.Shape, data: p.Data, grad: gs[i].Data})
	}
	return ps
}
