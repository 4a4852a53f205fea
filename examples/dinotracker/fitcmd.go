package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"path/filepath"
	"strconv"
	"strings"
	"time"

	"dinotracker"
)

// runFit trains DINO-Tracker on one video into a model folder.
func runFit(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	fs := flag.NewFlagSet("fit", flag.ContinueOnError)
	fs.SetOutput(stderr)
	in := addInputFlags(fs)
	layer := fs.String("layer", "", "DINOv2 block whose output is the feature, -1 for the last (default: the configuration's, 15)")
	config := fs.String("config", "fast", "training configuration: paper (the reference's, 10000 iterations at 476x854) or fast (about 30 min on 2 cores for 50 frames)")
	iters := fs.Int("iters", 0, "train this many iterations, with the schedule (loss switch-on, lr decay, checkpoints) scaled to the same fractions (default: the configuration's)")
	size := fs.String("size", "", "model resolution HxW, multiples of 14 (default: the configuration's)")
	ckEvery := fs.Int("checkpoint-every", -1, "write a checkpoint every N iterations (default: the configuration's)")
	out := fs.String("out", "", "model folder: preprocessing, checkpoints, final weights; a later fit with the same folder resumes")
	quiet := fs.Bool("q", false, "no progress bar")
	if err := fs.Parse(args); err != nil {
		return errUsage
	}
	if *in.video == "" || *out == "" {
		fmt.Fprintln(stderr, "fit needs -video and -out")
		fs.Usage()
		return errUsage
	}
	var cfg dinotracker.Config
	switch strings.ToLower(*config) {
	case "paper":
		cfg = dinotracker.PaperConfig()
	case "fast":
		cfg = dinotracker.FastConfig()
	default:
		fmt.Fprintf(stderr, "-config %q: want paper or fast\n", *config)
		return errUsage
	}
	if *iters < 0 {
		fmt.Fprintf(stderr, "-iters %d: want a positive count\n", *iters)
		return errUsage
	}
	if *iters > 0 {
		cfg = cfg.Scaled(*iters)
	}
	if *size != "" {
		h, w, err := parseSize(*size)
		if err != nil {
			fmt.Fprintln(stderr, err)
			return errUsage
		}
		cfg.Height, cfg.Width = h, w
	}
	if *layer != "" {
		b, err := strconv.Atoi(*layer)
		if err != nil || b < -1 {
			fmt.Fprintf(stderr, "-layer %q: want a block index or -1\n", *layer)
			return errUsage
		}
		cfg.FeatureBlock = b
	}
	if *ckEvery >= 0 {
		cfg.CheckpointEvery = *ckEvery
	}
	logger := slog.Default()
	opts := []dinotracker.Option{dinotracker.WithWorkDir(*out), dinotracker.WithMasks(*in.masks), dinotracker.WithFlowDir(*in.flowDir),
		dinotracker.WithLogger(logger), dinotracker.WithVideoSource(*in.video)}
	ext, err := in.extractor()
	if err != nil {
		return err
	}
	if ext != nil {
		opts = append(opts, dinotracker.WithFeatureExtractor(ext))
	}
	if !*quiet {
		opts = append(opts, fitProgressOptions(stderr)...)
	}
	tr, err := dinotracker.NewTracker(cfg, opts...)
	if err != nil {
		fmt.Fprintln(stderr, err)
		return errUsage
	}
	v, err := dinotracker.LoadVideo(ctx, *in.video)
	if err != nil {
		return err
	}
	if err := tr.Fit(ctx, v); err != nil {
		if errors.Is(err, context.Canceled) {
			fmt.Fprintf(stderr, "\nfit: interrupted; the training state is saved in %s; run the same command to resume\n",
				filepath.Join(*out, "checkpoints"))
		}
		return err
	}
	s := tr.Summary()
	resumed := ""
	if s.ResumedFrom > 0 {
		resumed = fmt.Sprintf(" (resumed from iteration %d)", s.ResumedFrom)
	}
	fmt.Fprintf(stdout, "fitted %d iterations%s on %d frames at %dx%d with %s features (%d channels), config %s: flow loss %.5f → %.5f, %.2f s/iteration; model in %s (%s, %s)\n",
		s.Iterations, resumed, s.Frames, s.Height, s.Width, s.Extractor, s.Channels, s.Config, s.FlowLossFirst, s.FlowLossLast,
		s.SecondsPerIter, *out, dinotracker.DeltaDINOFile, dinotracker.TrackerHeadFile)
	if s.Extractor == dinotracker.BuiltinExtractorName {
		fmt.Fprintln(stdout, "note: trained on the built-in descriptors, not DINOv2 (pass -weights for DINOv2 features)")
	}
	return nil
}

// fitBar renders training progress: iteration, losses, time per iteration
// and ETA on one line (carriage return), at most 5 times a second.
type fitBar struct {
	w     io.Writer
	width int
	last  time.Time
}

// Report draws the bar for one training progress report.
func (b *fitBar) Report(p dinotracker.FitProgress) {
	done := p.Iteration >= p.Iterations
	if !done && time.Since(b.last) < 200*time.Millisecond {
		return
	}
	b.last = time.Now()
	frac := float64(p.Iteration) / float64(max(p.Iterations, 1))
	n := int(frac * float64(b.width))
	bar := strings.Repeat("=", n)
	if n < b.width {
		bar += ">" + strings.Repeat(" ", b.width-n-1)
	}
	l := p.Losses
	extra := ""
	if l.CycleOn {
		extra += fmt.Sprintf(" cyc %.3g", l.Cycle)
	}
	if l.RefinedBBOn {
		extra += fmt.Sprintf(" rbb %.3g", l.RefinedBB)
	}
	if l.DinoBB != 0 {
		extra += fmt.Sprintf(" dbb %.3g", l.DinoBB)
	}
	eta := "--"
	if !done {
		eta = p.ETA.Round(time.Second).String()
	}
	fmt.Fprintf(b.w, "\rfit %6d/%-6d [%s] %3.0f%%  flow %.5f%s total %.5f  %.2fs/it  ETA %s ", p.Iteration, p.Iterations, bar, 100*frac,
		l.Flow, extra, l.Total, p.IterTime.Seconds(), eta)
	if done {
		fmt.Fprintln(b.w)
	}
}
