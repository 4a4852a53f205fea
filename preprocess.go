package dinotracker

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"os"
	"path/filepath"
	"sync"
	"time"

	"dinotracker/bestbuddies"
	"dinotracker/fgmask"
	"dinotracker/flow"
	"dinotracker/imgproc"
	"dinotracker/safetensors"
	"dinotracker/traj"
)

// PreprocessOptions configures Preprocess: everything DINO-Tracker computes
// from a video before training (spec §1.2–§1.6).
type PreprocessOptions struct {
	// Height and Width are the model resolution (476×854 in the paper);
	// zero means the frame size rounded down to multiples of 14.
	Height, Width int
	// Extractor computes the features; nil means the built-in extractor.
	Extractor *FeatureExtractor
	// Features selects stride and block (DefaultFeatureConfig when zero).
	Features FeatureConfig
	// MaskDir holds user foreground masks (one image per frame, any nonzero
	// value is foreground). Empty means masks from a PCA of the features.
	MaskDir string
	// PCA configures the PCA masks.
	PCA fgmask.PCAOptions
	// FlowDir holds precomputed flows (see flow.LoadSequence: forward_%05d.flo
	// and backward_%05d.flo at the model resolution). Empty means estimating
	// them with Flow.
	FlowDir string
	// Flow is the estimator setting for consecutive frames.
	Flow flow.Options
	// DirectFilter enables the reference's direct-flow filter of the
	// trajectories. It costs about T(T−1) extra flow estimates (O(T²)):
	// at ~0.3 s per pair with DirectFlow = flow.FastOptions(), a 50-frame
	// video spends ~12 min on it. The unfiltered trajectories are always
	// computed too (the best-buddy filter uses them).
	DirectFilter bool
	// DirectFlow is the estimator setting for the direct flows.
	DirectFlow flow.Options
	// Trajectories configures chaining (thresholds, minimum length).
	Trajectories traj.Options
	// BestBuddies configures the DINO best-buddies (bounded partner budget
	// by default; bestbuddies.ExhaustiveOptions for all T(T−1) pairs).
	BestBuddies bestbuddies.Options
	// SkipBestBuddies leaves the best-buddies out (Fit then runs without
	// the DINO-BB loss).
	SkipBestBuddies bool
	// Progress, if set, receives per-stage progress.
	Progress func(Progress)
	// Logger receives stage timings; nil means slog.Default().
	Logger *slog.Logger
}

// DefaultPreprocessOptions returns the reference's settings with the
// built-in extractor: stride 7, the default flow preset, direct filtering
// on with the fast flow preset for the direct pairs.
func DefaultPreprocessOptions() PreprocessOptions {
	return PreprocessOptions{
		Features:     DefaultFeatureConfig(),
		Flow:         flow.DefaultOptions(),
		DirectFilter: true,
		DirectFlow:   flow.FastOptions(),
		Trajectories: traj.DefaultOptions(),
		BestBuddies:  bestbuddies.DefaultOptions(),
	}
}

// Preprocessed is the result of Preprocess, also found on disk in Dir:
//
//	features/                          feature cache (see FeatureConfig.CacheDir)
//	flow/forward_%05d.flo, backward_%05d.flo   consecutive flows at the model resolution
//	trajectories.safetensors           chained trajectories (direct filter as configured)
//	trajectories_wo_direct_filter.safetensors
//	fg_trajectories.safetensors, bg_trajectories.safetensors
//	masks/%05d.png                     foreground masks at the model resolution
//	best_buddies.safetensors           filtered DINO best-buddies with ambiguity ratios
//	preprocess.json                    settings, counts and timings
//
// Every file is written atomically; a later run with the same output folder
// reuses what is there (delete a file to recompute it).
type Preprocessed struct {
	Dir            string
	T, H, W        int // frames and model resolution
	Features       *Features
	Trajectories   *traj.Set // with the direct filter when enabled
	NoDirectFilter *traj.Set // without it (used by the best-buddy filter)
	FG, BG         *traj.Set
	Masks          *fgmask.Masks
	BestBuddies    *bestbuddies.Result // nil with SkipBestBuddies
	Frames         []*imgproc.RGB8     // frames at the model resolution
}

