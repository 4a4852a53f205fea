package main

import (
	"context"
	"flag"
	"fmt"
	"image"
	"io"
	"math"

	"dinotracker"
	"dinotracker/render"
)

// runRender draws tracks over the frames of a video into a GIF, an MP4 or a
// folder of PNG frames.
func runRender(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	fs := flag.NewFlagSet("render", flag.ContinueOnError)
	fs.SetOutput(stderr)
	video := fs.String("video", "", "a folder of JPG/PNG frames or a movie file: the video the tracks were computed on (any resolution)")
	tracks := fs.String("tracks", "", "tracks file in the JSON layout (dinotracker track -out tracks.json)")
	out := fs.String("out", "", "output: OUT.gif, OUT.mp4 (needs ffmpeg) or a folder for frame_%05d.png")
	trail := fs.Int("trail", render.DefaultTrail, "frames of fading trail behind each point, 0 for none")
	fps := fs.Float64("fps", 10, "frames per second of the GIF or MP4")
	maxPoints := fs.Int("max-points", 0, "draw at most this many tracks, evenly spread over the queries (0: all)")
	radius := fs.Float64("radius", 0, "point radius in output pixels (0: scaled to the frame size)")
	hideOcc := fs.Bool("hide-occluded", false, "leave occluded points out instead of drawing hollow circles")
	if err := fs.Parse(args); err != nil {
		return errUsage
	}
	if *video == "" || *tracks == "" || *out == "" {
		fmt.Fprintln(stderr, "render needs -video, -tracks and -out")
		fs.Usage()
		return errUsage
	}
	if !(*fps > 0) || math.IsInf(*fps, 0) {
		fmt.Fprintf(stderr, "-fps %v: want a positive frame rate\n", *fps)
		return errUsage
	}
	if *trail < 0 || *maxPoints < 0 || !(*radius >= 0) {
		fmt.Fprintln(stderr, "-trail, -max-points and -radius must not be negative")
		return errUsage
	}
	tr, err := dinotracker.ReadTracksFile(*tracks)
	if err != nil {
		return err
	}
	v, err := dinotracker.LoadVideo(ctx, *video)
	if err != nil {
		return err
	}
	if v.Len() != tr.Frames {
		return fmt.Errorf("%s has %d frames but the tracks in %s cover %d; pass the video the tracks were computed on",
			*video, v.Len(), *tracks, tr.Frames)
	}
	if ra, rb := float64(v.Width)*float64(tr.Height), float64(v.Height)*float64(tr.Width); math.Abs(ra-rb) > 0.01*rb {
		fmt.Fprintf(stderr, "render: note: the tracks are for %dx%d frames but the video is %dx%d; coordinates are stretched to fit\n",
			tr.Width, tr.Height, v.Width, v.Height)
	}
	frames := make([]image.Image, v.Len())
	for t := range frames {
		frames[t] = v.FrameImage(t)
	}
	opt := render.Options{Trail: *trail, MaxPoints: *maxPoints, Radius: *radius, HideOccluded: *hideOcc}
	if *trail == 0 {
		opt.Trail = -1
	}
	imgs, err := render.Frames(frames, tr, opt)
	if err != nil {
		return err
	}
	if err := render.WriteFile(ctx, *out, imgs, *fps); err != nil {
		return err
	}
	n := tr.Len()
	if *maxPoints > 0 && *maxPoints < n {
		n = *maxPoints
	}
	fmt.Fprintf(stdout, "rendered %d of %d tracks over %d frames at %dx%d to %s\n", n, tr.Len(), v.Len(), v.Width, v.Height, *out)
	return nil
}
