package dinotracker

import (
	"bytes"
	"context"
	"errors"
	"image"
	"image/color"
	"image/jpeg"
	"image/png"
	"io/fs"
	"math/rand"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"

	"dinotracker/imgproc"
)

// solidRGBA returns a w×h image whose pixel (x, y) encodes the frame id.
func patternRGBA(w, h int, id uint8) *image.RGBA {
	m := image.NewRGBA(image.Rect(0, 0, w, h))
	for y := 0; y < h; y++ {
		for x := 0; x < w; x++ {
			m.Set(x, y, color.RGBA{id, uint8(x * 7), uint8(y * 11), 255})
		}
	}
	return m
}

func writePNG(t *testing.T, path string, img image.Image) {
	t.Helper()
	var buf bytes.Buffer
	if err := png.Encode(&buf, img); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(path, buf.Bytes(), 0o644); err != nil {
		t.Fatal(err)
	}
}

func writeJPEG(t *testing.T, path string, img image.Image) {
	t.Helper()
	var buf bytes.Buffer
	if err := jpeg.Encode(&buf, img, &jpeg.Options{Quality: 95}); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(path, buf.Bytes(), 0o644); err != nil {
		t.Fatal(err)
	}
}

func TestLoadVideoFolderOrder(t *testing.T) {
	dir := t.TempDir()
	// name order: "00002.PNG" < "00010.png" < "a.jpeg" < "b.JPG"
	writePNG(t, filepath.Join(dir, "00010.png"), patternRGBA(6, 4, 20))
	writePNG(t, filepath.Join(dir, "00002.PNG"), patternRGBA(6, 4, 10))
	writeJPEG(t, filepath.Join(dir, "b.JPG"), patternRGBA(6, 4, 40))
	writeJPEG(t, filepath.Join(dir, "a.jpeg"), patternRGBA(6, 4, 30))
	if err := os.WriteFile(filepath.Join(dir, "notes.txt"), []byte("not a frame"), 0o644); err != nil {
		t.Fatal(err)
	}
	if err := os.Mkdir(filepath.Join(dir, "sub.png"), 0o755); err != nil { // a directory, not a frame
		t.Fatal(err)
	}
	v, err := LoadVideo(context.Background(), dir)
	if err != nil {
		t.Fatal(err)
	}
	if v.Len() != 4 || v.Width != 6 || v.Height != 4 || v.OrigWidth != 6 || v.OrigHeight != 4 {
		t.Fatalf("got %d frames %dx%d (orig %dx%d)", v.Len(), v.Width, v.Height, v.OrigWidth, v.OrigHeight)
	}
	wantNames := []string{"00002.PNG", "00010.png", "a.jpeg", "b.JPG"}
	for i, n := range wantNames {
		if v.Names[i] != filepath.Join(dir, n) {
			t.Errorf("frame %d: name %q, want %q", i, v.Names[i], filepath.Join(dir, n))
		}
	}
	// PNG frames are lossless; the red channel encodes the frame id
	for i, id := range []uint8{10, 20} {
		if got := v.Frames[i].Pix[0]; got != id {
			t.Errorf("frame %d red %d, want %d", i, got, id)
		}
		if !bytes.Equal(v.Frames[i].Pix, imgproc.FromImage(patternRGBA(6, 4, id)).Pix) {
			t.Errorf("frame %d: PNG pixels changed", i)
		}
	}
	for i, id := range []uint8{30, 40} {
		if got := int(v.Frames[2+i].Pix[0]); got < int(id)-6 || got > int(id)+6 {
			t.Errorf("JPEG frame %d red %d, want about %d", 2+i, got, id)
		}
	}
	// Float32 is CHW value/255
	f := v.Float32(1)
	if len(f) != 3*4*6 {
		t.Fatalf("Float32: %d values", len(f))
	}
	fr := v.Frames[1]
	for c := 0; c < 3; c++ {
		for p := 0; p < 24; p++ {
			if want := float32(fr.Pix[3*p+c]) / 255; f[c*24+p] != want {
				t.Fatalf("Float32[%d,%d] = %v, want %v", c, p, f[c*24+p], want)
			}
		}
	}
	img := v.FrameImage(0)
	if img.Bounds() != image.Rect(0, 0, 6, 4) {
		t.Errorf("FrameImage bounds %v", img.Bounds())
	}
	if c := color.RGBAModel.Convert(img.At(2, 1)).(color.RGBA); c != (color.RGBA{10, 14, 11, 255}) {
		t.Errorf("FrameImage At(2,1) = %v", c)
	}

	// LoadVideoFrames keeps the given order
	files := []string{filepath.Join(dir, "00010.png"), filepath.Join(dir, "00002.PNG")}
	v2, err := LoadVideoFrames(context.Background(), files)
	if err != nil {
		t.Fatal(err)
	}
	if v2.Frames[0].Pix[0] != 20 || v2.Frames[1].Pix[0] != 10 || v2.Names[0] != files[0] {
		t.Errorf("LoadVideoFrames order: %d %d %q", v2.Frames[0].Pix[0], v2.Frames[1].Pix[0], v2.Names[0])
	}
}

