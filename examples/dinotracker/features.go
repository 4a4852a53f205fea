package main

import (
	"context"
	"flag"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strings"

	"dinotracker"
	"dinotracker/imgproc"
	"dinotracker/safetensors"
	"dinotracker/vit"
)

var (
	modelHeads = map[string]int{"vits14": 6, "vitb14": 12, "vitl14": 16, "vitg14": 24}
	modelDims  = map[string]int{"vits14": 384, "vitb14": 768, "vitl14": 1024, "vitg14": 1536}
)

func runFeatures(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	fs := flag.NewFlagSet("features", flag.ContinueOnError)
	fs.SetOutput(stderr)
	weights := fs.String("weights", "", "DINOv2 weights: .pth (torch hub), .safetensors (torch-hub or Hugging Face names) or .onnx; \"builtin\" for the built-in descriptors (no weights)")
	video := fs.String("video", "", "a folder of JPG/PNG frames or a movie file (mp4/mov/avi; needs ffmpeg)")
	image := fs.String("image", "", "a single JPG/PNG image (instead of -video)")
	model := fs.String("model", "auto", "architecture: auto (inferred from the weights), vits14, vitb14, vitl14 or vitg14")
	heads := fs.Int("heads", 0, "attention heads, for weights of a non-standard size (0: from -model or width/64)")
	size := fs.String("size", "", "model resolution HxW, multiples of 14 (default: the frame size rounded down to multiples of 14)")
	stride := fs.Int("stride", 7, "patch-embedding stride (7 as DINO-Tracker, 14 as DINOv2)")
	layer := fs.Int("layer", 15, "0-based block whose output is taken (before the final norm); -1 for the last")
	out := fs.String("out", "", "output .safetensors file: tensor \"features\", float32 [T,C,h',w'] (video) or [C,h',w'] (image)")
	cache := fs.String("cache", "", "feature cache directory (reused across runs; default: none for -image, OUT's folder/.dinotracker-cache for -video)")
	quiet := fs.Bool("q", false, "no progress bar")
	if err := fs.Parse(args); err != nil {
		return errUsage
	}
	if *weights == "" || *out == "" || (*video == "") == (*image == "") {
		fmt.Fprintln(stderr, "features needs -weights, -out and exactly one of -video or -image")
		fs.Usage()
		return errUsage
	}
	h, w, err := parseSize(*size)
	if err != nil {
		fmt.Fprintln(stderr, err)
		return errUsage
	}
	opts := vit.LoadOptions{Heads: *heads}
	if *model != "auto" {
		n, ok := modelHeads[strings.ToLower(*model)]
		if !ok {
			return fmt.Errorf("-model %q: want auto, vits14, vitb14, vitl14 or vitg14", *model)
		}
		if opts.Heads == 0 {
			opts.Heads = n
		}
	}
	var ext *dinotracker.FeatureExtractor
	if *weights == "builtin" {
		ext = dinotracker.NewBuiltinFeatureExtractor()
		fmt.Fprintf(stderr, "extractor %s (no DINOv2 weights), stride %d\n", dinotracker.BuiltinExtractorName, *stride)
	} else {
		var err error
		if ext, err = dinotracker.NewFeatureExtractor(*weights, opts); err != nil {
			return err
		}
		if d := modelDims[strings.ToLower(*model)]; d != 0 && ext.Model.Dim != d {
			return fmt.Errorf("-model %s expects embedding width %d, but %s holds a %s of width %d; use -model auto", *model, d, *weights, ext.Model.Name(), ext.Model.Dim)
		}
		fmt.Fprintf(stderr, "model %s: %d blocks, width %d, %d heads, stride %d\n", ext.Model.Name(), ext.Model.Depth, ext.Model.Dim, ext.Model.Heads, *stride)
	}
	cfg := dinotracker.FeatureConfig{Stride: *stride, Block: *layer, Height: h, Width: w}
	if !*quiet {
		cfg.Progress = newProgressBar(stderr).Report
	}
	var v *dinotracker.Video
	if *image != "" {
		img, err := dinotracker.LoadFrame(*image)
		if err != nil {
			return err
		}
		v = &dinotracker.Video{Width: img.W, Height: img.H, OrigWidth: img.W, OrigHeight: img.H, Frames: []*imgproc.RGB8{img}, Names: []string{*image}}
	} else {
		if v, err = dinotracker.LoadVideo(ctx, *video); err != nil {
			return err
		}
		cfg.CacheDir = *cache
		if cfg.CacheDir == "" {
			cfg.CacheDir = filepath.Join(filepath.Dir(*out), ".dinotracker-cache")
		}
	}
	if *image != "" && *cache != "" {
		cfg.CacheDir = *cache
	}
	feats, err := ext.Extract(ctx, v, cfg)
	if err != nil {
		return err
	}
	defer feats.Close()
	shape := []int{feats.T, feats.C, feats.H, feats.W}
	if *image != "" {
		shape = shape[1:]
	}
	meta := map[string]string{"model": feats.Model, "stride": fmt.Sprint(feats.Stride), "block": fmt.Sprint(feats.Block),
		"height": fmt.Sprint(feats.ModelH), "width": fmt.Sprint(feats.ModelW), "weights_sha256": ext.Digest}
	wr, err := safetensors.Create(*out, []safetensors.Header{{Name: "features", DType: "F32", Shape: shape}}, meta)
	if err != nil {
		return err
	}
	var buf []float32
	for t := 0; t < feats.T; t++ {
		if buf, err = feats.Frame(t, buf); err != nil {
			wr.Abort()
			return err
		}
		if err := wr.WriteValues(buf); err != nil {
			wr.Abort()
			return err
		}
	}
	if err := wr.Close(); err != nil {
		return err
	}
	fmt.Fprintf(stdout, "wrote %s: features %v (block %d, stride %d, %dx%d input)\n", *out, shape, feats.Block, feats.Stride, feats.ModelH, feats.ModelW)
	if _, err := os.Stat(*out); err != nil {
		return err
	}
	return nil
}
