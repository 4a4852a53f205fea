package dinotracker

import (
	"context"
	"encoding/json"
	"errors"
	"image"
	"io"
	"log/slog"
	"math"
	"math/rand/v2"
	"os"
	"path/filepath"
	"testing"

	"dinotracker/flow"
	"dinotracker/imgproc"
	"dinotracker/nn"
	"dinotracker/safetensors"
	"dinotracker/tensor"
)

// texturedVideo is T frames of h×w showing a random texture of coloured
// blobs that moves by (dx, dy) integer pixels per frame: the content at
// (x, y) in frame 0 is at (x + k·dx, y + k·dy) in frame k.
func texturedVideo(t testing.TB, T, w, h, dx, dy int) *Video {
	t.Helper()
	m := max(abs(dx), abs(dy))*T + 2
	bw, bh := w+2*m, h+2*m
	base := make([]float64, 3*bw*bh)
	r := rand.New(rand.NewPCG(7, 11))
	for c := 0; c < 3; c++ {
		for i := 0; i < bw*bh; i++ {
			base[c*bw*bh+i] = 60 + 20*r.Float64()
		}
	}
	for b := 0; b < bw*bh/40; b++ {
		cx, cy := r.Float64()*float64(bw), r.Float64()*float64(bh)
		rad := 1.5 + 3*r.Float64()
		col := [3]float64{r.Float64() * 190, r.Float64() * 190, r.Float64() * 190}
		for y := max(0, int(cy-3*rad)); y < min(bh, int(cy+3*rad)+1); y++ {
			for x := max(0, int(cx-3*rad)); x < min(bw, int(cx+3*rad)+1); x++ {
				g := math.Exp(-((float64(x)-cx)*(float64(x)-cx) + (float64(y)-cy)*(float64(y)-cy)) / (2 * rad * rad))
				for c := 0; c < 3; c++ {
					base[c*bw*bh+y*bw+x] += g * col[c]
				}
			}
		}
	}
	imgs := make([]image.Image, T)
	for k := range imgs {
		img := imgproc.NewRGB8(w, h)
		for y := 0; y < h; y++ {
			for x := 0; x < w; x++ {
				bx, by := x-k*dx+m, y-k*dy+m
				var v [3]uint8
				for c := 0; c < 3; c++ {
					v[c] = uint8(min(255, max(0, base[c*bw*bh+by*bw+bx])))
				}
				img.Set(x, y, v[0], v[1], v[2])
			}
		}
		imgs[k] = img
	}
	v, err := NewVideo(imgs)
	if err != nil {
		t.Fatal(err)
	}
	return v
}

func abs(v int) int {
	if v < 0 {
		return -v
	}
	return v
}

// boxMasks writes T masks of h×w with the central box foreground.
func boxMasks(t *testing.T, T, w, h int) string {
	t.Helper()
	dir := t.TempDir()
	for k := 0; k < T; k++ {
		m := imgproc.NewRGB8(w, h)
		for y := h / 4; y < 3*h/4; y++ {
			for x := w / 4; x < 3*w/4; x++ {
				m.Set(x, y, 255, 255, 255)
			}
		}
		writePNG(t, filepath.Join(dir, "m"+string(rune('a'+k))+".png"), m)
	}
	return dir
}

// tinyConfig is a configuration small enough for unit tests: the model
// resolution is the frame size, Delta-DINO is narrow, batches are small.
func tinyConfig(iters int) Config {
	c := PaperConfig()
	c.Name = "tiny"
	c.Iterations = iters
	c.Height, c.Width, c.Scale = 0, 0, 1
	c.DirectFilter = false
	c.Flow = flow.FastOptions()
	c.DeltaWidths = [3]int{4, 8, 8}
	c.Sampler.BatchSize = 64
	c.Sampler.NumFrames = 2
	c.Loss.CLPointsPerPair = 32
	c.Loss.CycPointsPerPair = 32
	c.Loss.CycAfter = iters
	c.Loss.RefinedBBAfter = iters
	c.SchedulerEvery = 2
	c.CheckpointEvery = 0
	c.KeepCheckpoints = 0
	return c
}