// BBLists converts the best-buddies to the form the DINO-BB loss takes
// (pairs keyed by absolute frame ids, coordinates in model pixels). Frame
// pairs outside the bounded search are absent, and the loss skips them as
// the reference skips empty lists.
func (p *Preprocessed) BBLists() BBLists {
	out := BBLists{}
	if p.BestBuddies == nil {
		return out
	}
	for k, pr := range p.BestBuddies.Pairs {
		n := pr.Len()
		if n == 0 {
			continue
		}
		l := &BBList{Source: make([]float32, 2*n), Target: make([]float32, 2*n), Cos: pr.Cos, R: pr.R}
		for i := 0; i < n; i++ {
			l.Source[2*i], l.Source[2*i+1] = pr.Source[i][0], pr.Source[i][1]
			l.Target[2*i], l.Target[2*i+1] = pr.Target[i][0], pr.Target[i][1]
		}
		if l.R == nil {
			l.R = make([]float32, n) // no NMS ratio: ambiguity weight of r = 0
		}
		out[k] = l
	}
	return out
}

// Close releases the feature cache.
func (p *Preprocessed) Close() error {
	if p.Features != nil {
		return p.Features.Close()
	}
	return nil
}

type manifest struct {
	Frames       int                `json:"frames"`
	Height       int                `json:"height"`
	Width        int                `json:"width"`
	Extractor    string             `json:"extractor"`
	Stride       int                `json:"stride"`
	Block        int                `json:"block"`
	Masks        string             `json:"masks"`
	FlowSource   string             `json:"flow_source"`
	DirectFilter bool               `json:"direct_filter"`
	Trajectories map[string]int     `json:"trajectories"`
	BestBuddies  int                `json:"best_buddy_pairs"`
	Seconds      map[string]float64 `json:"seconds"`
}

