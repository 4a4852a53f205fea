package render

import (
	"bytes"
	"context"
	"errors"
	"image"
	"image/color"
	"image/gif"
	"image/png"
	"math"
	"os"
	"os/exec"
	"path/filepath"
	"reflect"
	"strings"
	"testing"
	"time"

	"dinotracker"
	"dinotracker/imgproc"
)

// blank returns n black w×h frames.
func blank(n, w, h int) []image.Image {
	fs := make([]image.Image, n)
	for i := range fs {
		m := image.NewRGBA(image.Rect(0, 0, w, h))
		for k := 3; k < len(m.Pix); k += 4 {
			m.Pix[k] = 255
		}
		fs[i] = m
	}
	return fs
}

// lineTracks is one query moving right along y = 15 in a 40×30 video:
// x = 10, 20, 30 in frames 0, 1, 2.
func lineTracks() *dinotracker.Tracks {
	tr := dinotracker.NewTracks(40, 30, 3, []dinotracker.Query{{X: 10, Y: 15, T: 0}})
	for t := range 3 {
		tr.Points[0][t] = [2]float32{float32(10 + 10*t), 15}
		tr.Confidence[0][t] = 1
	}
	return tr
}

func rgb(m *image.RGBA, x, y int) color.RGBA { return m.RGBAAt(x, y) }

func near(a, b color.RGBA, tol int) bool {
	d := func(u, v uint8) bool { return int(u)-int(v) <= tol && int(v)-int(u) <= tol }
	return d(a.R, b.R) && d(a.G, b.G) && d(a.B, b.B)
}

var black = color.RGBA{0, 0, 0, 255}

func TestRenderPointColourAndPosition(t *testing.T) {
	tr := lineTracks()
	frames := blank(3, 40, 30)
	out, err := Frames(frames, tr, Options{Radius: 3})
	if err != nil {
		t.Fatal(err)
	}
	want := Color(10, 15, 40, 30) // first visible position
	if got := TrackColors(tr)[0]; got != want {
		t.Errorf("TrackColors = %v, want %v", got, want)
	}
	for f, x := range []int{10, 20, 30} {
		if got := rgb(out[f], x, 15); got != want {
			t.Errorf("frame %d: pixel (%d, 15) = %v, want the track colour %v", f, x, got, want)
		}
		if got := rgb(out[f], x, 22); got != black {
			t.Errorf("frame %d: pixel (%d, 22), outside the disc, = %v", f, x, got)
		}
	}
	// The trail: in frame 2 the step 20 → 30 is drawn (newest, opacity 0.9)
	// and 10 → 20 fainter; nothing right of the point.
	mid := rgb(out[2], 25, 15)
	if mid == black {
		t.Errorf("frame 2: no trail at (25, 15)")
	}
	old := rgb(out[2], 14, 15)
	if old == black || int(old.R)+int(old.G)+int(old.B) >= int(mid.R)+int(mid.G)+int(mid.B) {
		t.Errorf("frame 2: older trail %v should be fainter than the newer %v", old, mid)
	}
	if got := rgb(out[2], 36, 15); got != black {
		t.Errorf("frame 2: pixel ahead of the point = %v", got)
	}
	if got := rgb(out[0], 25, 15); got != black {
		t.Errorf("frame 0 has a trail: %v", got)
	}
	// The input frames are untouched.
	if got := frames[2].(*image.RGBA).RGBAAt(30, 15); got != black {
		t.Errorf("input frame modified: %v", got)
	}
}