func TestConfigs(t *testing.T) {
	p := PaperConfig()
	if err := p.Validate(); err != nil {
		t.Fatal(err)
	}
	if p.Iterations != 10000 || p.Sampler.BatchSize != 512 || p.Sampler.NumFrames != 4 || p.Sampler.FGRatio != 0.5 ||
		p.Height != 476 || p.Width != 854 || p.FeatureBlock != 15 || p.FeatureStride != 7 || p.LRDelta != 0.01 || p.LRHead != 0.01 ||
		p.SchedulerGamma != 0.999 || p.SchedulerEvery != 40 || p.Loss.CycAfter != 5000 || p.Loss.RefinedBBAfter != 5000 ||
		p.CheckpointEvery != 2500 || p.Seed != 2 || p.ChunkFrames != 8 || p.DeltaWidths != [3]int{64, 128, 256} {
		t.Fatalf("PaperConfig differs from the reference: %+v", p)
	}
	if got := p.lrFactor(10000); math.Abs(got-0.7787) > 1e-4 {
		t.Errorf("lr factor at 10000: %g, want 0.7787", got)
	}
	if p.lrFactor(39) != 1 || p.lrFactor(40) != 0.999 {
		t.Errorf("lr factor steps at the wrong iteration")
	}
	f := FastConfig()
	if err := f.Validate(); err != nil {
		t.Fatal(err)
	}
	if f.Loss.CycAfter != f.Iterations/2 || f.Loss.RefinedBBAfter != f.Iterations/2 {
		t.Errorf("FastConfig switches on at %d/%d of %d", f.Loss.CycAfter, f.Loss.RefinedBBAfter, f.Iterations)
	}
	// Same final decay as the paper's schedule (within one scheduler step).
	if got, want := f.lrFactor(f.Iterations), p.lrFactor(p.Iterations); math.Abs(got-want) > 0.01 {
		t.Errorf("FastConfig final lr factor %g, paper %g", got, want)
	}
	if h, w, err := f.modelSize(480, 854); err != nil || h != 238 || w != 420 {
		t.Errorf("FastConfig at 854×480: %d×%d %v", h, w, err)
	}
	if _, _, err := f.modelSize(60, 60); !errors.Is(err, ErrBadConfig) {
		t.Errorf("30×30 model accepted: %v", err)
	}
	for name, mod := range map[string]func(*Config){
		"iterations": func(c *Config) { c.Iterations = 0 },
		"size":       func(c *Config) { c.Height = 470 },
		"small":      func(c *Config) { c.Height, c.Width = 28, 28 },
		"stride":     func(c *Config) { c.FeatureStride = 14 },
		"batch":      func(c *Config) { c.Sampler.BatchSize = 0 },
		"lr":         func(c *Config) { c.LRDelta = math.NaN() },
		"gamma":      func(c *Config) { c.SchedulerGamma = 0 },
		"widths":     func(c *Config) { c.DeltaWidths[1] = 0 },
		"chunk":      func(c *Config) { c.ChunkFrames = 0 },
		"beta":       func(c *Config) { c.Beta2 = 1 },
	} {
		c := PaperConfig()
		mod(&c)
		if _, err := NewTracker(c); !errors.Is(err, ErrBadConfig) {
			t.Errorf("%s: bad config accepted (%v)", name, err)
		}
	}
}

// TestNewDeltaDINOMatchesNN checks that the width-configurable constructor
// reproduces nn.NewDeltaDINO at the reference widths, and the init rules at
// others.
func TestNewDeltaDINOMatchesNN(t *testing.T) {
	a, b := nn.NewDeltaDINO(5), newDeltaDINO(5, [3]int{64, 128, 256}, 1024)
	for i, p := range a.Params() {
		q := b.Params()[i]
		for k := range p.Data {
			if p.Data[k] != q.Data[k] {
				t.Fatalf("param %d differs", i)
			}
		}
	}
	c := newDeltaDINO(5, [3]int{8, 16, 32}, 294)
	if c.Stages[3].Cout != 294 || c.Stages[3].Cin != 32 || c.Stages[1].Cin != 8 {
		t.Fatalf("widths not applied")
	}
	// The first stage's weights are the same draws as the reference's.
	for k := range c.Stages[0].Weight.Data {
		if c.Stages[0].Weight.Data[k] != a.Stages[0].Weight.Data[k] {
			break
		}
	}
	for _, v := range c.Stages[3].Weight.Data {
		if v != 0 {
			t.Fatal("last conv not zero")
		}
	}
	for _, v := range c.Stages[3].Gamma.Data {
		if v != 0.05 {
			t.Fatal("last gamma not 0.05")
		}
	}
	out, _, _ := c.Forward(make([]float32, 2*3*56*98), 2, 56, 98, true)
	for _, v := range out {
		if v != 0 {
			t.Fatal("initial residual not zero")
		}
	}
}

