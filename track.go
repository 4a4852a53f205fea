package dinotracker

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"math"
	"os"
	"path/filepath"
	"time"

	"dinotracker/cuda"
	"dinotracker/imgproc"
	"dinotracker/safetensors"
)

// ErrNotFitted is returned by Track before a successful Fit or LoadTracker.
var ErrNotFitted = errors.New("the tracker has no fitted model")

// ErrBadQuery is wrapped by Track's errors for queries outside the image or
// the frame range, or with NaN coordinates.
var ErrBadQuery = errors.New("bad query")

// TrackOptions configures Track.
type TrackOptions struct {
	// Occlusion sets the occlusion rule's thresholds (DefaultOcclusion:
	// 0.7 and 0.6, as the reference), or skips the anchor step.
	Occlusion OcclusionSettings
	// Batch is how many queries go through the engine together (their
	// sampled features, N·T·C floats, are held in memory); 0 picks the
	// largest batch within 256 MiB.
	Batch int
	// MemoryBytes bounds the refined features kept in memory (T·C·tokens·4
	// bytes; 1.66 GB for 50 frames at the paper's size). Larger videos get
	// them written once to the work folder (or a temporary folder) and read
	// back frame by frame. 0 means 2 GiB.
	MemoryBytes int64
	// CPU keeps the head on the CPU kernels in a build with -tags cuda
	// (without the tag they are the only ones).
	CPU bool
}

// DefaultTrackOptions returns the reference's inference settings.
func DefaultTrackOptions() TrackOptions { return TrackOptions{Occlusion: DefaultOcclusion()} }

// WithTrackOptions sets the options of Track (DefaultTrackOptions when not
// given).
func WithTrackOptions(o TrackOptions) Option { return func(t *Tracker) { t.trackOpt = &o } }

// trackSession is what Track needs of the fitted video: the frames at the
// model resolution, the frozen features and the input size; the refined
// features are computed on first use.
type trackSession struct {
	inW, inH int
	T, H, W  int
	frames   []*imgproc.RGB8
	feats    *Features
	refined  *Features
	tmpDir   string
	workDir  string
}

func (s *trackSession) close() error {
	var errs []error
	if s.feats != nil {
		errs = append(errs, s.feats.Close())
	}
	if s.refined != nil {
		errs = append(errs, s.refined.Close())
	}
	if s.tmpDir != "" {
		errs = append(errs, os.RemoveAll(s.tmpDir))
	}
	return errors.Join(errs...)
}

// Close releases what the tracker holds for Track (the feature cache files
// and temporary refined features). The tracker can Fit again afterwards.
func (t *Tracker) Close() error {
	if t.sess == nil {
		return nil
	}
	err := t.sess.close()
	t.sess = nil
	return err
}

