package main

import (
	"math"
	"path/filepath"
	"strings"
	"testing"

	"dinotracker/flow"
)

func TestFlowCommand(t *testing.T) {
	dir := writeFrames(t, 2)
	out := filepath.Join(t.TempDir(), "f.flo")
	a, b := filepath.Join(dir, "a.png"), filepath.Join(dir, "b.png")
	code, stdout, stderr := cli(t, "flow", "-a", a, "-b", b, "-out", out, "-preset", "fast")
	if code != 0 {
		t.Fatalf("exit %d: %s", code, stderr)
	}
	f, err := flow.ReadFlo(out)
	if err != nil {
		t.Fatal(err)
	}
	if f.W != 112 || f.H != 70 || !strings.Contains(stdout, "112x70") {
		t.Fatalf("flow %dx%d, stdout %q", f.W, f.H, stdout)
	}
	// Against itself as ground truth the error is zero.
	code, stdout, stderr = cli(t, "flow", "-a", a, "-b", b, "-out", filepath.Join(t.TempDir(), "g.png"), "-preset", "fast", "-gt", out)
	if code != 0 || !strings.Contains(stdout, "end-point error") {
		t.Fatalf("exit %d: %s %s", code, stdout, stderr)
	}
	if epe, _ := flow.EPE(f, f); epe != 0 || math.IsNaN(epe) {
		t.Fatalf("EPE of a field with itself %v", epe)
	}
	for _, args := range [][]string{
		{"flow", "-a", a, "-out", out},
		{"flow", "-a", a, "-b", b, "-out", out, "-preset", "slow"},
	} {
		if code, _, _ := cli(t, args...); code != 2 {
			t.Errorf("%v: exit %d, want 2", args, code)
		}
	}
	if code, _, stderr := cli(t, "flow", "-a", a, "-b", filepath.Join(dir, "missing.png"), "-out", out); code != 1 || !strings.Contains(stderr, "missing.png") {
		t.Errorf("missing frame: exit %d, %q", code, stderr)
	}
}

func TestPreprocessCommand(t *testing.T) {
	dir := writeFrames(t, 3)
	out := filepath.Join(t.TempDir(), "pp")
	code, stdout, stderr := cli(t, "preprocess", "-video", dir, "-out", out, "-direct=false", "-q")
	if code != 0 || !strings.Contains(stdout, "preprocessed 3 frames at 70x112") {
		t.Fatalf("exit %d: %s %s", code, stdout, stderr)
	}
	for _, args := range [][]string{
		{"preprocess", "-video", dir},
		{"preprocess", "-video", dir, "-out", out, "-size", "70x100"},
		{"preprocess", "-video", dir, "-out", out, "-flow-preset", "slow"},
	} {
		if code, _, _ := cli(t, args...); code != 2 {
			t.Errorf("%v: exit %d, want 2", args, code)
		}
	}
	if code, _, stderr := cli(t, "preprocess", "-video", dir, "-out", out, "-masks", t.TempDir(), "-q"); code != 1 || !strings.Contains(stderr, "mask") {
		t.Errorf("empty mask folder: exit %d, %q", code, stderr)
	}
}