// trackError is the mean pixel error of the model (Delta-DINO in eval mode)
// tracking a grid of points of frame 0 to every other frame of the
// textured video, whose true motion is (dx, dy) per frame.
func trackError(t *testing.T, pre *Preprocessed, m *Model, dx, dy int) float64 {
	t.Helper()
	f := pre.Features
	geom := NewHeadGeometry(pre.W, pre.H)
	cp := f.C * geom.Tokens()
	maps := make([][]float32, pre.T)
	for k := range maps {
		raw, err := f.Frame(k, nil)
		if err != nil {
			t.Fatal(err)
		}
		in := pre.Frames[k].Float32CHW(nil)
		d, _, _ := m.Delta.Forward(in, 1, pre.H, pre.W, false)
		maps[k] = make([]float32, cp)
		for i := range maps[k] {
			maps[k][i] = raw[i] + d[i]
		}
	}
	ws := NewHeadWorkspace(geom, f.C)
	var sum float64
	n := 0
	for y := 14; y < pre.H-14; y += 5 {
		for x := 14; x < pre.W-14; x += 5 {
			for k := 1; k < pre.T; k++ {
				tx, ty := float64(x+k*dx), float64(y+k*dy)
				if tx > float64(pre.W-8) || ty > float64(pre.H-8) {
					continue
				}
				m.Head.Forward(ws, maps[0], maps[k], nil, float64(x), float64(y))
				sum += math.Hypot(ws.PredPx[0]-tx, ws.PredPx[1]-ty)
				n++
			}
		}
	}
	return sum / float64(n)
}

