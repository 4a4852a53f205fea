package main

import (
	"image"
	"image/color"
	"image/gif"
	"image/png"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"dinotracker"
	"dinotracker/render"
)

const demoVideo = "../../testdata/demo/horsejump-high" // 4 frames, 854×480

// demoTracks writes 3 tracks over the 4 demo frames, given at half the
// video's resolution (427×240), and returns the file and the tracks.
func demoTracks(t *testing.T, frames int) (string, *dinotracker.Tracks) {
	t.Helper()
	qs := []dinotracker.Query{{X: 100, Y: 120, T: 0}, {X: 200, Y: 60, T: 1}, {X: 300, Y: 200, T: frames - 1}}
	tr := dinotracker.NewTracks(427, 240, frames, qs)
	for i, q := range qs {
		for f := range frames {
			tr.Points[i][f] = [2]float32{float32(q.X) + 5*float32(f), float32(q.Y)}
			tr.Confidence[i][f] = 0.9
		}
	}
	tr.Occluded[1][2], tr.Confidence[1][2] = true, 0.2
	path := filepath.Join(t.TempDir(), "tracks.json")
	if err := tr.WriteFile(path); err != nil {
		t.Fatal(err)
	}
	return path, tr
}

func TestRenderCommand(t *testing.T) {
	tracks, tr := demoTracks(t, 4)
	dir := t.TempDir()

	// A folder of PNGs: lossless, so the point's colour is exact. Track 0
	// is at (100+5t, 120) in 427×240, i.e. the centre of pixel
	// (200.5+10t, 240.5) in 854×480.
	pngs := filepath.Join(dir, "frames")
	code, stdout, stderr := cli(t, "render", "-video", demoVideo, "-tracks", tracks, "-out", pngs, "-radius", "4")
	if code != 0 {
		t.Fatalf("exit %d: %s", code, stderr)
	}
	if !strings.Contains(stdout, "rendered 3 of 3 tracks over 4 frames at 854x480") {
		t.Errorf("stdout %q", stdout)
	}
	want := render.TrackColors(tr)[0]
	for f := range 4 {
		m := readPNG(t, filepath.Join(pngs, []string{"frame_00000.png", "frame_00001.png", "frame_00002.png", "frame_00003.png"}[f]))
		if b := m.Bounds(); b.Dx() != 854 || b.Dy() != 480 {
			t.Fatalf("frame %d is %v", f, b)
		}
		if c := color.RGBAModel.Convert(m.At(200+10*f, 240)).(color.RGBA); c != want {
			t.Errorf("frame %d: pixel at track 0 = %v, want %v", f, c, want)
		}
	}

	// A GIF with every frame.
	out := filepath.Join(dir, "out.gif")
	if code, _, stderr := cli(t, "render", "-video", demoVideo, "-tracks", tracks, "-out", out, "-trail", "0", "-fps", "5", "-max-points", "2"); code != 0 {
		t.Fatalf("exit %d: %s", code, stderr)
	}
	f, err := os.Open(out)
	if err != nil {
		t.Fatal(err)
	}
	g, err := gif.DecodeAll(f)
	f.Close()
	if err != nil {
		t.Fatal(err)
	}
	if len(g.Image) != 4 || g.Delay[0] != 20 || g.Config.Width != 854 || g.Config.Height != 480 {
		t.Errorf("GIF: %d frames, delay %d, %dx%d", len(g.Image), g.Delay[0], g.Config.Width, g.Config.Height)
	}
}

func TestRenderCommandErrors(t *testing.T) {
	tracks, _ := demoTracks(t, 4)
	short, _ := demoTracks(t, 3)
	out := filepath.Join(t.TempDir(), "out.gif")
	for _, args := range [][]string{
		{"render", "-video", demoVideo, "-out", out},
		{"render", "-tracks", tracks, "-out", out},
		{"render", "-video", demoVideo, "-tracks", tracks, "-out", out, "-fps", "0"},
		{"render", "-video", demoVideo, "-tracks", tracks, "-out", out, "-trail", "-1"},
		{"render", "-video", demoVideo, "-tracks", tracks, "-out", out, "-bogus"},
	} {
		if code, _, _ := cli(t, args...); code != 2 {
			t.Errorf("%v: exit %d, want 2", args, code)
		}
	}
	for _, c := range []struct {
		args []string
		want string
	}{
		{[]string{"render", "-video", demoVideo, "-tracks", short, "-out", out}, "has 4 frames but the tracks"},
		{[]string{"render", "-video", demoVideo, "-tracks", tracks, "-out", filepath.Join(t.TempDir(), "x.avi")}, ".gif, .mp4 or a folder"},
		{[]string{"render", "-video", demoVideo, "-tracks", filepath.Join(t.TempDir(), "none.json"), "-out", out}, "none.json"},
		{[]string{"render", "-video", demoVideo, "-tracks", strings.TrimSuffix(tracks, ".json") + ".csv", "-out", out}, "only the .json layout"},
	} {
		code, _, stderr := cli(t, c.args...)
		if code != 1 || !strings.Contains(stderr, c.want) {
			t.Errorf("%v: exit %d, stderr %q, want 1 and %q", c.args, code, stderr, c.want)
		}
	}
	if _, err := os.Stat(out); !os.IsNotExist(err) {
		t.Errorf("a failed render left %s", out)
	}
}

func readPNG(t *testing.T, path string) image.Image {
	t.Helper()
	f, err := os.Open(path)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	m, err := png.Decode(f)
	if err != nil {
		t.Fatal(err)
	}
	return m
}
