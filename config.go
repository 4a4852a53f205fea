package dinotracker

import (
	"errors"
	"fmt"
	"math"

	"dinotracker/bestbuddies"
	"dinotracker/flow"
	"dinotracker/traj"
)

// Config holds every setting of Fit: the model resolution, the features,
// preprocessing, the flow sampler, the optimiser and its schedule, the
// losses, the Delta-DINO architecture, seeds and checkpointing (spec §4,
// §7.2). Start from PaperConfig or FastConfig and change fields; Validate
// reports what is wrong with a hand-made one.
type Config struct {
	// Name labels the configuration in logs and checkpoints ("paper",
	// "fast", or anything).
	Name string

	// Iterations is total_iterations (10 000 in the paper).
	Iterations int

	// Height and Width are the model resolution, positive multiples of 14
	// and at least MinModelSize (476×854 in the paper). Zero means the frame
	// size times Scale, rounded down to multiples of 14.
	Height, Width int
	// Scale is applied to the frame size when Height and Width are zero (1
	// means the frame size itself; FastConfig uses 0.5).
	Scale float64

	// FeatureStride is the ViT patch-embedding stride (7: the tracker head's
	// coordinate maths assumes it, so it is the only value accepted).
	FeatureStride int
	// FeatureBlock is the 0-based DINOv2 block whose output is the feature
	// (15 of ViT-L/14; ignored by the built-in extractor).
	FeatureBlock int

	// DirectFilter enables the reference's direct-flow filter of the
	// trajectories in preprocessing (O(T²) extra flow estimates; see
	// PreprocessOptions.DirectFilter).
	DirectFilter bool
	// Flow and DirectFlow set the optical-flow estimator for consecutive
	// frames and for the direct pairs.
	Flow, DirectFlow flow.Options
	// Trajectories sets the chaining of the flows (thresholds, minimum
	// length).
	Trajectories traj.Options

	// BestBuddies configures the DINO best-buddies of preprocessing, which
	// the DINO-BB loss uses; SkipBestBuddies leaves them out (the loss is
	// then 0).
	BestBuddies     bestbuddies.Options
	SkipBestBuddies bool

	// Sampler sets the flow-pair sampler: train_batch_size (512),
	// fg_traj_ratio (0.5), batch_n_frames (4).
	Sampler SamplerConfig

	// LRDelta and LRHead are the Adam learning rates of the Delta-DINO and
	// the tracker-head parameter groups (lr_delta_dino, lr_cnn_refiner:
	// 0.01 both).
	LRDelta, LRHead float64
	// Beta1, Beta2 and Eps are Adam's constants (PyTorch's defaults 0.9,
	// 0.999, 1e-8; no weight decay).
	Beta1, Beta2, Eps float64
	// SchedulerGamma and SchedulerEvery define the LambdaLR factor
	// SchedulerGamma^⌊k/SchedulerEvery⌋ applied to the Delta-DINO group
	// only, k counting the optimiser steps done (scheduler_gamma 0.999,
	// apply_scheduler_every 40). The head's rate stays constant.
	SchedulerGamma float64
	SchedulerEvery int

	// Loss holds the loss weights and constants, including the iterations
	// at which the cycle-consistency and refined best-buddy losses switch
	// on (Loss.CycAfter, Loss.RefinedBBAfter: 5000).
	Loss LossConfig

	// DeltaWidths are the hidden channel counts of Delta-DINO's first three
	// stages (64, 128, 256 in the reference). The output width always
	// equals the feature channels (1024 for ViT-L/14, 294 for the built-in
	// extractor).
	DeltaWidths [3]int
	// ChunkFrames bounds the frames that go through Delta-DINO in one
	// forward (8, as the reference): BatchNorm takes its batch statistics
	// over one chunk.
	ChunkFrames int

	// Seed seeds the Delta-DINO and refiner initialisation and the sampler,
	// whose generator also draws every random choice of the losses (2, the
	// reference's --seed default).
	Seed uint64

	// CheckpointEvery writes a checkpoint every that many iterations
	// (checkpoint_interval, 2500); one is also written at the end and when
	// Fit is cancelled. Zero writes only those two.
	CheckpointEvery int
	// KeepCheckpoints is how many of the latest checkpoints to keep in the
	// work folder (older ones are deleted after a new one is written); 0
	// keeps all.
	KeepCheckpoints int
}

// MinModelSize is the smallest model height or width Fit accepts: Delta-DINO
// halves the frame three times and its last 5×5 convolution (dilation 2)
// reflect-pads by 4, which needs at least 5 rows and columns there.
const MinModelSize = 42