// TestFitTinyVideo fits a textured image translating 2 px right and 1 px
// down per frame: the flow loss falls and points are tracked better than
// by the untrained model.
func TestFitTinyVideo(t *testing.T) {
	const T, W, H, dx, dy = 5, 98, 70, 2, 1
	v := texturedVideo(t, T, W, H, dx, dy)
	masks := boxMasks(t, T, W, H)
	cfg := tinyConfig(40)
	cfg.Loss.CycAfter, cfg.Loss.RefinedBBAfter = 30, 30 // the late losses run too
	dir := t.TempDir()
	var prog []FitProgress
	var stages []string
	tr, err := NewTracker(cfg, WithWorkDir(dir), WithMasks(masks), WithLogger(discardLogger()),
		WithFitProgress(func(p FitProgress) { prog = append(prog, p) }),
		WithProgress(func(p Progress) {
			if len(stages) == 0 || stages[len(stages)-1] != p.Stage {
				stages = append(stages, p.Stage)
			}
		}))
	if err != nil {
		t.Fatal(err)
	}
	if err := tr.Fit(context.Background(), v); err != nil {
		t.Fatal(err)
	}
	if len(prog) != cfg.Iterations || prog[len(prog)-1].Iteration != cfg.Iterations || prog[0].ETA <= 0 {
		t.Fatalf("%d progress reports, last %+v", len(prog), prog[len(prog)-1])
	}
	if stages[len(stages)-1] != "fit" {
		t.Errorf("progress stages %v", stages)
	}
	if !prog[35].Losses.CycleOn || prog[5].Losses.CycleOn || prog[35].Losses.Cycle == 0 && prog[35].Losses.CycleReason == "" {
		t.Errorf("cycle loss switch: iteration 6 %+v, 36 %+v", prog[5].Losses, prog[35].Losses)
	}
	if prog[0].LRDelta != 0.01 || prog[39].LRDelta >= 0.01 || prog[39].LRHead != 0.01 {
		t.Errorf("learning rates: first %g, last %g / %g", prog[0].LRDelta, prog[39].LRDelta, prog[39].LRHead)
	}
	s := tr.Summary()
	t.Logf("flow loss first 10%% %.5f, last 10%% %.5f; %.3f s/iteration; extractor %s", s.FlowLossFirst, s.FlowLossLast, s.SecondsPerIter, s.Extractor)
	if !(s.FlowLossLast < 0.8*s.FlowLossFirst) {
		t.Errorf("flow loss did not fall: %g → %g", s.FlowLossFirst, s.FlowLossLast)
	}
	dinoBB := 0
	for _, p := range prog {
		if p.Losses.DinoBB > 0 {
			dinoBB++
		}
	}
	if s.BestBuddyPairs == 0 || dinoBB == 0 {
		t.Errorf("DINO-BB loss unused: %d best-buddy frame pairs, %d iterations with a nonzero loss", s.BestBuddyPairs, dinoBB)
	}
	if s.Extractor != BuiltinExtractorName || s.Iterations != cfg.Iterations {
		t.Errorf("summary %+v", s)
	}
	for _, f := range []string{DeltaDINOFile, TrackerHeadFile, "fit.json", "checkpoints/checkpoint_00000040.safetensors"} {
		if _, err := os.Stat(filepath.Join(dir, f)); err != nil {
			t.Errorf("missing %s", f)
		}
	}

	// Tracking: the fitted model against the untrained one.
	pre := testPreprocess(t, cfg, v, filepath.Join(dir, "preprocess"), masks)
	fresh, err := newTrainer(cfg, pre, nil, tr.log)
	if err != nil {
		t.Fatal(err)
	}
	before := trackError(t, pre, &Model{Delta: fresh.delta, Head: fresh.head}, dx, dy)
	after := trackError(t, pre, tr.Model(), dx, dy)
	t.Logf("held-out tracking error: %.2f px before training, %.2f px after", before, after)
	if !(after < before) {
		t.Errorf("tracking did not improve: %.2f px → %.2f px", before, after)
	}
	// The saved model loads back to the same weights.
	m, err := LoadModel(filepath.Join(dir, DeltaDINOFile), filepath.Join(dir, TrackerHeadFile))
	if err != nil {
		t.Fatal(err)
	}
	if got := trackError(t, pre, m, dx, dy); got != after {
		t.Errorf("reloaded model tracks with %.4f px, fitted %.4f", got, after)
	}

	// A second Fit in the same folder finds the final checkpoint: no work.
	prog = nil
	if err := tr.Fit(context.Background(), v); err != nil {
		t.Fatal(err)
	}
	if len(prog) != 0 || tr.Summary().ResumedFrom != cfg.Iterations {
		t.Errorf("refit trained %d more iterations (resumed from %d)", len(prog), tr.Summary().ResumedFrom)
	}
}

// modelState flattens the whole trainable and BN state of a trainer.
func trainerState(tr *trainer) (vals []float32, counts []int64) {
	for _, st := range DeltaDINOState(tr.delta) {
		vals = append(vals, st.Data...)
	}
	for _, st := range HeadState(tr.head) {
		vals = append(vals, st.Data...)
	}
	for _, g := range []*adamGroup{tr.optDelta, tr.optHead} {
		for i := range g.m {
			vals = append(vals, g.m[i]...)
			vals = append(vals, g.v[i]...)
		}
		counts = append(counts, int64(g.steps))
	}
	for _, s := range tr.delta.Stages {
		counts = append(counts, s.NumBatchesTracked)
	}
	b, _ := tr.sampler.MarshalBinary()
	for _, x := range b {
		counts = append(counts, int64(x))
	}
	return vals, append(counts, int64(tr.iter), int64(tr.sched))
}

func sameState(t *testing.T, what string, a, b *trainer) {
	t.Helper()
	va, ca := trainerState(a)
	vb, cb := trainerState(b)
	if len(va) != len(vb) || len(ca) != len(cb) {
		t.Fatalf("%s: state sizes differ", what)
	}
	for i := range ca {
		if ca[i] != cb[i] {
			t.Fatalf("%s: counters/RNG differ at %d: %d vs %d", what, i, ca[i], cb[i])
		}
	}
	for i := range va {
		if math.Float32bits(va[i]) != math.Float32bits(vb[i]) {
			t.Fatalf("%s: value %d differs: %g vs %g", what, i, va[i], vb[i])
		}
	}
}

