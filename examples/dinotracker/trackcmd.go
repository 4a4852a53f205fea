package main

import (
	"context"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"time"

	"dinotracker"
	"dinotracker/fgmask"
)

// runTrack tracks query points with a fitted model folder.
func runTrack(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	fs := flag.NewFlagSet("track", flag.ContinueOnError)
	fs.SetOutput(stderr)
	model := fs.String("model", "", "model folder written by fit -out")
	queries := fs.String("queries", "", "query points: JSON [{\"x\":..,\"y\":..,\"t\":..}, ...] or [[x,y,t], ...], or CSV with header x,y,t (input-frame pixels)")
	grid := fs.Int("grid", 0, "track a grid of points every STEP pixels (input-frame pixels, from 0) instead of -queries")
	mask := fs.String("mask", "", "with -grid: keep only grid points on this mask image (nonzero = keep; resized to the frame size)")
	frame := fs.Int("frame", 0, "with -grid: the query frame")
	video := fs.String("video", "", "the fitted video (default: the path recorded in MODEL/fit.json)")
	weights := fs.String("weights", "builtin", "the DINOv2 weights the model was fitted with, or \"builtin\"")
	noOcc := fs.Bool("no-occlusion", false, "skip the anchor back-projections: occluded only when the similarity is below 0.6 (much faster)")
	anchorCos := fs.Float64("anchor-cos", 0.7, "similarity from which a frame is an anchor of the occlusion rule")
	cosThr := fs.Float64("cos", 0.6, "similarity below which a point is occluded")
	maxAnchors := fs.Int("max-anchors", 0, "back-project into at most this many anchor frames per query (0: all, as the reference; fewer is faster and approximate)")
	out := fs.String("out", "", "output tracks: .json, .csv or .npy (float32 [N,T,4]: x, y, occluded, confidence)")
	quiet := fs.Bool("q", false, "no progress bar")
	if err := fs.Parse(args); err != nil {
		return errUsage
	}
	if *model == "" || *out == "" || (*queries == "") == (*grid == 0) {
		fmt.Fprintln(stderr, "track needs -model, -out and one of -queries or -grid")
		fs.Usage()
		return errUsage
	}
	if *maxAnchors < 0 {
		fmt.Fprintln(stderr, "-max-anchors must be 0 (every anchor) or positive")
		return errUsage
	}
	if *grid < 0 || *frame < 0 {
		fmt.Fprintln(stderr, "-grid and -frame must be positive")
		return errUsage
	}
	opts := []dinotracker.Option{dinotracker.WithLogger(slog.Default()),
		dinotracker.WithTrackOptions(dinotracker.TrackOptions{Occlusion: dinotracker.OcclusionSettings{AnchorCos: *anchorCos, Cos: *cosThr, Skip: *noOcc, MaxAnchors: *maxAnchors}})}
	in := inputFlags{weights: weights, heads: new(int)}
	ext, err := in.extractor()
	if err != nil {
		return err
	}
	if ext != nil {
		opts = append(opts, dinotracker.WithFeatureExtractor(ext))
	}
	if !*quiet {
		bar := newProgressBar(stderr)
		opts = append(opts, dinotracker.WithProgress(bar.Report))
	}
	var v *dinotracker.Video
	if *video != "" {
		if v, err = dinotracker.LoadVideo(ctx, *video); err != nil {
			return err
		}
	}
	start := time.Now()
	tr, err := dinotracker.LoadTracker(ctx, *model, v, opts...)
	if err != nil {
		return err
	}
	defer tr.Close()
	w, h, T := tr.VideoSize()
	var qs []dinotracker.Query
	if *queries != "" {
		if qs, err = dinotracker.ReadQueriesFile(*queries); err != nil {
			return err
		}
	} else {
		if *frame >= T {
			return fmt.Errorf("-frame %d: the video has %d frames", *frame, T)
		}
		var m []uint8
		if *mask != "" {
			if m, err = fgmask.LoadFile(*mask, w, h); err != nil {
				return err
			}
		}
		if qs, err = dinotracker.GridQueries(w, h, *grid, *frame, m); err != nil {
			return err
		}
		if len(qs) == 0 {
			return fmt.Errorf("the grid has no point on the mask %s", *mask)
		}
	}
	tracks, err := tr.Track(ctx, qs)
	if err != nil {
		return err
	}
	if err := tracks.WriteFile(*out); err != nil {
		return err
	}
	occ, n := 0, 0
	for i := range tracks.Occluded {
		for _, o := range tracks.Occluded[i] {
			if o {
				occ++
			}
			n++
		}
	}
	fmt.Fprintf(stdout, "tracked %d points through %d frames (%dx%d) in %.1f s; %.1f%% of points occluded; wrote %s\n",
		len(qs), T, w, h, time.Since(start).Seconds(), 100*float64(occ)/float64(max(n, 1)), *out)
	return nil
}