func TestLoadVideoErrors(t *testing.T) {
	ctx := context.Background()

	t.Run("empty folder", func(t *testing.T) {
		dir := t.TempDir()
		_, err := LoadVideo(ctx, dir)
		if !errors.Is(err, ErrNoFrames) {
			t.Fatalf("err = %v, want ErrNoFrames", err)
		}
		os.WriteFile(filepath.Join(dir, "readme.txt"), []byte("x"), 0o644)
		if _, err := LoadVideo(ctx, dir); !errors.Is(err, ErrNoFrames) || !strings.Contains(err.Error(), dir) {
			t.Fatalf("folder without frames: %v", err)
		}
		if _, err := LoadVideoFrames(ctx, nil); !errors.Is(err, ErrNoFrames) {
			t.Fatalf("LoadVideoFrames(nil): %v", err)
		}
	})

	t.Run("one frame", func(t *testing.T) {
		dir := t.TempDir()
		writePNG(t, filepath.Join(dir, "0.png"), patternRGBA(4, 4, 1))
		_, err := LoadVideo(ctx, dir)
		if !errors.Is(err, ErrTooFewFrames) {
			t.Fatalf("err = %v, want ErrTooFewFrames", err)
		}
		if _, err := LoadVideo(ctx, filepath.Join(dir, "0.png")); !errors.Is(err, ErrTooFewFrames) {
			t.Fatalf("single image path: %v", err)
		}
	})

	t.Run("corrupt frame", func(t *testing.T) {
		dir := t.TempDir()
		writePNG(t, filepath.Join(dir, "a.png"), patternRGBA(4, 4, 1))
		writePNG(t, filepath.Join(dir, "z.png"), patternRGBA(4, 4, 2))
		junk := make([]byte, 300)
		rand.New(rand.NewSource(5)).Read(junk)
		os.WriteFile(filepath.Join(dir, "x.jpg"), junk, 0o644)
		_, err := LoadVideo(ctx, dir)
		if err == nil || !strings.Contains(err.Error(), "x.jpg") {
			t.Fatalf("err = %v, want an error naming x.jpg", err)
		}
		// a JPEG cut in half: the decoder's error is wrapped
		var buf bytes.Buffer
		jpeg.Encode(&buf, patternRGBA(32, 32, 3), nil)
		os.WriteFile(filepath.Join(dir, "x.jpg"), buf.Bytes()[:buf.Len()/2], 0o644)
		_, err = LoadVideo(ctx, dir)
		if err == nil || !strings.Contains(err.Error(), "x.jpg") || errors.Unwrap(err) == nil {
			t.Fatalf("truncated JPEG: err = %v", err)
		}
		// a broken PNG
		os.Remove(filepath.Join(dir, "x.jpg"))
		var pbuf bytes.Buffer
		png.Encode(&pbuf, patternRGBA(16, 16, 3))
		b := pbuf.Bytes()
		b[len(b)/2] ^= 0xFF
		os.WriteFile(filepath.Join(dir, "m.png"), b, 0o644)
		if _, err = LoadVideo(ctx, dir); err == nil || !strings.Contains(err.Error(), "m.png") {
			t.Fatalf("corrupt PNG: err = %v", err)
		}
	})

	t.Run("mixed sizes", func(t *testing.T) {
		dir := t.TempDir()
		writePNG(t, filepath.Join(dir, "0.png"), patternRGBA(8, 6, 1))
		writePNG(t, filepath.Join(dir, "1.png"), patternRGBA(8, 6, 2))
		writePNG(t, filepath.Join(dir, "2.png"), patternRGBA(6, 8, 3))
		writePNG(t, filepath.Join(dir, "3.png"), patternRGBA(5, 5, 4))
		_, err := LoadVideo(ctx, dir)
		if !errors.Is(err, ErrMixedSizes) {
			t.Fatalf("err = %v, want ErrMixedSizes", err)
		}
		for _, s := range []string{"2.png", "6x8", "8x6", "0.png"} {
			if !strings.Contains(err.Error(), s) {
				t.Errorf("error %q does not mention %q", err, s)
			}
		}
		if strings.Contains(err.Error(), "3.png") {
			t.Errorf("error %q should name the first mismatching file only", err)
		}
	})

	t.Run("missing path", func(t *testing.T) {
		_, err := LoadVideo(ctx, filepath.Join(t.TempDir(), "nope"))
		if !errors.Is(err, fs.ErrNotExist) {
			t.Fatalf("err = %v, want fs.ErrNotExist", err)
		}
		_, err = LoadVideoFrames(ctx, []string{"/nonexistent/a.png", "/nonexistent/b.png"})
		if !errors.Is(err, fs.ErrNotExist) || !strings.Contains(err.Error(), "a.png") {
			t.Fatalf("LoadVideoFrames missing files: %v", err)
		}
	})

	t.Run("unsupported file", func(t *testing.T) {
		p := filepath.Join(t.TempDir(), "video.gif")
		os.WriteFile(p, []byte("GIF89a"), 0o644)
		if _, err := LoadVideo(ctx, p); err == nil || !strings.Contains(err.Error(), "video.gif") {
			t.Fatalf("err = %v", err)
		}
	})

	t.Run("cancelled", func(t *testing.T) {
		dir := t.TempDir()
		for _, n := range []string{"0.png", "1.png", "2.png"} {
			writePNG(t, filepath.Join(dir, n), patternRGBA(4, 4, 1))
		}
		cctx, cancel := context.WithCancel(ctx)
		cancel()
		if _, err := LoadVideo(cctx, dir); !errors.Is(err, context.Canceled) {
			t.Fatalf("err = %v, want context.Canceled", err)
		}
	})
}