// TestFitResumeExact: training 2N iterations equals training N, saving a
// checkpoint, loading it into a fresh Tracker and training N more, bit for
// bit (weights, BN statistics and counters, Adam moments and steps,
// scheduler step, sampler state). Every loss is on (the switch-on is at
// iteration 1). It runs with all cores: Objective adds the per-chunk
// refiner gradients in chunk order, so runs are bit-reproducible.
func TestFitResumeExact(t *testing.T) {
	const T, W, H, N = 4, 98, 56, 3
	v := texturedVideo(t, T, W, H, 2, 1)
	masks := boxMasks(t, T, W, H)
	cfg := tinyConfig(2 * N)
	cfg.Loss.CycAfter, cfg.Loss.RefinedBBAfter = 1, 1
	cfg.ChunkFrames = 2 // several Delta-DINO chunks per iteration
	cfg.SchedulerEvery = 1
	ctx := context.Background()

	full := t.TempDir()
	tr, err := NewTracker(cfg, WithWorkDir(full), WithMasks(masks), WithLogger(discardLogger()))
	if err != nil {
		t.Fatal(err)
	}
	if err := tr.Fit(ctx, v); err != nil {
		t.Fatal(err)
	}

	half := t.TempDir()
	c1 := cfg
	c1.Iterations = N
	tr1, _ := NewTracker(c1, WithWorkDir(half), WithMasks(masks), WithLogger(discardLogger()))
	if err := tr1.Fit(ctx, v); err != nil {
		t.Fatal(err)
	}
	tr2, _ := NewTracker(cfg, WithWorkDir(half), WithMasks(masks), WithLogger(discardLogger()))
	if err := tr2.Fit(ctx, v); err != nil {
		t.Fatal(err)
	}
	if tr2.Summary().ResumedFrom != N {
		t.Fatalf("second run resumed from %d, want %d", tr2.Summary().ResumedFrom, N)
	}
	a := loadTrainer(t, cfg, full, v, masks)
	b := loadTrainer(t, cfg, half, v, masks)
	sameState(t, "2N vs N+N", a, b)
	if a.iter != 2*N {
		t.Fatalf("checkpoint at iteration %d", a.iter)
	}
	// The fitted models are the same too.
	for i, st := range DeltaDINOState(tr.Model().Delta) {
		o := DeltaDINOState(tr2.Model().Delta)[i]
		for k := range st.Data {
			if st.Data[k] != o.Data[k] {
				t.Fatalf("%s differs", st.Name)
			}
		}
	}
}

// testPreprocess preprocesses v into dir as Fit does with cfg.
func testPreprocess(t *testing.T, cfg Config, v *Video, dir, masks string) *Preprocessed {
	t.Helper()
	h, w, err := cfg.modelSize(v.Height, v.Width)
	if err != nil {
		t.Fatal(err)
	}
	popt := cfg.preprocessOptions(h, w)
	popt.MaskDir, popt.Logger = masks, discardLogger()
	pre, err := Preprocess(context.Background(), v, dir, popt)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { pre.Close() })
	return pre
}

// loadTrainer builds a trainer for the work folder dir and loads its latest
// checkpoint.
func loadTrainer(t *testing.T, cfg Config, dir string, v *Video, masks string) *trainer {
	t.Helper()
	pre := testPreprocess(t, cfg, v, filepath.Join(dir, "preprocess"), masks)
	tr, err := newTrainer(cfg, pre, nil, discardLogger())
	if err != nil {
		t.Fatal(err)
	}
	path, _, ok := latestCheckpoint(filepath.Join(dir, "checkpoints"))
	if !ok {
		t.Fatal("no checkpoint")
	}
	if err := tr.loadCheckpoint(path); err != nil {
		t.Fatal(err)
	}
	return tr
}