// Track returns the trajectory, occlusion flag and confidence of every
// query through every frame of the fitted video (spec §5), in input-frame
// pixels. Queries may start at any frame; tracks run forward and backward
// in time, each frame an independent match against the query's feature.
// At its own frame a query's point is exactly the query, visible, with
// confidence 1. A query's track does not depend on the other queries of
// the call.
//
// Fit or LoadTracker must have succeeded first (ErrNotFitted otherwise).
// Queries outside [0, Width]×[0, Height] or the frame range, or with NaN
// coordinates, are rejected with ErrBadQuery before any work. Progress
// stages: "refine" (Delta-DINO over all frames, once per tracker), "track"
// and "occlusion" (frames done of each batch's pass).
func (t *Tracker) Track(ctx context.Context, queries []Query) (*Tracks, error) {
	if t.sess == nil || t.model == nil {
		return nil, fmt.Errorf("dinotracker: track: %w: call Fit or LoadTracker first", ErrNotFitted)
	}
	s := t.sess
	for i, q := range queries {
		if math.IsNaN(q.X) || math.IsNaN(q.Y) || math.IsInf(q.X, 0) || math.IsInf(q.Y, 0) {
			return nil, fmt.Errorf("dinotracker: track: query %d (%g, %g, frame %d): %w: NaN or infinite coordinate", i, q.X, q.Y, q.T, ErrBadQuery)
		}
		if q.X < 0 || q.Y < 0 || q.X > float64(s.inW) || q.Y > float64(s.inH) {
			return nil, fmt.Errorf("dinotracker: track: query %d (%g, %g): %w: outside the %d×%d frame", i, q.X, q.Y, ErrBadQuery, s.inW, s.inH)
		}
		if q.T < 0 || q.T >= s.T {
			return nil, fmt.Errorf("dinotracker: track: query %d: %w: frame %d outside 0…%d", i, ErrBadQuery, q.T, s.T-1)
		}
	}
	opt := DefaultTrackOptions()
	if t.trackOpt != nil {
		opt = *t.trackOpt
		if opt.Occlusion == (OcclusionSettings{}) {
			opt.Occlusion = DefaultOcclusion()
		}
	}
	out := NewTracks(s.inW, s.inH, s.T, queries)
	if len(queries) == 0 {
		return out, nil
	}
	if err := t.ensureRefined(ctx, opt); err != nil {
		return nil, fmt.Errorf("dinotracker: track: %w", err)
	}
	g := NewHeadGeometry(s.W, s.H)
	core, err := newTrackCore(ctx, g, s.refined.C, s.T, t.model.Head, s.refined)
	if err != nil {
		return nil, fmt.Errorf("dinotracker: track: %w", err)
	}
	if opt.CPU {
		// CPU kernels by request.
	} else if gpu := t.openGPU(ctx, core, s.refined); gpu != nil {
		defer gpu.Close()
	}
	start := time.Now()
	prog := func(stage string, done, total int) {
		if t.progress != nil {
			t.progress(Progress{Stage: stage, Done: done, Total: total, Elapsed: time.Since(start)})
		}
	}
	sx, sy := float64(s.W)/float64(s.inW), float64(s.H)/float64(s.inH) // input → model pixels
	if err := trackBatches(ctx, core, queries, sx, sy, opt, prog, out); err != nil {
		return nil, fmt.Errorf("dinotracker: track: %w", err)
	}
	t.log.Info("track done", "queries", len(queries), "frames", s.T, "seconds", fmt.Sprintf("%.2f", time.Since(start).Seconds()))
	return out, nil
}

// ensureRefined computes the refined features Φ = Φ_DINO + Δ of every frame
// once (Delta-DINO in eval mode, chunks of Config.ChunkFrames), in memory
// or, above TrackOptions.MemoryBytes, streamed to a file read lazily.
func (t *Tracker) ensureRefined(ctx context.Context, opt TrackOptions) error {
	s := t.sess
	if s.refined != nil {
		return nil
	}
	f := s.feats
	c, p := f.C, f.H*f.W
	total := int64(s.T) * int64(c) * int64(p) * 4
	budget := opt.MemoryBytes
	if budget <= 0 {
		budget = 2 << 30
	}
	start := time.Now()
	var w *safetensors.Writer
	var path string
	var mem [][]float32
	if total > budget {
		dir := s.workDir
		if dir == "" {
			if s.tmpDir == "" {
				tmp, err := os.MkdirTemp("", "dinotracker-refined-*")
				if err != nil {
					return err
				}
				s.tmpDir = tmp
			}
			dir = s.tmpDir
		}
		path = filepath.Join(dir, "refined_features.safetensors")
		var err error
		w, err = safetensors.Create(path, []safetensors.Header{{Name: "features", DType: "F32", Shape: []int{s.T, c, f.H, f.W}}}, nil)
		if err != nil {
			return fmt.Errorf("refined features: %w", err)
		}
		defer w.Abort()
	} else {
		mem = make([][]float32, s.T)
	}
	chunk := max(1, t.cfg.ChunkFrames)
	hw3 := 3 * s.H * s.W
	in := make([]float32, min(chunk, s.T)*hw3)
	var raw []float32
	for c0 := 0; c0 < s.T; c0 += chunk {
		if err := ctx.Err(); err != nil {
			return err
		}
		m := min(chunk, s.T-c0)
		for j := 0; j < m; j++ {
			s.frames[c0+j].Float32CHW(in[j*hw3 : (j+1)*hw3 : (j+1)*hw3])
		}
		delta, gh, gw := t.model.Delta.Forward(in[:m*hw3], m, s.H, s.W, false)
		if gh != f.H || gw != f.W || len(delta) != m*c*p {
			return fmt.Errorf("Delta-DINO gives %d values on a %d×%d grid for %d frames; the features are %d×%d×%d (was the model fitted with other features?)",
				len(delta), gh, gw, m, c, f.H, f.W)
		}
		for j := 0; j < m; j++ {
			var err error
			if raw, err = f.Frame(c0+j, raw); err != nil {
				return err
			}
			d := delta[j*c*p : (j+1)*c*p]
			var dst []float32
			if mem != nil {
				dst = make([]float32, c*p)
				mem[c0+j] = dst
			} else {
				dst = d
			}
			for i := range dst {
				dst[i] = raw[i] + d[i]
			}
			if w != nil {
				if err := w.WriteValues(dst); err != nil {
					return fmt.Errorf("refined features: %w", err)
				}
			}
		}
		if t.progress != nil {
			t.progress(Progress{Stage: "refine", Done: c0 + m, Total: s.T, Elapsed: time.Since(start)})
		}
	}
	rf := &Features{T: s.T, C: c, H: f.H, W: f.W, Stride: f.Stride, Block: f.Block, ModelH: s.H, ModelW: s.W, Model: f.Model + "+delta", mem: mem}
	if w != nil {
		if err := w.Close(); err != nil {
			return fmt.Errorf("refined features: %w", err)
		}
		r, err := safetensors.Open(path)
		if err != nil {
			return fmt.Errorf("refined features: %w", err)
		}
		rf.r, rf.Path = r, path
	}
	s.refined = rf
	t.log.Info("track: refined features ready", "frames", s.T, "bytes", total, "on_disk", w != nil, "seconds", fmt.Sprintf("%.1f", time.Since(start).Seconds()))
	return nil
}

