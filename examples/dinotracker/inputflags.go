package main

import (
	"flag"
	"fmt"
	"strings"

	"dinotracker"
	"dinotracker/flow"
	"dinotracker/vit"
)

// inputFlags are the video and preprocessing inputs shared by preprocess and fit.
type inputFlags struct {
	video, masks, flowDir, weights *string
	heads                          *int
}

func addInputFlags(fs *flag.FlagSet) inputFlags {
	return inputFlags{
		video:   fs.String("video", "", "a folder of JPG/PNG frames or a movie file"),
		masks:   fs.String("masks", "", "folder of foreground masks, one per frame (default: PCA of the features)"),
		flowDir: fs.String("flow", "", "folder of precomputed flows forward_%05d.flo / backward_%05d.flo at the model size (default: estimate)"),
		weights: fs.String("weights", "builtin", "DINOv2 weights (.pth, .safetensors, .onnx) or \"builtin\" for the built-in descriptors"),
		heads:   fs.Int("heads", 0, "attention heads for weights of a non-standard size"),
	}
}

// extractor loads the DINOv2 weights, or returns nil for the built-in
// descriptors.
func (f inputFlags) extractor() (*dinotracker.FeatureExtractor, error) {
	if *f.weights == "builtin" {
		return nil, nil
	}
	return dinotracker.NewFeatureExtractor(*f.weights, vit.LoadOptions{Heads: *f.heads})
}

// flowPreset maps a -preset / -flow-preset value to the estimator options.
func flowPreset(name string) (flow.Options, error) {
	switch strings.ToLower(name) {
	case "fast":
		return flow.FastOptions(), nil
	case "default":
		return flow.DefaultOptions(), nil
	case "accurate":
		return flow.AccurateOptions(), nil
	}
	return flow.Options{}, fmt.Errorf("%q: want fast, default or accurate", name)
}
