package dinotracker_test

import (
	"context"
	"fmt"
	"image"
	"image/color"
	"image/png"
	"os"
	"path/filepath"

	"dinotracker"
	"dinotracker/vit"
)

// exampleFrame returns a w×h test image: a colour gradient shifted by k
// pixels, standing in for a video frame.
func exampleFrame(w, h, k int) *image.RGBA {
	m := image.NewRGBA(image.Rect(0, 0, w, h))
	for y := 0; y < h; y++ {
		for x := 0; x < w; x++ {
			m.Set(x, y, color.RGBA{uint8(2 * (x + k)), uint8(3 * y), uint8(x * y), 255})
		}
	}
	return m
}

// ExampleNewFeatureExtractor computes DINO-Tracker-style features (stride 7,
// the output of one block before the final norm) for a two-frame video. The
// weights here are a tiny random test model (width 64, 4 blocks, 4 heads);
// with the real ViT-L/14 (dinov2_vitl14_pretrain.pth) use
// vit.LoadOptions{} and DefaultFeatureConfig (block 15).
func ExampleNewFeatureExtractor() {
	ext, err := dinotracker.NewFeatureExtractor(
		"testdata/golden/dinov2_tiny_stride7/weights_hub.safetensors",
		vit.LoadOptions{Heads: 4}) // non-standard head width: say how many heads
	if err != nil {
		fmt.Println(err)
		return
	}
	video, err := dinotracker.NewVideo([]image.Image{exampleFrame(112, 70, 0), exampleFrame(112, 70, 3)})
	if err != nil {
		fmt.Println(err)
		return
	}
	cfg := dinotracker.DefaultFeatureConfig()
	cfg.Block = 2                   // the tiny model has blocks 0…3
	cfg.Height, cfg.Width = 70, 112 // model resolution, multiples of 14
	// cfg.CacheDir = "cache" would keep the features on disk across runs.
	feats, err := ext.Extract(context.Background(), video, cfg)
	if err != nil {
		fmt.Println(err)
		return
	}
	defer feats.Close()
	fmt.Printf("%s, %d blocks\n", ext.Model.Name(), ext.Model.Depth)
	fmt.Printf("features [T C H W] = [%d %d %d %d], block %d, stride %d, input %dx%d\n",
		feats.T, feats.C, feats.H, feats.W, feats.Block, feats.Stride, feats.ModelH, feats.ModelW)
	f1, err := feats.Frame(1, nil) // frame 1 as a [C, H, W] map
	if err != nil {
		fmt.Println(err)
		return
	}
	fmt.Println(len(f1), "values per frame")
	// Output:
	// ViT-D64/14, 4 blocks
	// features [T C H W] = [2 64 9 15], block 2, stride 7, input 70x112
	// 8640 values per frame
}

// ExampleLoadVideo loads a folder of PNG frames (JPEG works the same; files
// are taken in sorted name order).
func ExampleLoadVideo() {
	dir, err := os.MkdirTemp("", "dinotracker-example-")
	if err != nil {
		fmt.Println(err)
		return
	}
	defer os.RemoveAll(dir)
	for i := 0; i < 3; i++ {
		f, err := os.Create(filepath.Join(dir, fmt.Sprintf("%05d.png", i)))
		if err != nil {
			fmt.Println(err)
			return
		}
		err = png.Encode(f, exampleFrame(64, 48, i))
		if cerr := f.Close(); err == nil {
			err = cerr
		}
		if err != nil {
			fmt.Println(err)
			return
		}
	}
	video, err := dinotracker.LoadVideo(context.Background(), dir)
	if err != nil {
		fmt.Println(err)
		return
	}
	fmt.Printf("%d frames of %dx%d\n", video.Len(), video.Width, video.Height)
	for _, name := range video.Names {
		fmt.Println(filepath.Base(name))
	}
	// Output:
	// 3 frames of 64x48
	// 00000.png
	// 00001.png
	// 00002.png
}

// ExampleTracker_Track fits a tiny video (a few iterations of FastConfig on
// three synthetic frames, built-in features) and tracks one point from its
// middle frame forward and backward.
func ExampleTracker_Track() {
	ctx := context.Background()
	var frames []image.Image
	for k := 0; k < 3; k++ {
		frames = append(frames, exampleFrame(112, 70, 2*k))
	}
	video, err := dinotracker.NewVideo(frames)
	if err != nil {
		fmt.Println(err)
		return
	}
	cfg := dinotracker.FastConfig().Scaled(4)
	cfg.Scale = 1
	tr, err := dinotracker.NewTracker(cfg)
	if err != nil {
		fmt.Println(err)
		return
	}
	defer tr.Close()
	if err := tr.Fit(ctx, video); err != nil {
		fmt.Println(err)
		return
	}
	tracks, err := tr.Track(ctx, []dinotracker.Query{{X: 40, Y: 30, T: 1}})
	if err != nil {
		fmt.Println(err)
		return
	}
	p := tracks.Points[0][1]
	fmt.Printf("%d point, %d frames; at its own frame (%g, %g), occluded %v, confidence %g\n",
		tracks.Len(), tracks.Frames, p[0], p[1], tracks.Occluded[0][1], tracks.Confidence[0][1])
	// Output: 1 point, 3 frames; at its own frame (40, 30), occluded false, confidence 1
}