// Preprocess runs the preprocessing of one video into outDir: features,
// consecutive optical flows, chained trajectories (with and without the
// direct-flow filter), foreground masks and the fg/bg split of the
// trajectories. It is resumable: outputs already in outDir are loaded
// instead of recomputed.
func Preprocess(ctx context.Context, v *Video, outDir string, opt PreprocessOptions) (*Preprocessed, error) {
	if v == nil || v.Len() < MinFrames {
		return nil, fmt.Errorf("preprocess: %w", ErrTooFewFrames)
	}
	log := opt.Logger
	if log == nil {
		log = slog.Default()
	}
	if opt.Features.Stride == 0 {
		opt.Features = DefaultFeatureConfig()
	}
	ext := opt.Extractor
	if ext == nil {
		ext = NewBuiltinFeatureExtractor()
	}
	if err := os.MkdirAll(outDir, 0o755); err != nil {
		return nil, fmt.Errorf("preprocess: %w", err)
	}
	h, w := opt.Features.ModelSize(v.Height, v.Width, 14)
	if opt.Height > 0 {
		h = opt.Height
	}
	if opt.Width > 0 {
		w = opt.Width
	}
	if h < 14 || w < 14 || h%14 != 0 || w%14 != 0 {
		return nil, fmt.Errorf("preprocess: model resolution %d×%d must be positive multiples of 14", h, w)
	}
	T := v.Len()
	res := &Preprocessed{Dir: outDir, T: T, H: h, W: w}
	man := manifest{Frames: T, Height: h, Width: w, DirectFilter: opt.DirectFilter, Trajectories: map[string]int{}, Seconds: map[string]float64{}}
	man.FlowSource = "estimated"
	if opt.FlowDir != "" {
		man.FlowSource = opt.FlowDir
	}
	// Outputs of a run with other settings are not reused.
	if old, err := readManifest(filepath.Join(outDir, "preprocess.json")); err == nil &&
		(old.Frames != T || old.Height != h || old.Width != w || old.DirectFilter != opt.DirectFilter || old.FlowSource != man.FlowSource ||
			(old.Extractor != "" && old.Extractor != ext.name())) {
		log.Warn("preprocess: settings changed since the last run in this folder; recomputing", "dir", outDir)
		for _, name := range []string{"trajectories", "trajectories_wo_direct_filter", "fg_trajectories", "bg_trajectories", "best_buddies"} {
			os.Remove(filepath.Join(outDir, name+".safetensors"))
		}
		os.RemoveAll(filepath.Join(outDir, "flow"))
	}
	stage := func(name string, start time.Time) {
		man.Seconds[name] = time.Since(start).Seconds()
		log.Info("preprocess stage done", "stage", name, "seconds", fmt.Sprintf("%.1f", man.Seconds[name]))
	}
	report := func(name string, start time.Time) func(done, total int) {
		return func(done, total int) {
			if opt.Progress != nil {
				opt.Progress(Progress{Stage: name, Done: done, Total: total, Elapsed: time.Since(start)})
			}
		}
	}

	// Frames at the model resolution (PIL LANCZOS), as the reference feeds RAFT.
	start := time.Now()
	res.Frames = make([]*imgproc.RGB8, T)
	if err := forEachParallel(ctx, T, func(t int) error {
		fr := v.Frames[t]
		if fr.W != w || fr.H != h {
			var err error
			if fr, err = imgproc.ResizeLanczos(fr, w, h); err != nil {
				return err
			}
		}
		res.Frames[t] = fr
		return nil
	}); err != nil {
		return nil, fmt.Errorf("preprocess: resize frames: %w", err)
	}
	stage("resize", start)

	// Features.
	start = time.Now()
	fcfg := opt.Features
	fcfg.Height, fcfg.Width = h, w
	fcfg.CacheDir = filepath.Join(outDir, "features")
	fcfg.Logger = log
	fcfg.Progress = opt.Progress
	feats, err := ext.Extract(ctx, v, fcfg)
	if err != nil {
		return nil, fmt.Errorf("preprocess: %w", err)
	}
	res.Features = feats
	man.Extractor, man.Stride, man.Block = feats.Model, feats.Stride, feats.Block
	stage("features", start)
	ok := false
	defer func() {
		if !ok {
			res.Close()
		}
	}()

	// Consecutive flows.
	start = time.Now()
	flowDir := filepath.Join(outDir, "flow")
	var fwd, bwd []*flow.Field
	switch {
	case opt.FlowDir != "":
		if fwd, bwd, err = flow.LoadSequence(opt.FlowDir, T, w, h); err != nil {
			return nil, fmt.Errorf("preprocess: precomputed flows: %w", err)
		}
	default:
		if fwd, bwd, err = flow.LoadSequence(flowDir, T, w, h); err != nil {
			if fwd, bwd, err = estimateSequence(ctx, res.Frames, opt.Flow, report("flow", start)); err != nil {
				return nil, err
			}
			if err := flow.SaveSequence(flowDir, fwd, bwd); err != nil {
				return nil, fmt.Errorf("preprocess: %w", err)
			}
		}
	}
	stage("flow", start)

	// Trajectories, without and with the direct filter.
	loadOrChain := func(name string, o traj.Options, flows traj.Flows) (*traj.Set, error) {
		path := filepath.Join(outDir, name+".safetensors")
		if s, err := traj.ReadFile(path); err == nil && s.T == T {
			return s, nil
		}
		start := time.Now()
		s, err := traj.Chain(ctx, flows, T, w, h, o, report(name, start))
		if err != nil {
			return nil, fmt.Errorf("preprocess: %s: %w", name, err)
		}
		if err := s.WriteFile(path); err != nil {
			return nil, fmt.Errorf("preprocess: %w", err)
		}
		stage(name, start)
		return s, nil
	}
	mem := &traj.MemFlows{Fwd: fwd, Bwd: bwd}
	noDirect := opt.Trajectories
	noDirect.UseDirect = false
	if res.NoDirectFilter, err = loadOrChain("trajectories_wo_direct_filter", noDirect, mem); err != nil {
		return nil, err
	}
	res.Trajectories = res.NoDirectFilter
	if opt.DirectFilter {
		withDirect := opt.Trajectories
		withDirect.UseDirect = true
		mem.DirectFunc = newDirectFlows(ctx, res.Frames, opt.DirectFlow).get
		if res.Trajectories, err = loadOrChain("trajectories", withDirect, mem); err != nil {
			return nil, err
		}
	} else if err := res.NoDirectFilter.WriteFile(filepath.Join(outDir, "trajectories.safetensors")); err != nil {
		return nil, fmt.Errorf("preprocess: %w", err)
	}

	// Foreground masks.
	start = time.Now()
	if opt.MaskDir != "" {
		man.Masks = opt.MaskDir
		if res.Masks, err = fgmask.Load(opt.MaskDir, T, w, h); err != nil {
			return nil, fmt.Errorf("preprocess: masks: %w", err)
		}
	} else {
		man.Masks = "pca"
		src := feats
		if ext.Model != nil && feats.Block != ext.Model.Depth-1 {
			// The reference takes the PCA of the last block's features.
			last := fcfg
			last.Block = LastBlock
			if src, err = ext.Extract(ctx, v, last); err != nil {
				return nil, fmt.Errorf("preprocess: mask features: %w", err)
			}
			defer src.Close()
		}
		if res.Masks, err = fgmask.FromFeatures(src, T, src.C, src.H, src.W, h, w, opt.PCA); err != nil {
			return nil, fmt.Errorf("preprocess: PCA masks: %w", err)
		}
	}
	if err := res.Masks.WriteDir(filepath.Join(outDir, "masks")); err != nil {
		return nil, fmt.Errorf("preprocess: %w", err)
	}
	stage("masks", start)

	// Foreground/background split (§1.5).
	if res.FG, res.BG, err = fgmask.Split(res.Trajectories, res.Masks); err != nil {
		return nil, fmt.Errorf("preprocess: fg/bg split: %w", err)
	}
	for name, s := range map[string]*traj.Set{"fg_trajectories": res.FG, "bg_trajectories": res.BG} {
		if err := s.WriteFile(filepath.Join(outDir, name+".safetensors")); err != nil {
			return nil, fmt.Errorf("preprocess: %w", err)
		}
		man.Trajectories[name] = s.N()
	}
	man.Trajectories["trajectories"] = res.Trajectories.N()
	man.Trajectories["trajectories_wo_direct_filter"] = res.NoDirectFilter.N()

	// DINO best-buddies, filtered by the trajectories without the direct
	// filter (§1.6), resumable through their own checkpoint file.
	if !opt.SkipBestBuddies {
		start = time.Now()
		bbo := opt.BestBuddies
		bbo.Checkpoint = filepath.Join(outDir, "best_buddies.safetensors")
		res.BestBuddies, err = bestbuddies.Compute(ctx, feats, T, feats.C, feats.H, feats.W, res.NoDirectFilter, bbo, report("best-buddies", start))
		if errors.Is(err, bestbuddies.ErrCheckpointMismatch) {
			// Left by a run with other inputs: start over.
			log.Warn("preprocess: best-buddies file is from other inputs; recomputing", "path", bbo.Checkpoint)
			if err = os.Remove(bbo.Checkpoint); err == nil {
				res.BestBuddies, err = bestbuddies.Compute(ctx, feats, T, feats.C, feats.H, feats.W, res.NoDirectFilter, bbo, report("best-buddies", start))
			}
		}
		if err != nil {
			return nil, fmt.Errorf("preprocess: best-buddies: %w", err)
		}
		if err := bestbuddies.Save(bbo.Checkpoint, res.BestBuddies); err != nil {
			return nil, fmt.Errorf("preprocess: %w", err)
		}
		n := 0
		for _, p := range res.BestBuddies.Pairs {
			n += p.Len()
		}
		man.BestBuddies = n
		stage("best-buddies", start)
	}

	if err := writeJSON(filepath.Join(outDir, "preprocess.json"), man); err != nil {
		return nil, err
	}
	ok = true
	return res, nil
}