// PaperConfig returns the reference's training configuration exactly
// (config/train.yaml, spec §4 and §7.2): 10 000 iterations at 476×854,
// 512 flow points a batch (half foreground) from 4 frames per set, Adam
// with lr 0.01 for both groups, Delta-DINO's rate decayed by 0.999 every
// 40 iterations, the refined losses on from iteration 5000, ViT features
// of block 15 at stride 7, Delta-DINO widths 64/128/256, chunks of 8
// frames, seed 2, checkpoints every 2500 iterations. Preprocessing uses the
// direct-flow filter and searches the best-buddies of every frame pair
// (bestbuddies.ExhaustiveOptions), as the reference does; both are O(T²).
//
// On a CPU this is slow: one iteration refines up to 8 frames at 476×854
// through Delta-DINO forward and backward (about 0.5 TFLOP a frame with
// ViT-L features), about a minute or more on 2 cores; see BENCHMARKS.md.
func PaperConfig() Config {
	return Config{
		Name:            "paper",
		Iterations:      10000,
		Height:          476,
		Width:           854,
		Scale:           1,
		FeatureStride:   7,
		FeatureBlock:    15,
		DirectFilter:    true,
		Flow:            flow.DefaultOptions(),
		DirectFlow:      flow.FastOptions(),
		Trajectories:    traj.DefaultOptions(),
		BestBuddies:     bestbuddies.ExhaustiveOptions(),
		Sampler:         DefaultSamplerConfig(),
		LRDelta:         0.01,
		LRHead:          0.01,
		Beta1:           0.9,
		Beta2:           0.999,
		Eps:             1e-8,
		SchedulerGamma:  0.999,
		SchedulerEvery:  40,
		Loss:            DefaultLossConfig(),
		DeltaWidths:     [3]int{64, 128, 256},
		ChunkFrames:     8,
		Seed:            2,
		CheckpointEvery: 2500,
		KeepCheckpoints: 2,
	}
}

// FastConfig returns a configuration that fits a 50-frame 854×480 clip with
// the built-in features on 2 CPU cores in under 30 minutes, preprocessing
// included. What it changes from PaperConfig, and what each change costs:
//
//   - Resolution: half the frame size (Scale 0.5: 238×420 for 854×480
//     DAVIS frames), a 33×59 token grid instead of 67×121. Delta-DINO and
//     the cost volumes cost 4× less; tracks are quantised twice as coarsely
//     in the frame.
//   - No direct-flow filter, the fast flow preset and the bounded
//     best-buddy search (16 partners a frame instead of all T−1):
//     preprocessing takes ~30 s instead of tens of minutes; the training
//     trajectories are a little noisier (the filter removes drifting
//     chains) and the DINO-BB loss sees fewer frame pairs.
//   - Delta-DINO widths 32/64/128 instead of 64/128/256: ~4× fewer FLOPs
//     in the hidden stages; the residual has less capacity.
//   - 2 frames per set instead of 4 (up to 4 frames refined per iteration
//     instead of 8) and 256 flow points instead of 512: an iteration costs
//     about half; each one sees fewer frame pairs.
//   - 500 iterations instead of 10 000, with the schedule scaled to the
//     same fractions (see Scaled): the refined losses switch on at 250,
//     Delta-DINO's rate decays to the same 0.78 of its start.
//
// Measured on the 2-core development machine (shared, load ≈ 2) on
// DAVIS horsejump, 50 frames: 29 s of preprocessing, 2.1 s an iteration
// (1.8 s before the switch-on, ~2.4 s after), 18 min 17 s for the whole
// Fit, 1.3 GB peak memory; the iteration count leaves ~40% margin for a
// busier machine.
func FastConfig() Config {
	c := PaperConfig()
	c.Name = "fast"
	c.Height, c.Width, c.Scale = 0, 0, 0.5
	c.DirectFilter = false
	c.Flow = flow.FastOptions()
	c.BestBuddies = bestbuddies.DefaultOptions()
	c.DeltaWidths = [3]int{32, 64, 128}
	c.Sampler.NumFrames = 2
	c.Sampler.BatchSize = 256
	c.KeepCheckpoints = 2
	return c.Scaled(500)
}

// Scaled returns c with Iterations set to n and the iteration-based
// schedule moved to the same fractions of the run: the switch-on of the
// cycle and refined best-buddy losses (5000 of 10 000 → n/2), the
// scheduler period (at least 1; SchedulerGamma is adjusted when rounding
// changes the number of decay steps, so that the Delta-DINO rate decays to
// the same final factor) and the checkpoint interval (at least 1). Use it to train longer
// or shorter than a configuration's Iterations with the same shape of
// schedule; setting Iterations alone keeps the absolute iterations.
func (c Config) Scaled(n int) Config {
	old := c.Iterations
	c.Iterations = n
	if old <= 0 || n <= 0 || old == n {
		return c
	}
	f := float64(n) / float64(old)
	sc := func(v int) int { return int(math.Round(float64(v) * f)) }
	c.Loss.CycAfter = sc(c.Loss.CycAfter)
	c.Loss.RefinedBBAfter = sc(c.Loss.RefinedBBAfter)
	if every := c.SchedulerEvery; every > 0 {
		c.SchedulerEvery = max(1, sc(every))
		// Keep the final factor gamma^⌊old/every⌋ when rounding changed the
		// number of decay steps.
		if k0, k1 := old/every, n/c.SchedulerEvery; k0 != k1 && k1 > 0 {
			c.SchedulerGamma = math.Pow(c.SchedulerGamma, float64(k0)/float64(k1))
		}
	}
	if c.CheckpointEvery > 0 {
		c.CheckpointEvery = max(1, sc(c.CheckpointEvery))
	}
	return c
}

