package main

import (
	"context"
	"flag"
	"fmt"
	"io"

	"dinotracker"
	"dinotracker/bestbuddies"
)

// runPreprocess runs DINO-Tracker's preprocessing of one video into a folder.
func runPreprocess(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	fs := flag.NewFlagSet("preprocess", flag.ContinueOnError)
	fs.SetOutput(stderr)
	in := addInputFlags(fs)
	size := fs.String("size", "", "model resolution HxW, multiples of 14 (default: frame size rounded down; the paper uses 476x854)")
	layer := fs.Int("layer", 15, "DINOv2 block whose output is the feature")
	direct := fs.Bool("direct", true, "filter trajectories with direct flows (O(T²) extra flow estimates)")
	preset := fs.String("flow-preset", "default", "flow estimator preset for consecutive frames: fast, default or accurate")
	bb := fs.String("bb", "bounded", "DINO best-buddies: bounded (16 partner frames per frame, reduced-dimension search), exhaustive (all T(T−1) pairs, as the reference) or off")
	out := fs.String("out", "", "output folder")
	quiet := fs.Bool("q", false, "no progress bar")
	if err := fs.Parse(args); err != nil {
		return errUsage
	}
	if *in.video == "" || *out == "" {
		fmt.Fprintln(stderr, "preprocess needs -video and -out")
		fs.Usage()
		return errUsage
	}
	h, w, err := parseSize(*size)
	if err != nil {
		fmt.Fprintln(stderr, err)
		return errUsage
	}
	opt := dinotracker.DefaultPreprocessOptions()
	opt.Height, opt.Width = h, w
	opt.MaskDir, opt.FlowDir, opt.DirectFilter = *in.masks, *in.flowDir, *direct
	opt.Features.Block = *layer
	if opt.Flow, err = flowPreset(*preset); err != nil {
		fmt.Fprintf(stderr, "-flow-preset %v\n", err)
		return errUsage
	}
	switch *bb {
	case "bounded":
	case "exhaustive":
		opt.BestBuddies = bestbuddies.ExhaustiveOptions()
	case "off":
		opt.SkipBestBuddies = true
	default:
		fmt.Fprintf(stderr, "-bb %q: want bounded, exhaustive or off\n", *bb)
		return errUsage
	}
	if opt.Extractor, err = in.extractor(); err != nil {
		return err
	}
	if !*quiet {
		opt.Progress = newProgressBar(stderr).Report
	}
	v, err := dinotracker.LoadVideo(ctx, *in.video)
	if err != nil {
		return err
	}
	p, err := dinotracker.Preprocess(ctx, v, *out, opt)
	if err != nil {
		return err
	}
	defer p.Close()
	fmt.Fprintf(stdout, "preprocessed %d frames at %dx%d into %s: features %s [%d,%d,%d,%d], %d trajectories (%d fg, %d bg; %d without the direct filter), masks cover %.1f%%, %d best-buddy pairs\n",
		p.T, p.H, p.W, *out, p.Features.Model, p.T, p.Features.C, p.Features.H, p.Features.W,
		p.Trajectories.N(), p.FG.N(), p.BG.N(), p.NoDirectFilter.N(), 100*p.Masks.Fraction(), bbCount(p))
	return nil
}

func bbCount(p *dinotracker.Preprocessed) int {
	n := 0
	for _, l := range p.BBLists() {
		n += l.Len()
	}
	return n
}