func TestRenderOccluded(t *testing.T) {
	tr := lineTracks()
	tr.Occluded[0][1] = true
	tr.Confidence[0][1] = 0.1
	want := Color(10, 15, 40, 30)
	out, err := Frames(blank(3, 40, 30), tr, Options{Radius: 4})
	if err != nil {
		t.Fatal(err)
	}
	// Frame 1: a hollow circle of radius 4 around (20, 15).
	if got := rgb(out[1], 20, 15); got != black {
		t.Errorf("occluded point's centre = %v, want the background", got)
	}
	ringPix := rgb(out[1], 24, 15) // centre (24.5, 15.5) is 4 px from (20.5, 15.5)
	if !near(ringPix, want, 2) {
		t.Errorf("occluded point's ring = %v, want %v", ringPix, want)
	}
	// Frame 2: visible, filled; no trail through the occluded frame 1.
	if got := rgb(out[2], 30, 15); got != want {
		t.Errorf("visible point = %v, want %v", got, want)
	}
	for _, x := range []int{14, 18, 22} {
		if got := rgb(out[2], x, 15); got != black {
			t.Errorf("frame 2: trail through the occlusion at (%d, 15): %v", x, got)
		}
	}
	// Hidden occluded points.
	out, err = Frames(blank(3, 40, 30), tr, Options{Radius: 4, HideOccluded: true})
	if err != nil {
		t.Fatal(err)
	}
	for y := range 30 {
		for x := range 40 {
			if got := rgb(out[1], x, y); got != black {
				t.Fatalf("HideOccluded: pixel (%d, %d) = %v", x, y, got)
			}
		}
	}
	// Colour of a track occluded in frame 0: its first visible position.
	tr.Occluded[0][0] = true
	if got, want := TrackColors(tr)[0], Color(30, 15, 40, 30); got != want {
		t.Errorf("colour of a track first visible in frame 2 = %v, want %v", got, want)
	}
}

// TestRenderScaled draws 40×30 tracks on 80×60 frames (of the library's
// own RGB8 type): pixel centre (10, 15) lands on the centre of the 2×2 block
// (20..21, 30..31).
func TestRenderScaled(t *testing.T) {
	tr := lineTracks()
	frames := make([]image.Image, 3)
	for i := range frames {
		frames[i] = &imgproc.RGB8{W: 80, H: 60, Pix: make([]uint8, 80*60*3)}
	}
	out, err := Frames(frames, tr, Options{Radius: 3, Trail: -1})
	if err != nil {
		t.Fatal(err)
	}
	if b := out[0].Bounds(); b != image.Rect(0, 0, 80, 60) {
		t.Fatalf("output bounds %v", b)
	}
	want := Color(10, 15, 40, 30)
	var sx, sy, n float64
	for y := range 60 {
		for x := range 80 {
			c := rgb(out[0], x, y)
			if c == want {
				sx += float64(x)
				sy += float64(y)
				n++
			}
		}
	}
	if n == 0 || math.Abs(sx/n-20.5) > 1e-9 || math.Abs(sy/n-30.5) > 1e-9 {
		t.Errorf("centroid of the disc (%d px) = (%v, %v), want (20.5, 30.5)", int(n), sx/n, sy/n)
	}
	if got := rgb(out[2], 61, 31); got != want {
		t.Errorf("frame 2: pixel (61, 31) = %v, want %v", got, want)
	}
}

func TestRenderOptions(t *testing.T) {
	if got := selectTracks(10, 3); !reflect.DeepEqual(got, []int{0, 3, 6}) {
		t.Errorf("selectTracks(10, 3) = %v", got)
	}
	if got := selectTracks(2, 0); !reflect.DeepEqual(got, []int{0, 1}) {
		t.Errorf("selectTracks(2, 0) = %v", got)
	}
	tr := lineTracks()
	if _, err := Frames(blank(2, 40, 30), tr, Options{}); err == nil || !strings.Contains(err.Error(), "2 frames but the tracks cover 3") {
		t.Errorf("frame count mismatch: %v", err)
	}
	if _, err := Frames(blank(3, 40, 30), tr, Options{Colors: []color.RGBA{{}, {}}}); err == nil {
		t.Error("wrong colour count accepted")
	}
	red := color.RGBA{255, 0, 0, 255}
	out, err := Frames(blank(3, 40, 30), tr, Options{Colors: []color.RGBA{red}})
	if err != nil {
		t.Fatal(err)
	}
	if got := rgb(out[0], 10, 15); got != red {
		t.Errorf("Colors: pixel = %v", got)
	}
	// NaN points are skipped, not drawn at a garbage place.
	tr.Points[0][1] = [2]float32{float32(math.NaN()), 3}
	if _, err := Frames(blank(3, 40, 30), tr, Options{}); err != nil {
		t.Fatal(err)
	}
	// The colormap: red on the left, magenta on the right.
	if c := Color(0, 0, 100, 100); c.R != 255 || c.G > 120 || c.B > 120 {
		t.Errorf("left colour %v is not reddish", c)
	}
	if c := Color(99, 99, 100, 100); c.R < 120 || c.G != 0 || c.B < 120 {
		t.Errorf("right colour %v is not magenta", c)
	}
}

