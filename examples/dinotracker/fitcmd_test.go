package main

import (
	"bytes"
	"context"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"dinotracker"
)

func TestFitCommand(t *testing.T) {
	dir := writeFrames(t, 3)
	out := filepath.Join(t.TempDir(), "model")
	code, stdout, stderr := cli(t, "fit", "-video", dir, "-config", "fast", "-size", "70x112", "-iters", "3", "-out", out)
	if code != 0 {
		t.Fatalf("exit %d: %s %s", code, stdout, stderr)
	}
	if !strings.Contains(stdout, "fitted 3 iterations on 3 frames at 70x112 with builtin-dsift-v1") || !strings.Contains(stdout, "built-in descriptors") {
		t.Errorf("stdout %q", stdout)
	}
	if !strings.Contains(stderr, "fit      3/3") || !strings.Contains(stderr, "flow ") || !strings.Contains(stderr, "ETA") {
		t.Errorf("no fit progress bar in stderr %q", stderr)
	}
	for _, f := range []string{dinotracker.DeltaDINOFile, dinotracker.TrackerHeadFile, "fit.json", "checkpoints/checkpoint_00000003.safetensors"} {
		if _, err := os.Stat(filepath.Join(out, f)); err != nil {
			t.Errorf("missing %s", f)
		}
	}
	if _, err := dinotracker.LoadModel(filepath.Join(out, dinotracker.DeltaDINOFile), filepath.Join(out, dinotracker.TrackerHeadFile)); err != nil {
		t.Error(err)
	}
	// A longer run in the same folder resumes.
	code, stdout, stderr = cli(t, "fit", "-video", dir, "-config", "fast", "-size", "70x112", "-iters", "4", "-out", out, "-q")
	if code != 0 || !strings.Contains(stdout, "fitted 4 iterations (resumed from iteration 3)") || strings.Contains(stderr, "ETA") {
		t.Fatalf("resume: exit %d: %s %s", code, stdout, stderr)
	}

	// DINOv2 features (the tiny random ViT of the golden cases, 64 channels).
	code, stdout, stderr = cli(t, "fit", "-video", dir, "-weights", tinyWeights, "-heads", "4", "-layer", "3", "-size", "70x112",
		"-iters", "2", "-out", filepath.Join(t.TempDir(), "vit"), "-q")
	if code != 0 || !strings.Contains(stdout, "(64 channels)") || strings.Contains(stdout, "built-in") {
		t.Fatalf("ViT features: exit %d: %s %s", code, stdout, stderr)
	}

	// Ctrl-C: a cancelled context exits 130 and says how to resume.
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	var o, e bytes.Buffer
	if code := run(ctx, []string{"fit", "-video", dir, "-size", "70x112", "-iters", "2", "-out", filepath.Join(t.TempDir(), "m"), "-q"}, &o, &e); code != 130 {
		t.Errorf("cancelled: exit %d, %s", code, e.String())
	}

	for _, args := range [][]string{
		{"fit", "-video", dir},
		{"fit", "-video", dir, "-out", out, "-config", "slow"},
		{"fit", "-video", dir, "-out", out, "-size", "70x100"},
		{"fit", "-video", dir, "-out", out, "-iters", "-1"},
		{"fit", "-video", dir, "-out", out, "-layer", "x"},
	} {
		if code, _, _ := cli(t, args...); code != 2 {
			t.Errorf("%v: exit %d, want 2", args, code)
		}
	}
	if code, _, stderr := cli(t, "fit", "-video", filepath.Join(dir, "missing"), "-out", out, "-q"); code != 1 {
		t.Errorf("missing video: exit %d, %q", code, stderr)
	}
}
