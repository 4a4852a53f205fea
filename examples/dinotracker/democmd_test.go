package main

import (
	"os"
	"path/filepath"
	"strings"
	"testing"

	"dinotracker"
)

func TestDemoCommand(t *testing.T) {
	// The bundled clip is found from the repository.
	clip, err := findUp(demoClip)
	if err != nil {
		t.Fatalf("bundled clip: %v", err)
	}
	v, err := dinotracker.LoadVideo(t.Context(), filepath.Join(clip, "video"))
	if err != nil || v.Len() != 24 {
		t.Fatalf("bundled clip: %v (%v frames)", err, v)
	}
	// The whole demo on three small frames with masks, two iterations.
	dir := writeFrames(t, 3)
	masks := filepath.Join(t.TempDir(), "masks")
	os.Mkdir(masks, 0o755)
	for k := 0; k < 3; k++ {
		writeMaskPNG(t, filepath.Join(masks, string(rune('a'+k))+".png"), 112, 70)
	}
	out := filepath.Join(t.TempDir(), "out")
	code, stdout, stderr := cli(t, "demo", "-video", dir, "-masks", masks, "-iters", "2", "-out", out)
	if code != 0 {
		t.Fatalf("exit %d: %s %s", code, stdout, stderr)
	}
	if !strings.Contains(stdout, "foreground points through 3 frames") || !strings.Contains(stderr, "fit ") {
		t.Errorf("stdout %q stderr %q", stdout, stderr)
	}
	tr, err := dinotracker.ReadTracksFile(filepath.Join(out, "tracks.json"))
	if err != nil {
		t.Fatal(err)
	}
	for i, q := range tr.Queries {
		if q.X < 56 || q.T != 0 {
			t.Errorf("query %d %+v is off the mask (right half of frame 0)", i, q)
		}
	}
	if st, err := os.Stat(filepath.Join(out, "tracks.gif")); err != nil || st.Size() < 1000 {
		t.Errorf("tracks.gif: %v", err)
	}
	if code, _, _ := cli(t, "demo", "-iters", "0"); code != 2 {
		t.Errorf("-iters 0: exit %d", code)
	}
}