func TestRenderGIF(t *testing.T) {
	out, err := Frames(blank(3, 40, 30), lineTracks(), Options{})
	if err != nil {
		t.Fatal(err)
	}
	var buf bytes.Buffer
	if err := WriteGIF(&buf, out, 100*time.Millisecond); err != nil {
		t.Fatal(err)
	}
	g, err := gif.DecodeAll(&buf)
	if err != nil {
		t.Fatal(err)
	}
	if len(g.Image) != 3 || !reflect.DeepEqual(g.Delay, []int{10, 10, 10}) || g.Config.Width != 40 || g.Config.Height != 30 {
		t.Fatalf("GIF: %d frames, delays %v, %dx%d", len(g.Image), g.Delay, g.Config.Width, g.Config.Height)
	}
	// Black stays black and the point keeps roughly its colour.
	if c := color.RGBAModel.Convert(g.Image[0].At(2, 2)).(color.RGBA); c != black {
		t.Errorf("background %v", c)
	}
	want := Color(10, 15, 40, 30)
	if c := color.RGBAModel.Convert(g.Image[0].At(10, 15)).(color.RGBA); !near(c, want, 70) {
		t.Errorf("point %v, want about %v", c, want)
	}
	if err := WriteGIF(&buf, nil, time.Second); err == nil {
		t.Error("empty GIF accepted")
	}
	mixed := []*image.RGBA{out[0], image.NewRGBA(image.Rect(0, 0, 4, 4))}
	if err := WriteGIF(&buf, mixed, time.Second); err == nil || !strings.Contains(err.Error(), "frame 1 is 4x4") {
		t.Errorf("mixed sizes: %v", err)
	}
}

func TestRenderQuantizeGrey(t *testing.T) {
	// A flat mid-grey must dither to an average close to itself.
	m := image.NewRGBA(image.Rect(0, 0, 64, 64))
	for i := range m.Pix {
		m.Pix[i] = 100
	}
	p := quantize(m)
	var sum float64
	for y := range 64 {
		for x := range 64 {
			c := color.RGBAModel.Convert(p.At(x, y)).(color.RGBA)
			sum += float64(c.R) + float64(c.G) + float64(c.B)
		}
	}
	if avg := sum / (3 * 64 * 64); math.Abs(avg-100) > 2 {
		t.Errorf("dithered grey averages %.2f, want 100", avg)
	}
}

func TestRenderWriteFile(t *testing.T) {
	ctx := context.Background()
	out, err := Frames(blank(3, 40, 30), lineTracks(), Options{})
	if err != nil {
		t.Fatal(err)
	}
	dir := t.TempDir()
	pngDir := filepath.Join(dir, "frames")
	if err := WriteFile(ctx, pngDir, out, 10); err != nil {
		t.Fatal(err)
	}
	for i := range 3 {
		f, err := os.Open(filepath.Join(pngDir, []string{"frame_00000.png", "frame_00001.png", "frame_00002.png"}[i]))
		if err != nil {
			t.Fatal(err)
		}
		m, err := png.Decode(f)
		f.Close()
		if err != nil {
			t.Fatal(err)
		}
		if c := color.RGBAModel.Convert(m.At(10+10*i, 15)).(color.RGBA); c != rgb(out[i], 10+10*i, 15) {
			t.Errorf("PNG %d: pixel %v, want %v", i, c, rgb(out[i], 10+10*i, 15))
		}
	}
	if err := WriteFile(ctx, filepath.Join(dir, "a.gif"), out, 5); err != nil {
		t.Fatal(err)
	}
	if err := WriteFile(ctx, filepath.Join(dir, "a.avi"), out, 5); err == nil || !strings.Contains(err.Error(), ".gif, .mp4 or a folder") {
		t.Errorf("unknown extension: %v", err)
	}
	if err := WriteFile(ctx, filepath.Join(dir, "b.gif"), out, 0); err == nil {
		t.Error("fps 0 accepted")
	}
	ents, _ := os.ReadDir(dir)
	var names []string
	for _, e := range ents {
		names = append(names, e.Name())
	}
	if want := []string{"a.gif", "frames"}; !reflect.DeepEqual(names, want) {
		t.Errorf("directory holds %v, want %v", names, want)
	}
}