// TestFitCancelResume: a cancelled Fit writes a checkpoint and returns
// ctx.Err(); the next Fit resumes from it and ends where an uninterrupted
// run ends.
func TestFitCancelResume(t *testing.T) {
	const T, W, H = 4, 98, 56
	v := texturedVideo(t, T, W, H, 2, 1)
	masks := boxMasks(t, T, W, H)
	cfg := tinyConfig(5)
	ctx := context.Background()

	ref := t.TempDir()
	tr, _ := NewTracker(cfg, WithWorkDir(ref), WithMasks(masks), WithLogger(discardLogger()))
	if err := tr.Fit(ctx, v); err != nil {
		t.Fatal(err)
	}

	dir := t.TempDir()
	cctx, cancel := context.WithCancel(ctx)
	defer cancel()
	tr1, _ := NewTracker(cfg, WithWorkDir(dir), WithMasks(masks), WithLogger(discardLogger()), WithFitProgress(func(p FitProgress) {
		if p.Iteration == 2 {
			cancel()
		}
	}))
	if err := tr1.Fit(cctx, v); !errors.Is(err, context.Canceled) {
		t.Fatalf("cancelled Fit returned %v", err)
	}
	if _, it, ok := latestCheckpoint(filepath.Join(dir, "checkpoints")); !ok || it != 2 {
		t.Fatalf("checkpoint after cancel: %d %v", it, ok)
	}
	tr2, _ := NewTracker(cfg, WithWorkDir(dir), WithMasks(masks), WithLogger(discardLogger()))
	if err := tr2.Fit(ctx, v); err != nil {
		t.Fatal(err)
	}
	sameState(t, "cancelled+resumed vs uninterrupted", loadTrainer(t, cfg, ref, v, masks), loadTrainer(t, cfg, dir, v, masks))
}

// TestStepCancelRestores: cancelling inside an iteration undoes its
// changes (sampler state, BatchNorm statistics), so the iteration is
// repeated identically later.
func TestStepCancelRestores(t *testing.T) {
	v := texturedVideo(t, 4, 98, 56, 2, 1)
	masks := boxMasks(t, 4, 98, 56)
	cfg := tinyConfig(3)
	pre := testPreprocess(t, cfg, v, t.TempDir(), masks)
	a, _ := newTrainer(cfg, pre, nil, discardLogger())
	b, _ := newTrainer(cfg, pre, nil, discardLogger())
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	if _, _, _, err := b.step(ctx); !errors.Is(err, context.Canceled) {
		t.Fatalf("cancelled step: %v", err)
	}
	sameState(t, "after a cancelled step", a, b)
	for i := 0; i < 2; i++ {
		if _, _, _, err := a.step(context.Background()); err != nil {
			t.Fatal(err)
		}
		if _, _, _, err := b.step(context.Background()); err != nil {
			t.Fatal(err)
		}
	}
	sameState(t, "two steps after a cancelled one", a, b)
}

func TestFitErrors(t *testing.T) {
	ctx := context.Background()
	tr, err := NewTracker(tinyConfig(2), WithLogger(discardLogger()))
	if err != nil {
		t.Fatal(err)
	}
	v := texturedVideo(t, 3, 56, 42, 1, 1)
	one := &Video{Width: v.Width, Height: v.Height, Frames: v.Frames[:1]}
	if err := tr.Fit(ctx, one); !errors.Is(err, ErrTooFewFrames) {
		t.Errorf("one frame: %v", err)
	}
	if err := tr.Fit(ctx, nil); !errors.Is(err, ErrTooFewFrames) {
		t.Errorf("nil video: %v", err)
	}
	cctx, cancel := context.WithCancel(ctx)
	cancel()
	if err := tr.Fit(cctx, v); !errors.Is(err, context.Canceled) {
		t.Errorf("cancelled: %v", err)
	}
	// Frames too small for Delta-DINO at this scale.
	small := tinyConfig(2)
	small.Scale = 0.5
	tr2, _ := NewTracker(small, WithLogger(discardLogger()))
	if err := tr2.Fit(ctx, v); !errors.Is(err, ErrBadConfig) {
		t.Errorf("too small: %v", err)
	}
	if _, err := NewTracker(Config{}); !errors.Is(err, ErrBadConfig) {
		t.Errorf("zero config: %v", err)
	}
	// A checkpoint from another setting is refused, not silently mixed in.
	dir := t.TempDir()
	masks := boxMasks(t, 3, 56, 42)
	c := tinyConfig(1)
	trA, _ := NewTracker(c, WithWorkDir(dir), WithMasks(masks), WithLogger(discardLogger()))
	if err := trA.Fit(ctx, v); err != nil {
		t.Fatal(err)
	}
	c.DeltaWidths = [3]int{4, 4, 4}
	c.Iterations = 2
	trB, _ := NewTracker(c, WithWorkDir(dir), WithMasks(masks), WithLogger(discardLogger()))
	if err := trB.Fit(ctx, v); err == nil {
		t.Error("checkpoint of other Delta-DINO widths accepted")
	}
}

