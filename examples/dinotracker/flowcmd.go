package main

import (
	"context"
	"flag"
	"fmt"
	"io"
	"strings"
	"time"

	"dinotracker"
	"dinotracker/flow"
)

// runFlow estimates the optical flow from frame A to frame B and writes it
// as a Middlebury .flo file; with -gt it also prints the end-point error
// against a ground-truth .flo (or KITTI .png) file.
func runFlow(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	fs := flag.NewFlagSet("flow", flag.ContinueOnError)
	fs.SetOutput(stderr)
	a := fs.String("a", "", "first frame (JPG, PNG or PPM)")
	b := fs.String("b", "", "second frame, same size")
	out := fs.String("out", "", "output flow file (.flo, Middlebury; .png writes KITTI 16-bit)")
	preset := fs.String("preset", "default", "accuracy/speed preset: fast, default or accurate")
	gt := fs.String("gt", "", "optional ground-truth flow (.flo or KITTI .png): print the end-point error")
	if err := fs.Parse(args); err != nil {
		return errUsage
	}
	if *a == "" || *b == "" || *out == "" {
		fmt.Fprintln(stderr, "flow needs -a, -b and -out")
		fs.Usage()
		return errUsage
	}
	opt, err := flowPreset(*preset)
	if err != nil {
		fmt.Fprintf(stderr, "-preset %v\n", err)
		return errUsage
	}
	fa, err := dinotracker.LoadFrame(*a)
	if err != nil {
		return err
	}
	fb, err := dinotracker.LoadFrame(*b)
	if err != nil {
		return err
	}
	start := time.Now()
	f, err := flow.Estimate(ctx, fa, fb, opt)
	if err != nil {
		return err
	}
	elapsed := time.Since(start)
	if strings.HasSuffix(strings.ToLower(*out), ".png") {
		err = flow.WriteKITTI(*out, f)
	} else {
		err = flow.WriteFlo(*out, f)
	}
	if err != nil {
		return err
	}
	fmt.Fprintf(stdout, "wrote %s: %dx%d flow, preset %s, %.3f s\n", *out, f.W, f.H, *preset, elapsed.Seconds())
	if *gt != "" {
		var g *flow.Field
		if strings.HasSuffix(strings.ToLower(*gt), ".png") {
			g, err = flow.ReadKITTI(*gt)
		} else {
			g, err = flow.ReadFlo(*gt)
		}
		if err != nil {
			return err
		}
		if g.W != f.W || g.H != f.H {
			return fmt.Errorf("ground truth %s is %dx%d but the frames are %dx%d", *gt, g.W, g.H, f.W, f.H)
		}
		epe, n := flow.EPE(f, g)
		fmt.Fprintf(stdout, "end-point error %.4f px over %d known pixels\n", epe, n)
	}
	return nil
}