func TestRenderMP4(t *testing.T) {
	ctx := context.Background()
	out, err := Frames(blank(3, 41, 31), lineTracks(), Options{}) // odd size: padded
	if err != nil {
		t.Fatal(err)
	}
	dir := t.TempDir()
	t.Run("missing ffmpeg", func(t *testing.T) {
		t.Setenv("PATH", t.TempDir())
		err := WriteMP4(ctx, filepath.Join(dir, "x.mp4"), out, 10)
		if !errors.Is(err, dinotracker.ErrFFmpegMissing) || !strings.Contains(err.Error(), "apt-get install ffmpeg") {
			t.Errorf("err = %v, want ErrFFmpegMissing naming apt-get install ffmpeg", err)
		}
	})
	if _, err := exec.LookPath("ffmpeg"); err != nil {
		t.Skip("ffmpeg is not installed")
	}
	path := filepath.Join(dir, "a.mp4")
	if err := WriteFile(ctx, path, out, 10); err != nil {
		t.Fatal(err)
	}
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	if len(b) < 100 || string(b[4:8]) != "ftyp" {
		t.Errorf("%s (%d bytes) is not an MP4", path, len(b))
	}
	if ffprobe, err := exec.LookPath("ffprobe"); err == nil {
		o, err := exec.Command(ffprobe, "-v", "error", "-count_frames", "-select_streams", "v:0",
			"-show_entries", "stream=nb_read_frames,width,height", "-of", "csv=p=0", path).Output()
		if err != nil {
			t.Fatal(err)
		}
		if got := strings.TrimSpace(string(o)); got != "42,32,3" {
			t.Errorf("ffprobe: %q, want 42,32,3", got)
		}
	}
	ents, _ := os.ReadDir(dir)
	if len(ents) != 1 {
		t.Errorf("directory holds %d entries, want only a.mp4", len(ents))
	}
}

// BenchmarkRenderGIF is the size of a 50-frame 427×240 clip with 200 tracks.
func BenchmarkRenderGIF(b *testing.B) {
	const n, w, h = 50, 427, 240
	frames := make([]image.Image, n)
	for i := range frames {
		m := &imgproc.RGB8{W: w, H: h, Pix: make([]uint8, w*h*3)}
		for k := range m.Pix {
			m.Pix[k] = uint8(k*7 + i)
		}
		frames[i] = m
	}
	qs := make([]dinotracker.Query, 200)
	for i := range qs {
		qs[i] = dinotracker.Query{X: float64(i % 20 * 20), Y: float64(i / 20 * 24), T: 0}
	}
	tr := dinotracker.NewTracks(w, h, n, qs)
	for i, q := range qs {
		for t := range n {
			tr.Points[i][t] = [2]float32{float32(q.X) + float32(t), float32(q.Y) + float32(t)/2}
			tr.Occluded[i][t] = (i+t)%9 == 0
		}
	}
	for b.Loop() {
		out, err := Frames(frames, tr, Options{})
		if err != nil {
			b.Fatal(err)
		}
		if err := WriteGIF(&bytes.Buffer{}, out, 100*time.Millisecond); err != nil {
			b.Fatal(err)
		}
	}
}
