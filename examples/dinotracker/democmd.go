package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"image"
	"io"
	"log/slog"
	"os"
	"path/filepath"
	"time"

	"dinotracker"
	"dinotracker/fgmask"
	"dinotracker/render"
)

// demoClip is the bundled clip, relative to the repository root: 24 frames
// of DAVIS horsejump-high at 427×240 with their masks (testdata/README.md).
const demoClip = "testdata/demo/horsejump-24f"

// demoIterations is the demo's training length: FastConfig's schedule
// scaled to it (the refined losses switch on halfway).
const demoIterations = 60

// runDemo fits the bundled clip with the built-in features, tracks a grid
// on the foreground of the first frame and writes tracks.json and a GIF.
func runDemo(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	fs := flag.NewFlagSet("demo", flag.ContinueOnError)
	fs.SetOutput(stderr)
	out := fs.String("out", "out", "output folder: tracks.json, tracks.gif and the model (model/)")
	video := fs.String("video", "", "frames to use instead of the bundled clip (folder or movie)")
	masks := fs.String("masks", "", "with -video: its mask folder (the grid is placed on the first mask)")
	iters := fs.Int("iters", demoIterations, "training iterations")
	step := fs.Int("grid", 0, "grid step in input pixels (default: a fortieth of the frame width)")
	quiet := fs.Bool("q", false, "no progress bar")
	if err := fs.Parse(args); err != nil {
		return errUsage
	}
	if *iters < 1 {
		fmt.Fprintln(stderr, "-iters must be positive")
		return errUsage
	}
	if *video == "" {
		root, err := findUp(demoClip)
		if err != nil {
			return fmt.Errorf("the bundled clip %s was not found from the current folder (run the demo from the repository, or pass -video and -masks): %w", demoClip, err)
		}
		*video, *masks = filepath.Join(root, "video"), filepath.Join(root, "masks")
	}
	start := time.Now()
	v, err := dinotracker.LoadVideo(ctx, *video)
	if err != nil {
		return err
	}
	cfg := dinotracker.FastConfig().Scaled(*iters)
	cfg.Scale = 1 // the bundled clip is already small (427×240 → 238×420)
	if v.Width > 600 {
		cfg.Scale = 0.5
	}
	cfg.CheckpointEvery = 0
	modelDir := filepath.Join(*out, "model")
	opts := []dinotracker.Option{dinotracker.WithWorkDir(modelDir), dinotracker.WithMasks(*masks),
		dinotracker.WithLogger(slog.Default()), dinotracker.WithVideoSource(*video)}
	if !*quiet {
		opts = append(opts, fitProgressOptions(stderr)...)
	}
	tr, err := dinotracker.NewTracker(cfg, opts...)
	if err != nil {
		return err
	}
	defer tr.Close()
	fmt.Fprintf(stdout, "demo: fitting %d frames of %dx%d from %s (%d iterations, built-in features, fast configuration)\n",
		v.Len(), v.Width, v.Height, *video, cfg.Iterations)
	if err := tr.Fit(ctx, v); err != nil {
		if errors.Is(err, context.Canceled) {
			fmt.Fprintf(stderr, "\ndemo: interrupted; run it again to resume from %s\n", modelDir)
		}
		return err
	}
	fitted := time.Since(start)

	// A grid on the foreground of frame 0.
	g := *step
	if g <= 0 {
		g = max(4, v.Width/40)
	}
	var mask []uint8
	if *masks != "" {
		first, err := firstMask(*masks)
		if err != nil {
			return err
		}
		if mask, err = fgmask.LoadFile(first, v.Width, v.Height); err != nil {
			return err
		}
	}
	qs, err := dinotracker.GridQueries(v.Width, v.Height, g, 0, mask)
	if err != nil {
		return err
	}
	if len(qs) == 0 {
		return fmt.Errorf("the first mask has no foreground on a %d-pixel grid", g)
	}
	t0 := time.Now()
	tracks, err := tr.Track(ctx, qs)
	if err != nil {
		return err
	}
	trackTime := time.Since(t0)
	if err := os.MkdirAll(*out, 0o755); err != nil {
		return err
	}
	jsonPath := filepath.Join(*out, "tracks.json")
	if err := tracks.WriteFile(jsonPath); err != nil {
		return err
	}
	frames := make([]image.Image, v.Len())
	for t := range frames {
		frames[t] = v.FrameImage(t)
	}
	imgs, err := render.Frames(frames, tracks, render.Options{})
	if err != nil {
		return err
	}
	gifPath := filepath.Join(*out, "tracks.gif")
	if err := render.WriteFile(ctx, gifPath, imgs, 8); err != nil {
		return err
	}
	occ := 0
	for i := range tracks.Occluded {
		for _, o := range tracks.Occluded[i] {
			if o {
				occ++
			}
		}
	}
	s := tr.Summary()
	fmt.Fprintf(stdout, "demo: fit %.0f s (preprocessing %.0f s, %.2f s/iteration, flow loss %.5f → %.5f); tracked %d foreground points through %d frames in %.1f s (%.0f%% occluded)\n",
		fitted.Seconds(), s.PreprocessSeconds, s.SecondsPerIter, s.FlowLossFirst, s.FlowLossLast, len(qs), v.Len(), trackTime.Seconds(),
		100*float64(occ)/float64(len(qs)*v.Len()))
	fmt.Fprintf(stdout, "demo: wrote %s and %s in %.0f s; the model is in %s (track more points with: dinotracker track -model %s -grid 5 -out more.json)\n",
		jsonPath, gifPath, time.Since(start).Seconds(), modelDir, modelDir)
	return nil
}

// findUp looks for rel in the current folder and its parents.
func findUp(rel string) (string, error) {
	dir, err := os.Getwd()
	if err != nil {
		return "", err
	}
	for {
		p := filepath.Join(dir, rel)
		if st, err := os.Stat(p); err == nil && st.IsDir() {
			return p, nil
		}
		parent := filepath.Dir(dir)
		if parent == dir {
			return "", os.ErrNotExist
		}
		dir = parent
	}
}

// firstMask returns the first mask file (name order) of a folder.
func firstMask(dir string) (string, error) {
	es, err := os.ReadDir(dir)
	if err != nil {
		return "", err
	}
	for _, e := range es {
		if !e.IsDir() && dinotracker.IsFrameFile(e.Name()) {
			return filepath.Join(dir, e.Name()), nil
		}
	}
	return "", fmt.Errorf("no mask image in %s", dir)
}