// ErrBadConfig is wrapped by the errors of Config.Validate.
var ErrBadConfig = errors.New("invalid training configuration")

// Validate reports the first setting that Fit cannot use.
func (c Config) Validate() error {
	bad := func(format string, args ...any) error {
		return fmt.Errorf("dinotracker: %w: %s", ErrBadConfig, fmt.Sprintf(format, args...))
	}
	switch {
	case c.Iterations < 1:
		return bad("Iterations is %d, want ≥ 1", c.Iterations)
	case (c.Height == 0) != (c.Width == 0):
		return bad("set both Height and Width, or neither (got %d×%d)", c.Height, c.Width)
	case c.Height != 0 && (c.Height%14 != 0 || c.Width%14 != 0 || c.Height < MinModelSize || c.Width < MinModelSize):
		return bad("model resolution %d×%d: height and width must be multiples of 14 and at least %d", c.Height, c.Width, MinModelSize)
	case c.Height == 0 && !(c.Scale > 0):
		return bad("Scale is %g; with Height and Width zero it must be > 0", c.Scale)
	case c.FeatureStride != 7:
		return bad("FeatureStride is %d; the tracker's coordinate maths supports only stride 7", c.FeatureStride)
	case c.Sampler.BatchSize < 1 || !(c.Sampler.FGRatio >= 0 && c.Sampler.FGRatio <= 1) || c.Sampler.NumFrames < 2 || c.Sampler.MaxDraws < 1:
		return bad("sampler %+v: need BatchSize ≥ 1, 0 ≤ FGRatio ≤ 1, NumFrames ≥ 2, MaxDraws ≥ 1", c.Sampler)
	case !(c.LRDelta >= 0) || !(c.LRHead >= 0) || math.IsInf(c.LRDelta, 0) || math.IsInf(c.LRHead, 0):
		return bad("learning rates %g and %g must be finite and ≥ 0", c.LRDelta, c.LRHead)
	case !(c.Beta1 >= 0 && c.Beta1 < 1) || !(c.Beta2 >= 0 && c.Beta2 < 1) || !(c.Eps > 0):
		return bad("Adam betas (%g, %g) must lie in [0, 1) and eps (%g) be > 0", c.Beta1, c.Beta2, c.Eps)
	case !(c.SchedulerGamma > 0 && c.SchedulerGamma <= 1) || c.SchedulerEvery < 1:
		return bad("scheduler gamma %g every %d: need 0 < gamma ≤ 1 and every ≥ 1", c.SchedulerGamma, c.SchedulerEvery)
	case c.DeltaWidths[0] < 1 || c.DeltaWidths[1] < 1 || c.DeltaWidths[2] < 1:
		return bad("DeltaWidths %v must be positive", c.DeltaWidths)
	case c.ChunkFrames < 1:
		return bad("ChunkFrames is %d, want ≥ 1", c.ChunkFrames)
	case c.CheckpointEvery < 0 || c.KeepCheckpoints < 0:
		return bad("CheckpointEvery %d and KeepCheckpoints %d must be ≥ 0", c.CheckpointEvery, c.KeepCheckpoints)
	case c.Loss.FlowDelta <= 0 || c.Loss.CLTemp <= 0 || c.Loss.CLPairs < 0 || c.Loss.CycPairs < 0 || c.Loss.DinoBBDiv <= 0 || c.Loss.RefinedBBDiv <= 0:
		return bad("loss constants %+v: Huber δ, InfoNCE temperature and divisors must be > 0, pair counts ≥ 0", c.Loss)
	}
	return nil
}

// modelSize returns the model resolution for frames of size fh×fw.
func (c Config) modelSize(fh, fw int) (h, w int, err error) {
	if c.Height > 0 {
		return c.Height, c.Width, nil
	}
	h = int(math.Floor(float64(fh)*c.Scale/14)) * 14
	w = int(math.Floor(float64(fw)*c.Scale/14)) * 14
	if h < MinModelSize || w < MinModelSize {
		return 0, 0, fmt.Errorf("dinotracker: %w: frames of %d×%d at scale %g give a %d×%d model resolution; it must be at least %d×%d (multiples of 14)",
			ErrBadConfig, fh, fw, c.Scale, h, w, MinModelSize, MinModelSize)
	}
	return h, w, nil
}

// lrFactor is the LambdaLR factor of the Delta-DINO group after k scheduler
// steps: SchedulerGamma^⌊k/SchedulerEvery⌋ (upstream
// get_cnn_refiner_scheduler, computed in float64 as Python does).
func (c Config) lrFactor(k int) float64 {
	return math.Pow(c.SchedulerGamma, float64(k/c.SchedulerEvery))
}