// TestStateDictMapping: the Delta-DINO and head state_dicts carry exactly
// the reference's names and shapes (the golden case lists them), and a
// state_dict written with those names loads back through the mapping used
// for the reference's .pt checkpoints (which ReadStateDict reads through
// package pth).
func TestStateDictMapping(t *testing.T) {
	want := map[string][]int{}
	if err := readGoldenKeys(&want); err != nil {
		t.Skip(err)
	}
	d := nn.NewDeltaDINO(3)
	got := map[string][]int{}
	for _, st := range DeltaDINOState(d) {
		got[st.Name] = st.Shape
	}
	for name, shape := range want {
		g, ok := got[name]
		if !ok {
			t.Errorf("missing %s", name)
			continue
		}
		if !sameShape(g, shape) || len(g) != len(shape) {
			t.Errorf("%s: %v, reference %v", name, g, shape)
		}
	}
	for name := range got {
		if _, ok := want[name]; !ok && !isFilt(name) {
			t.Errorf("extra %s", name)
		}
	}

	// Random weights and BN state, written with PyTorch names (and the
	// "delta_dino." prefix a wrapped module would have), read back.
	r := rand.New(rand.NewPCG(1, 2))
	for _, st := range DeltaDINOState(d) {
		if !isFilt(st.Name) && !isNBT(st.Name) {
			for i := range st.Data {
				st.Data[i] = float32(r.NormFloat64())
			}
		}
	}
	for i, s := range d.Stages {
		s.NumBatchesTracked = int64(100 + i)
	}
	head := NewHead(r)
	dir := t.TempDir()
	if err := SaveModel(dir, &Model{Delta: d, Head: head}); err != nil {
		t.Fatal(err)
	}
	m, err := LoadModel(filepath.Join(dir, DeltaDINOFile), filepath.Join(dir, TrackerHeadFile))
	if err != nil {
		t.Fatal(err)
	}
	checkSameModel(t, &Model{Delta: d, Head: head}, m)

	// Prefixed keys, and missing or misshapen entries.
	sd, err := ReadStateDict(filepath.Join(dir, DeltaDINOFile))
	if err != nil {
		t.Fatal(err)
	}
	pref := map[string]*tensor.Tensor{}
	for k, v := range sd {
		pref["delta_dino."+k] = v
	}
	d2, err := DeltaDINOFromState(pref)
	if err != nil {
		t.Fatal(err)
	}
	checkSameModel(t, &Model{Delta: d, Head: head}, &Model{Delta: d2, Head: head})
	bad := map[string]*tensor.Tensor{}
	for k, v := range sd {
		bad[k] = v
	}
	delete(bad, "layers.9.running_var")
	if _, err := DeltaDINOFromState(bad); err == nil {
		t.Error("missing running_var accepted")
	}
	bad["layers.9.running_var"] = tensor.New(3)
	if _, err := DeltaDINOFromState(bad); err == nil {
		t.Error("wrong shape accepted")
	}
	if _, err := HeadFromState(map[string]*tensor.Tensor{"cnn_refiner.0.weight": tensor.New(16, 1, 3, 3)}); err == nil {
		t.Error("incomplete head accepted")
	}
	// Narrow models (widths and output channels from the shapes).
	n := newDeltaDINO(1, [3]int{4, 8, 16}, 294)
	if err := SaveModel(dir, &Model{Delta: n, Head: head}); err != nil {
		t.Fatal(err)
	}
	m, err = LoadModel(filepath.Join(dir, DeltaDINOFile), filepath.Join(dir, TrackerHeadFile))
	if err != nil {
		t.Fatal(err)
	}
	if m.Delta.Stages[3].Cout != 294 || m.Delta.Stages[2].Cout != 16 {
		t.Errorf("widths %d %d", m.Delta.Stages[2].Cout, m.Delta.Stages[3].Cout)
	}
	// A file that is neither format.
	junk := filepath.Join(dir, "junk.pt")
	os.WriteFile(junk, []byte("PK\x03\x04 not really"), 0o644)
	if _, err := LoadModel(junk, junk); err == nil {
		t.Error("junk accepted")
	}
}

