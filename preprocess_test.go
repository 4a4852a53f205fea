package dinotracker

import (
	"context"
	"errors"
	"image"
	"math"
	"os"
	"path/filepath"
	"testing"

	"dinotracker/imgproc"
)

// movingVideo is T frames of a smooth texture translating by (dx, dy) px
// per frame.
func movingVideo(t *testing.T, T, w, h int, dx, dy float64) *Video {
	t.Helper()
	imgs := make([]image.Image, T)
	for k := range imgs {
		m := imgproc.NewRGB8(w, h)
		for y := 0; y < h; y++ {
			for x := 0; x < w; x++ {
				X, Y := float64(x)-dx*float64(k), float64(y)-dy*float64(k)
				v := 128 + 50*math.Sin(X*0.21+Y*0.13) + 40*math.Cos(X*0.05-Y*0.17) + 20*math.Sin(X*Y*0.003)
				m.Set(x, y, uint8(v), uint8(255-v), uint8(int(v*0.5)+60))
			}
		}
		imgs[k] = m
	}
	v, err := NewVideo(imgs)
	if err != nil {
		t.Fatal(err)
	}
	return v
}

func TestPreprocess(t *testing.T) {
	v := movingVideo(t, 4, 112, 70, 1, 0.5)
	dir := t.TempDir()
	opt := DefaultPreprocessOptions()
	var stages = map[string]bool{}
	opt.Progress = func(p Progress) { stages[p.Stage] = true }
	p, err := Preprocess(context.Background(), v, dir, opt)
	if err != nil {
		t.Fatal(err)
	}
	defer p.Close()
	if p.T != 4 || p.H != 70 || p.W != 112 || p.Features.C != builtinDim {
		t.Fatalf("%+v", p)
	}
	if p.Trajectories.N() == 0 || p.NoDirectFilter.N() < p.Trajectories.N() || p.FG.N()+p.BG.N() != p.Trajectories.N() {
		t.Fatalf("trajectories %d (no direct filter %d), fg %d bg %d", p.Trajectories.N(), p.NoDirectFilter.N(), p.FG.N(), p.BG.N())
	}
	for _, f := range []string{"trajectories.safetensors", "trajectories_wo_direct_filter.safetensors", "fg_trajectories.safetensors",
		"bg_trajectories.safetensors", "preprocess.json", "flow/forward_00000.flo", "flow/backward_00002.flo", "masks/00003.png",
		"best_buddies.safetensors"} {
		if _, err := os.Stat(filepath.Join(dir, f)); err != nil {
			t.Errorf("missing output %s", f)
		}
	}
	if p.BestBuddies == nil || len(p.BestBuddies.Pairs) != 12 {
		t.Fatalf("best-buddies: %+v", p.BestBuddies)
	}
	_ = p.BBLists()
	for _, s := range []string{"features", "flow", "trajectories", "best-buddies"} {
		if !stages[s] {
			t.Errorf("no progress for stage %q (got %v)", s, stages)
		}
	}
	// A second run reuses everything: no flow or chaining progress.
	stages = map[string]bool{}
	p2, err := Preprocess(context.Background(), v, dir, opt)
	if err != nil {
		t.Fatal(err)
	}
	defer p2.Close()
	if stages["flow"] || stages["trajectories"] || stages["best-buddies"] || p2.Trajectories.N() != p.Trajectories.N() {
		t.Fatalf("second run recomputed: %v", stages)
	}
}

func TestPreprocessErrors(t *testing.T) {
	v := movingVideo(t, 3, 112, 70, 1, 0)
	opt := DefaultPreprocessOptions()
	opt.DirectFilter = false
	// Masks that do not match the frames (2 masks for 3 frames).
	masks := t.TempDir()
	for _, name := range []string{"a.png", "b.png"} {
		writePNG(t, filepath.Join(masks, name), imgproc.NewRGB8(112, 70))
	}
	opt.MaskDir = masks
	if _, err := Preprocess(context.Background(), v, t.TempDir(), opt); err == nil {
		t.Fatal("2 masks for 3 frames accepted")
	}
	// Precomputed flows of the wrong size.
	opt.MaskDir = ""
	flows := t.TempDir()
	opt.FlowDir = flows
	if _, err := Preprocess(context.Background(), v, t.TempDir(), opt); err == nil {
		t.Fatal("missing precomputed flows accepted")
	}
	// One frame.
	one := &Video{Width: 112, Height: 70, Frames: v.Frames[:1]}
	if _, err := Preprocess(context.Background(), one, t.TempDir(), opt); !errors.Is(err, ErrTooFewFrames) {
		t.Fatalf("one frame: %v", err)
	}
	// Cancelled.
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	opt.FlowDir = ""
	if _, err := Preprocess(ctx, v, t.TempDir(), opt); !errors.Is(err, context.Canceled) {
		t.Fatalf("cancelled: %v", err)
	}
}