// LoadTracker reopens a model folder written by Fit with WithWorkDir (or the
// CLI's fit -out) for tracking: it loads the weights and fit.json, and the
// frozen features of v from the folder's feature cache (recomputing them
// when the cache is missing, which needs the same extractor as the fit:
// pass WithFeatureExtractor for DINOv2 weights). v is the fitted video; nil
// loads it from the path fit.json records. The returned tracker is ready
// for Track; Close it when done.
func LoadTracker(ctx context.Context, dir string, v *Video, opts ...Option) (*Tracker, error) {
	b, err := os.ReadFile(filepath.Join(dir, "fit.json"))
	if err != nil {
		return nil, fmt.Errorf("dinotracker: load tracker: %w (is %s a folder written by fit?)", err, dir)
	}
	var sum FitSummary
	if err := json.Unmarshal(b, &sum); err != nil {
		return nil, fmt.Errorf("dinotracker: load tracker: %s: %w", filepath.Join(dir, "fit.json"), err)
	}
	cfg := FastConfig()
	if sum.Config == "paper" {
		cfg = PaperConfig()
	}
	cfg.Height, cfg.Width = sum.Height, sum.Width
	t, err := NewTracker(cfg, opts...)
	if err != nil {
		return nil, err
	}
	if v == nil {
		if sum.Video == "" {
			return nil, fmt.Errorf("dinotracker: load tracker: fit.json records no video path; pass the video")
		}
		if v, err = LoadVideo(ctx, sum.Video); err != nil {
			return nil, fmt.Errorf("dinotracker: load tracker: the fitted video: %w", err)
		}
	}
	if v.Len() != sum.Frames {
		return nil, fmt.Errorf("dinotracker: load tracker: the video has %d frames but the model was fitted on %d", v.Len(), sum.Frames)
	}
	m, err := LoadModel(filepath.Join(dir, "delta_dino.safetensors"), filepath.Join(dir, "tracker_head.safetensors"))
	if err != nil {
		return nil, err
	}
	ext := t.extractor
	if ext == nil {
		ext = NewBuiltinFeatureExtractor()
	}
	if sum.Extractor != "" && ext.name() != sum.Extractor {
		return nil, fmt.Errorf("dinotracker: load tracker: the model was fitted with %s features but the extractor is %s (pass the same weights as for fit)", sum.Extractor, ext.name())
	}
	sess, err := openSession(ctx, v, sum.Height, sum.Width, sum.FeatureBlock, ext, filepath.Join(dir, "preprocess", "features"), t)
	if err != nil {
		return nil, fmt.Errorf("dinotracker: load tracker: %w", err)
	}
	if sess.feats.C != sum.Channels {
		sess.close()
		return nil, fmt.Errorf("dinotracker: load tracker: features have %d channels but the model %d", sess.feats.C, sum.Channels)
	}
	sess.workDir = dir
	t.model, t.summary, t.sess = m, &sum, sess
	return t, nil
}