func isFilt(name string) bool { return len(name) > 5 && name[len(name)-5:] == ".filt" }
func isNBT(name string) bool {
	return len(name) > 20 && name[len(name)-20:] == ".num_batches_tracked"
}

func checkSameModel(t *testing.T, a, b *Model) {
	t.Helper()
	sa, sb := DeltaDINOState(a.Delta), DeltaDINOState(b.Delta)
	if len(sa) != len(sb) {
		t.Fatalf("%d vs %d state entries", len(sa), len(sb))
	}
	for i := range sa {
		for k := range sa[i].Data {
			if sa[i].Data[k] != sb[i].Data[k] {
				t.Fatalf("%s[%d]: %g vs %g", sa[i].Name, k, sa[i].Data[k], sb[i].Data[k])
			}
		}
	}
	ha, hb := HeadState(a.Head), HeadState(b.Head)
	for i := range ha {
		for k := range ha[i].Data {
			if ha[i].Data[k] != hb[i].Data[k] {
				t.Fatalf("%s differs", ha[i].Name)
			}
		}
	}
}

// readGoldenKeys reads the reference's Delta-DINO state_dict names and
// shapes from the delta_dino golden case.
func readGoldenKeys(dst *map[string][]int) error {
	b, err := os.ReadFile(filepath.Join("testdata", "golden", "delta_dino", "case.json"))
	if err != nil {
		return err
	}
	var c struct {
		Keys map[string][]int `json:"state_dict_keys_and_shapes"`
	}
	if err := jsonUnmarshal(b, &c); err != nil {
		return err
	}
	if len(c.Keys) == 0 {
		return errors.New("golden case lists no keys")
	}
	*dst = c.Keys
	return nil
}

// TestCheckpointContents: a checkpoint holds the documented tensors and
// metadata.
func TestCheckpointContents(t *testing.T) {
	v := texturedVideo(t, 3, 56, 42, 1, 1)
	masks := boxMasks(t, 3, 56, 42)
	dir := t.TempDir()
	cfg := tinyConfig(2)
	cfg.CheckpointEvery = 1
	cfg.KeepCheckpoints = 1
	tr, _ := NewTracker(cfg, WithWorkDir(dir), WithMasks(masks), WithLogger(discardLogger()))
	if err := tr.Fit(context.Background(), v); err != nil {
		t.Fatal(err)
	}
	ps, its := checkpoints(filepath.Join(dir, "checkpoints"))
	if len(ps) != 1 || its[0] != 2 {
		t.Fatalf("checkpoints kept: %v", its)
	}
	f, err := safetensors.ReadFile(ps[0])
	if err != nil {
		t.Fatal(err)
	}
	for _, k := range []string{"iteration", "scheduler_step", "adam_step_delta_dino", "adam_step_tracker_head", "num_batches_tracked", "sampler_state", "fingerprint", "config"} {
		if f.Metadata[k] == "" {
			t.Errorf("metadata %s missing", k)
		}
	}
	for _, k := range []string{"delta_dino/layers.13.running_var", "tracker_head/cnn_refiner.2.bias", "adam/delta_dino/exp_avg_sq/layers.12.weight", "adam/tracker_head/exp_avg/cnn_refiner.0.weight"} {
		if f.Tensors[k] == nil {
			t.Errorf("tensor %s missing", k)
		}
	}
	if f.Metadata["iteration"] != "2" || f.Metadata["num_batches_tracked"] != "[2,2,2,2]" {
		t.Errorf("metadata %v", f.Metadata)
	}
}

func discardLogger() *slog.Logger { return slog.New(slog.NewTextHandler(io.Discard, nil)) }

func jsonUnmarshal(b []byte, v any) error { return json.Unmarshal(b, v) }
