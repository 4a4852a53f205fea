package main

import (
	"image"
	"image/png"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"dinotracker"
)

func TestTrackCommand(t *testing.T) {
	dir := writeFrames(t, 3)
	model := filepath.Join(t.TempDir(), "model")
	if code, stdout, stderr := cli(t, "fit", "-video", dir, "-config", "fast", "-size", "70x112", "-iters", "2", "-out", model, "-q"); code != 0 {
		t.Fatalf("fit: exit %d: %s %s", code, stdout, stderr)
	}
	tmp := t.TempDir()
	qpath := filepath.Join(tmp, "q.json")
	if err := os.WriteFile(qpath, []byte(`[{"x": 20, "y": 15, "t": 1}, {"x": 50.5, "y": 30, "t": 0}]`), 0o644); err != nil {
		t.Fatal(err)
	}
	out := filepath.Join(tmp, "tracks.json")
	code, stdout, stderr := cli(t, "track", "-model", model, "-queries", qpath, "-out", out)
	if code != 0 || !strings.Contains(stdout, "tracked 2 points through 3 frames") {
		t.Fatalf("track: exit %d: %s %s", code, stdout, stderr)
	}
	if !strings.Contains(stderr, "occlusion") {
		t.Errorf("no progress in stderr %q", stderr)
	}
	tr, err := dinotracker.ReadTracksFile(out)
	if err != nil {
		t.Fatal(err)
	}
	if tr.Len() != 2 || tr.Frames != 3 || tr.Points[0][1] != [2]float32{20, 15} || tr.Points[1][0] != [2]float32{50.5, 30} || tr.Occluded[0][1] {
		t.Errorf("tracks %+v", tr)
	}

	// A grid on a mask, as CSV and NPY, without the anchor step.
	mask := filepath.Join(tmp, "mask.png")
	writeMaskPNG(t, mask, 40, 30) // any size: resized to the frames
	for _, ext := range []string{".csv", ".npy"} {
		o := filepath.Join(tmp, "grid"+ext)
		code, stdout, stderr = cli(t, "track", "-model", model, "-grid", "10", "-mask", mask, "-frame", "2", "-no-occlusion", "-out", o, "-q")
		if code != 0 || !strings.Contains(stdout, "through 3 frames") {
			t.Fatalf("grid %s: exit %d: %s %s", ext, code, stdout, stderr)
		}
		if st, err := os.Stat(o); err != nil || st.Size() == 0 {
			t.Errorf("%s: %v", o, err)
		}
	}
	for _, args := range [][]string{
		{"track", "-model", model, "-out", out},
		{"track", "-model", model, "-grid", "10", "-queries", qpath, "-out", out},
		{"track", "-queries", qpath, "-out", out},
	} {
		if code, _, _ := cli(t, args...); code != 2 {
			t.Errorf("%v: exit %d, want 2", args, code)
		}
	}
	// Bad query and a folder that is not a model: exit 1 with a message.
	bad := filepath.Join(tmp, "bad.json")
	os.WriteFile(bad, []byte(`[{"x": 2000, "y": 15, "t": 0}]`), 0o644)
	if code, _, stderr := cli(t, "track", "-model", model, "-queries", bad, "-out", out, "-q"); code != 1 || !strings.Contains(stderr, "outside") {
		t.Errorf("bad query: exit %d: %s", code, stderr)
	}
	if code, _, stderr := cli(t, "track", "-model", tmp, "-queries", qpath, "-out", out, "-q"); code != 1 || !strings.Contains(stderr, "fit.json") {
		t.Errorf("not a model: exit %d: %s", code, stderr)
	}
}

// writeMaskPNG writes a w×h greyscale mask whose right half is foreground.
func writeMaskPNG(t *testing.T, path string, w, h int) {
	t.Helper()
	img := image.NewGray(image.Rect(0, 0, w, h))
	for y := 0; y < h; y++ {
		for x := w / 2; x < w; x++ {
			img.Pix[y*img.Stride+x] = 255
		}
	}
	f, err := os.Create(path)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	if err := png.Encode(f, img); err != nil {
		t.Fatal(err)
	}
}