// openSession resizes v to the model resolution (PIL LANCZOS, as
// preprocessing) and opens its features through the cache in cacheDir.
func openSession(ctx context.Context, v *Video, h, w, block int, ext *FeatureExtractor, cacheDir string, t *Tracker) (*trackSession, error) {
	s := &trackSession{inW: v.Width, inH: v.Height, T: v.Len(), H: h, W: w, frames: make([]*imgproc.RGB8, v.Len())}
	if err := forEachParallel(ctx, v.Len(), func(k int) error {
		fr := v.Frames[k]
		if fr.W != w || fr.H != h {
			var err error
			if fr, err = imgproc.ResizeLanczos(fr, w, h); err != nil {
				return err
			}
		}
		s.frames[k] = fr
		return nil
	}); err != nil {
		return nil, fmt.Errorf("resize frames: %w", err)
	}
	fcfg := DefaultFeatureConfig()
	fcfg.Height, fcfg.Width = h, w
	if block != 0 {
		fcfg.Block = block
	}
	fcfg.CacheDir = cacheDir
	fcfg.Logger = t.log
	fcfg.Progress = t.progress
	feats, err := ext.Extract(ctx, v, fcfg)
	if err != nil {
		return nil, err
	}
	s.feats = feats
	return s, nil
}

// GridQueries returns queries at frame t every step pixels of a w×h frame,
// starting at 0 (the reference's inference_grid, interval 10 by default),
// row by row. With mask (w·h bytes, row-major, nonzero = keep) only points
// whose rounded position lies on the mask are kept.
func GridQueries(w, h, step, t int, mask []uint8) ([]Query, error) {
	if step < 1 || w < 1 || h < 1 {
		return nil, fmt.Errorf("dinotracker: grid queries: need step ≥ 1 and a positive size, got step %d on %d×%d", step, w, h)
	}
	if mask != nil && len(mask) != w*h {
		return nil, fmt.Errorf("dinotracker: grid queries: mask holds %d values, want %d×%d", len(mask), w, h)
	}
	var qs []Query
	for y := 0; y < h; y += step {
		for x := 0; x < w; x += step {
			if mask != nil && mask[y*w+x] == 0 {
				continue
			}
			qs = append(qs, Query{X: float64(x), Y: float64(y), T: t})
		}
	}
	return qs, nil
}

// VideoSize returns the input frame size and frame count of the fitted
// video (zeros before Fit or LoadTracker): the range of Track's queries.
func (t *Tracker) VideoSize() (width, height, frames int) {
	if t.sess == nil {
		return 0, 0, 0
	}
	return t.sess.inW, t.sess.inH, t.sess.T
}

// openGPU puts the head on a CUDA device when the build has -tags cuda and
// a device is there (package cuda); otherwise the CPU kernels run, and a
// cuda build says why once per tracker. The returned session must be
// closed after the Track call.
func (t *Tracker) openGPU(ctx context.Context, core *trackCore, feats *Features) *cuda.Session {
	err := cuda.Available()
	if err != nil {
		if !errors.Is(err, cuda.ErrNotBuilt) && !t.cudaLogged {
			t.log.Warn("track: no CUDA device; using the CPU kernels", "reason", err)
			t.cudaLogged = true
		}
		return nil
	}
	frames := make([][]float32, feats.T)
	for k := range frames {
		if ctx.Err() != nil {
			return nil
		}
		f, err := feats.Frame(k, nil)
		if err != nil {
			t.log.Warn("track: CUDA session not opened; using the CPU kernels", "reason", err)
			return nil
		}
		frames[k] = f
	}
	sess, err := cuda.NewSession(frames, feats.C, feats.H, feats.W, core.g.Grid())
	if err == nil {
		r := &core.head.Refiner
		err = sess.SetRefiner(core.k.W0[:], r.B0, core.k.W2[:], r.B2[0])
	}
	if err != nil {
		if sess != nil {
			sess.Close()
		}
		t.log.Warn("track: CUDA session failed; using the CPU kernels", "reason", err)
		return nil
	}
	if !t.cudaLogged {
		t.log.Info("track: head kernels on the CUDA device")
		t.cudaLogged = true
	}
	core.gpu = sess
	return sess
}