func TestLoadVideoPNGKinds(t *testing.T) {
	dir := t.TempDir()
	pal := image.NewPaletted(image.Rect(0, 0, 2, 1), color.Palette{color.RGBA{200, 100, 50, 255}, color.NRGBA{1, 2, 3, 0}})
	pal.SetColorIndex(1, 0, 1)
	writePNG(t, filepath.Join(dir, "0.png"), pal)
	g := image.NewGray(image.Rect(0, 0, 2, 1))
	g.Pix = []uint8{7, 250}
	writePNG(t, filepath.Join(dir, "1.png"), g)
	g16 := image.NewRGBA64(image.Rect(0, 0, 2, 1))
	g16.SetRGBA64(0, 0, color.RGBA64{0x1234, 0xFFFF, 0x0080, 0xFFFF})
	writePNG(t, filepath.Join(dir, "2.png"), g16)
	na := image.NewNRGBA(image.Rect(0, 0, 2, 1))
	na.SetNRGBA(0, 0, color.NRGBA{90, 80, 70, 10})
	writePNG(t, filepath.Join(dir, "3.png"), na)
	v, err := LoadVideo(context.Background(), dir)
	if err != nil {
		t.Fatal(err)
	}
	want := [][]uint8{
		{200, 100, 50, 1, 2, 3},
		{7, 7, 7, 250, 250, 250},
		{0x12, 0xFF, 0x00, 0, 0, 0},
		{90, 80, 70, 0, 0, 0},
	}
	for i, w := range want {
		if !bytes.Equal(v.Frames[i].Pix, w) {
			t.Errorf("frame %d: %v, want %v", i, v.Frames[i].Pix, w)
		}
	}
}