// estimateSequence computes the forward and backward flows of every pair of
// consecutive frames.
func estimateSequence(ctx context.Context, frames []*imgproc.RGB8, opt flow.Options, progress func(done, total int)) (fwd, bwd []*flow.Field, err error) {
	n := len(frames) - 1
	fwd, bwd = make([]*flow.Field, n), make([]*flow.Field, n)
	for t := 0; t < n; t++ {
		if fwd[t], bwd[t], err = flow.ForwardBackward(ctx, frames[t], frames[t+1], opt); err != nil {
			return nil, nil, fmt.Errorf("preprocess: flow %d↔%d: %w", t, t+1, err)
		}
		progress(t+1, n)
	}
	return fwd, bwd, nil
}

// directFlows computes direct flows lazily, both directions of a pair at
// once, handing each out once (traj.Chain asks for each ordered pair once).
type directFlows struct {
	ctx    context.Context
	frames []*imgproc.RGB8
	opt    flow.Options
	mu     sync.Mutex
	cache  map[[2]int]*flow.Field
}

func newDirectFlows(ctx context.Context, frames []*imgproc.RGB8, opt flow.Options) *directFlows {
	return &directFlows{ctx: ctx, frames: frames, opt: opt, cache: map[[2]int]*flow.Field{}}
}

func (d *directFlows) get(from, to int) (*flow.Field, error) {
	d.mu.Lock()
	defer d.mu.Unlock()
	if f, ok := d.cache[[2]int{from, to}]; ok {
		delete(d.cache, [2]int{from, to})
		return f, nil
	}
	f, b, err := flow.ForwardBackward(d.ctx, d.frames[from], d.frames[to], d.opt)
	if err != nil {
		return nil, fmt.Errorf("direct flow %d→%d: %w", from, to, err)
	}
	d.cache[[2]int{to, from}] = b
	return f, nil
}

func readManifest(path string) (*manifest, error) {
	b, err := os.ReadFile(path)
	if err != nil {
		return nil, err
	}
	var m manifest
	if err := json.Unmarshal(b, &m); err != nil {
		return nil, err
	}
	return &m, nil
}

// writeJSON writes v as indented JSON, atomically.
func writeJSON(path string, v any) error {
	b, err := json.MarshalIndent(v, "", "  ")
	if err != nil {
		return err
	}
	return safetensors.WriteAtomic(path, func(w io.Writer) error {
		_, err := w.Write(append(b, '\n'))
		return err
	})
}