func TestNewVideoAndResize(t *testing.T) {
	if _, err := NewVideo(nil); !errors.Is(err, ErrNoFrames) {
		t.Fatalf("NewVideo(nil): %v", err)
	}
	if _, err := NewVideo([]image.Image{patternRGBA(3, 3, 1)}); !errors.Is(err, ErrTooFewFrames) {
		t.Fatalf("NewVideo(1 image): %v", err)
	}
	if _, err := NewVideo([]image.Image{patternRGBA(3, 3, 1), patternRGBA(3, 4, 1)}); !errors.Is(err, ErrMixedSizes) || !strings.Contains(err.Error(), "frame 1") {
		t.Fatalf("NewVideo(mixed): %v", err)
	}
	if _, err := NewVideo([]image.Image{patternRGBA(3, 3, 1), nil}); err == nil {
		t.Fatal("NewVideo with nil image: no error")
	}
	// a sub-image with a non-zero origin is moved to (0, 0)
	big := patternRGBA(10, 10, 5)
	sub := big.SubImage(image.Rect(2, 3, 9, 8))
	v, err := NewVideo([]image.Image{sub, patternRGBA(7, 5, 6)})
	if err != nil {
		t.Fatal(err)
	}
	if v.Width != 7 || v.Height != 5 || v.Names[0] != "" {
		t.Fatalf("NewVideo: %dx%d names %q", v.Width, v.Height, v.Names)
	}
	if c := v.Frames[0].At(0, 0).(color.RGBA); c != (color.RGBA{5, 14, 33, 255}) {
		t.Errorf("sub-image origin: %v", c)
	}

	r, err := v.Resize(14, 4)
	if err != nil {
		t.Fatal(err)
	}
	if r.Width != 14 || r.Height != 4 || r.OrigWidth != 7 || r.OrigHeight != 5 || r.Len() != 2 {
		t.Fatalf("Resize: %dx%d orig %dx%d len %d", r.Width, r.Height, r.OrigWidth, r.OrigHeight, r.Len())
	}
	for i := range r.Frames {
		want, _ := imgproc.ResizeLanczos(v.Frames[i], 14, 4)
		if !bytes.Equal(r.Frames[i].Pix, want.Pix) {
			t.Errorf("Resize frame %d differs from ResizeLanczos", i)
		}
	}
	if v.Width != 7 || v.Frames[0].W != 7 {
		t.Error("Resize modified the source video")
	}
	if _, err := v.Resize(0, 4); err == nil {
		t.Error("Resize to 0x4: no error")
	}
}

func TestLoadVideoDAVISFrame(t *testing.T) {
	src := filepath.Join("testdata", "frames", "horsejump-high-00000.jpg")
	if _, err := os.Stat(src); err != nil {
		t.Skip(err)
	}
	f, err := LoadFrame(src)
	if err != nil {
		t.Fatal(err)
	}
	data, _ := os.ReadFile(src)
	direct, _ := imgproc.DecodeJPEG(bytes.NewReader(data))
	if f.W != 854 || f.H != 480 || !bytes.Equal(f.Pix, direct.Pix) {
		t.Fatalf("LoadFrame: %dx%d, equal to DecodeJPEG %v", f.W, f.H, bytes.Equal(f.Pix, direct.Pix))
	}
	v, err := LoadVideoFrames(context.Background(), []string{src, src})
	if err != nil {
		t.Fatal(err)
	}
	r, err := v.Resize(854, 476)
	if err != nil {
		t.Fatal(err)
	}
	x := r.Float32(1)
	if len(x) != 3*476*854 || r.OrigWidth != 854 || r.OrigHeight != 480 {
		t.Fatalf("resized: %d values, orig %dx%d", len(x), r.OrigWidth, r.OrigHeight)
	}
	for _, v := range x {
		if !(v >= 0 && v <= 1) {
			t.Fatalf("value %v outside [0,1]", v)
		}
	}
}

func TestLoadVideoFFmpeg(t *testing.T) {
	ctx := context.Background()
	dir := t.TempDir()
	movie := filepath.Join(dir, "clip.MKV")

	t.Run("missing", func(t *testing.T) {
		os.WriteFile(movie, []byte("whatever"), 0o644)
		t.Setenv("PATH", t.TempDir()) // no ffmpeg here
		_, err := LoadVideo(ctx, movie)
		if !errors.Is(err, ErrFFmpegMissing) {
			t.Fatalf("err = %v, want ErrFFmpegMissing", err)
		}
		if !strings.Contains(err.Error(), "apt-get install ffmpeg") {
			t.Errorf("error %q does not say how to install ffmpeg", err)
		}
	})

	if _, err := exec.LookPath("ffmpeg"); err != nil {
		t.Skip("ffmpeg not on PATH; round trip skipped")
	}
	if _, err := exec.LookPath("ffprobe"); err != nil {
		t.Skip("ffprobe not on PATH; round trip skipped")
	}

	t.Run("round trip", func(t *testing.T) {
		const w, h, n = 10, 6, 3
		var raw []byte
		var want []*imgproc.RGB8
		for i := 0; i < n; i++ {
			f := imgproc.FromImage(patternRGBA(w, h, uint8(40*i+3)))
			want = append(want, f)
			raw = append(raw, f.Pix...)
		}
		// FFV1 in RGB (gbrp) is lossless, so the frames must come back exactly
		cmd := exec.Command("ffmpeg", "-v", "error", "-y", "-f", "rawvideo", "-pix_fmt", "rgb24",
			"-s", "10x6", "-r", "5", "-i", "-", "-c:v", "ffv1", "-pix_fmt", "gbrp", movie)
		cmd.Stdin = bytes.NewReader(raw)
		if out, err := cmd.CombinedOutput(); err != nil {
			t.Skipf("ffmpeg cannot encode the test clip: %v: %s", err, out)
		}
		v, err := LoadVideo(ctx, movie)
		if err != nil {
			t.Fatal(err)
		}
		if v.Len() != n || v.Width != w || v.Height != h || v.Names[0] != "" {
			t.Fatalf("got %d frames %dx%d", v.Len(), v.Width, v.Height)
		}
		for i := range want {
			if !bytes.Equal(v.Frames[i].Pix, want[i].Pix) {
				t.Errorf("frame %d differs after the ffmpeg round trip", i)
			}
		}
	})

	t.Run("rotated", func(t *testing.T) {
		// a 64x32 clip flagged as rotated by 90°: ffmpeg auto-rotates, so the
		// frames are 32x64
		plain := filepath.Join(dir, "plain.mp4")
		rot := filepath.Join(dir, "rot.mp4")
		for _, args := range [][]string{
			{"-v", "error", "-y", "-f", "lavfi", "-i", "testsrc=size=64x32:rate=5", "-frames:v", "2", "-c:v", "mpeg4", plain},
			{"-v", "error", "-y", "-i", plain, "-c", "copy", "-metadata:s:v:0", "rotate=90", rot},
		} {
			if out, err := exec.Command("ffmpeg", args...).CombinedOutput(); err != nil {
				t.Skipf("ffmpeg cannot make the rotated clip: %v: %s", err, out)
			}
		}
		v, err := LoadVideo(ctx, rot)
		if err != nil {
			t.Fatal(err)
		}
		if v.Width != 32 || v.Height != 64 || v.Len() != 2 {
			t.Fatalf("rotated clip: %d frames %dx%d, want 2 of 32x64", v.Len(), v.Width, v.Height)
		}
	})

	t.Run("corrupt movie", func(t *testing.T) {
		bad := filepath.Join(dir, "bad.mp4")
		junk := make([]byte, 2000)
		rand.New(rand.NewSource(9)).Read(junk)
		os.WriteFile(bad, junk, 0o644)
		_, err := LoadVideo(ctx, bad)
		if err == nil || !strings.Contains(err.Error(), "bad.mp4") {
			t.Fatalf("err = %v, want an error naming bad.mp4", err)
		}
	})

	t.Run("cancelled", func(t *testing.T) {
		cctx, cancel := context.WithCancel(ctx)
		cancel()
		if _, err := LoadVideo(cctx, movie); err == nil {
			t.Fatal("cancelled load succeeded")
		}
	})
}
