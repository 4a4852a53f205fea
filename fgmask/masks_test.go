package fgmask

import (
	"bytes"
	"fmt"
	"image"
	"image/color"
	"image/jpeg"
	"image/png"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// moduleRoot walks up from the working directory to the directory holding go.mod.
func moduleRoot(t testing.TB) string {
	t.Helper()
	wd, err := os.Getwd()
	if err != nil {
		t.Fatal(err)
	}
	for d := wd; ; d = filepath.Dir(d) {
		if _, err := os.Stat(filepath.Join(d, "go.mod")); err == nil {
			return d
		}
		if filepath.Dir(d) == d {
			t.Fatalf("no go.mod above %s", wd)
		}
	}
}

// sharedData returns <module root>/../shared/data/<rel>, skipping the test
// when it is absent.
func sharedData(t *testing.T, rel string) string {
	t.Helper()
	p := filepath.Join(moduleRoot(t), "..", "shared", "data", rel)
	if _, err := os.Stat(p); err != nil {
		t.Skipf("shared data not available: %v", err)
	}
	return p
}

func writePNG(t *testing.T, path string, img image.Image) {
	t.Helper()
	var b bytes.Buffer
	if err := png.Encode(&b, img); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(path, b.Bytes(), 0o644); err != nil {
		t.Fatal(err)
	}
}

func writeJPEG(t *testing.T, path string, img image.Image, q int) {
	t.Helper()
	var b bytes.Buffer
	if err := jpeg.Encode(&b, img, &jpeg.Options{Quality: q}); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(path, b.Bytes(), 0o644); err != nil {
		t.Fatal(err)
	}
}

// pattern is a deterministic binary w×h mask for frame t: a rectangle that
// moves with t plus a diagonal stripe, so rows and columns all differ.
func pattern(t, w, h int) []uint8 {
	out := make([]uint8, w*h)
	for y := 0; y < h; y++ {
		for x := 0; x < w; x++ {
			in := x >= w/4+t && x < w/2+t && y >= h/3 && y < 2*h/3
			stripe := (x+2*y+t)%17 == 0
			if in || stripe {
				out[y*w+x] = 1
			}
		}
	}
	return out
}

func grey(bits []uint8, w, h int, on uint8) *image.Gray {
	g := image.NewGray(image.Rect(0, 0, w, h))
	for i, v := range bits {
		if v != 0 {
			g.Pix[i] = on
		}
	}
	return g
}

func diffCount(a, b []uint8) int {
	n := 0
	for i := range a {
		if (a[i] != 0) != (b[i] != 0) {
			n++
		}
	}
	return n
}

func TestLoadGreyscalePNG(t *testing.T) {
	dir := t.TempDir()
	const T, w, h = 3, 23, 17
	for f := 0; f < T; f++ {
		writePNG(t, filepath.Join(dir, fmt.Sprintf("%05d.png", f)), grey(pattern(f, w, h), w, h, 255))
	}
	// Not masks: ignored.
	os.WriteFile(filepath.Join(dir, "notes.txt"), []byte("x"), 0o644)
	os.Mkdir(filepath.Join(dir, "sub.png"), 0o755)
	m, err := Load(dir, T, w, h)
	if err != nil {
		t.Fatal(err)
	}
	if m.T != T || m.W != w || m.H != h || len(m.Data) != T*w*h {
		t.Fatalf("got %d×%d×%d with %d values", m.T, m.H, m.W, len(m.Data))
	}
	for f := 0; f < T; f++ {
		want := pattern(f, w, h)
		for i, v := range m.Frame(f) {
			if v != want[i] {
				t.Fatalf("frame %d pixel %d: got %d want %d", f, i, v, want[i])
			}
		}
	}
	// Any nonzero grey level is foreground in a PNG.
	dir2 := t.TempDir()
	writePNG(t, filepath.Join(dir2, "a.png"), grey(pattern(0, w, h), w, h, 1))
	m2, err := Load(dir2, 1, w, h)
	if err != nil {
		t.Fatal(err)
	}
	if d := diffCount(m2.Data, pattern(0, w, h)); d != 0 {
		t.Fatalf("grey level 1: %d pixels differ", d)
	}
}

func TestLoadPalettePNGUsesIndex(t *testing.T) {
	// Index 0 is background but drawn in a bright colour; index 1 is an
	// instance drawn in black. Only the index must matter.
	pal := color.Palette{
		color.RGBA{200, 60, 60, 255}, // 0: background, not black
		color.RGBA{0, 0, 0, 255},     // 1: instance 1, black
		color.RGBA{0, 128, 0, 255},   // 2: instance 2
	}
	const w, h = 9, 5
	img := image.NewPaletted(image.Rect(0, 0, w, h), pal)
	want := make([]uint8, w*h)
	for y := 0; y < h; y++ {
		for x := 0; x < w; x++ {
			idx := uint8(0)
			switch {
			case x < 3 && y < 3:
				idx = 1
			case x >= 6:
				idx = 2
			}
			img.SetColorIndex(x, y, idx)
			if idx != 0 {
				want[y*w+x] = 1
			}
		}
	}
	dir := t.TempDir()
	writePNG(t, filepath.Join(dir, "00000.png"), img)
	// Check the file really is palette-indexed.
	raw, _ := os.ReadFile(filepath.Join(dir, "00000.png"))
	if dec, _ := png.Decode(bytes.NewReader(raw)); func() bool { _, ok := dec.(*image.Paletted); return !ok }() {
		t.Fatalf("encoder did not write a palette PNG (%T)", dec)
	}
	m, err := Load(dir, 1, w, h)
	if err != nil {
		t.Fatal(err)
	}
	for i := range want {
		if m.Data[i] != want[i] {
			t.Fatalf("pixel %d: got %d want %d (index, not colour, decides)", i, m.Data[i], want[i])
		}
	}
}

func TestLoadOtherPNGKinds(t *testing.T) {
	const w, h = 4, 1
	dir := t.TempDir()
	// 16-bit grey: value 1 of 65535 is still nonzero.
	g16 := image.NewGray16(image.Rect(0, 0, w, h))
	g16.SetGray16(1, 0, color.Gray16{Y: 1})
	g16.SetGray16(3, 0, color.Gray16{Y: 65535})
	writePNG(t, filepath.Join(dir, "0.png"), g16)
	// Colour with alpha: luma as PIL's convert("L"), alpha ignored. (0,0,1)
	// has luma 0 (PIL rounds 7471/65536 down), so it is background.
	c := image.NewNRGBA(image.Rect(0, 0, w, h))
	c.SetNRGBA(0, 0, color.NRGBA{0, 0, 0, 255})
	c.SetNRGBA(1, 0, color.NRGBA{255, 0, 0, 0})
	c.SetNRGBA(2, 0, color.NRGBA{0, 0, 1, 255})
	c.SetNRGBA(3, 0, color.NRGBA{0, 0, 9, 255})
	writePNG(t, filepath.Join(dir, "1.png"), c)
	m, err := Load(dir, 2, w, h)
	if err != nil {
		t.Fatal(err)
	}
	want := []uint8{0, 1, 0, 1, 0, 1, 0, 1}
	for i := range want {
		if m.Data[i] != want[i] {
			t.Fatalf("got %v want %v", m.Data, want)
		}
	}
}

func TestLoadJPEG(t *testing.T) {
	const T, w, h = 2, 64, 48
	dir := t.TempDir()
	for f := 0; f < T; f++ {
		bits := pattern(f, w, h)
		name := fmt.Sprintf("%05d.jpg", f)
		if f == 1 {
			// A colour JPEG (white on black, chroma subsampled), extension
			// in upper case.
			rgba := image.NewRGBA(image.Rect(0, 0, w, h))
			for i, v := range bits {
				rgba.Pix[4*i+3] = 255
				if v != 0 {
					rgba.Pix[4*i], rgba.Pix[4*i+1], rgba.Pix[4*i+2] = 255, 255, 255
				}
			}
			writeJPEG(t, filepath.Join(dir, "00001.JPEG"), rgba, 75)
			continue
		}
		writeJPEG(t, filepath.Join(dir, name), grey(bits, w, h, 255), 75)
	}
	m, err := Load(dir, T, w, h)
	if err != nil {
		t.Fatal(err)
	}
	for f := 0; f < T; f++ {
		if d := diffCount(m.Frame(f), pattern(f, w, h)); d != 0 {
			t.Errorf("frame %d: %d pixels differ from the 0/255 mask the JPEG encodes", f, d)
		}
	}
	// The reason for the threshold: the ringing leaves small nonzero
	// values in the background that a > 0 rule would call foreground.
	raw, _ := os.ReadFile(filepath.Join(dir, "00000.jpg"))
	img, err := jpeg.Decode(bytes.NewReader(raw))
	if err != nil {
		t.Fatal(err)
	}
	noisy := 0
	for _, v := range img.(*image.Gray).Pix {
		if v > 0 && v <= JPEGThreshold {
			noisy++
		}
	}
	if noisy == 0 {
		t.Log("no JPEG ringing in the test image; the threshold is not exercised")
	} else {
		t.Logf("%d of %d pixels are in (0, %d]: background under > 127, foreground under > 0", noisy, w*h, JPEGThreshold)
	}
}

func TestNearestIndex(t *testing.T) {
	// Hand-made 2×3 mask (rows "abc"/"def") resized to 5×4:
	// rows: scale 2/5=0.4 → floor(0, .4, .8, 1.2, 1.6) = 0 0 0 1 1
	// cols: scale 3/4=0.75 → floor(0, .75, 1.5, 2.25) = 0 0 1 2
	src := []uint8{1, 0, 1, 0, 1, 0}
	want := []uint8{
		1, 1, 0, 1,
		1, 1, 0, 1,
		1, 1, 0, 1,
		0, 0, 1, 0,
		0, 0, 1, 0,
	}
	dst := make([]uint8, 20)
	resizeNearest(dst, src, 3, nearestTable(2, 5), nearestTable(3, 4))
	for i := range want {
		if dst[i] != want[i] {
			t.Fatalf("upsample: got %v want %v", dst, want)
		}
	}
	// Downsampling 7 → 3: scale 7/3 → floor(0, 2.33, 4.67) = 0 2 4.
	if got := nearestTable(7, 3); got[0] != 0 || got[1] != 2 || got[2] != 4 {
		t.Fatalf("7→3: %v", got)
	}
	// Exact doubling and identity take PyTorch's shortcuts.
	for j := 0; j < 10; j++ {
		if nearestIndex(j, 5, 10) != j/2 || nearestIndex(j, 10, 10) != j {
			t.Fatal("shortcuts")
		}
	}
	// float32 rounding as PyTorch: 2/82 in float32 times 41 is just
	// below 1, so output 41 reads input 0, not the exact floor 1.
	if got := nearestIndex(41, 2, 82); got != 0 {
		t.Fatalf("nearestIndex(41, 2, 82) = %d, want 0 (PyTorch float32 rule)", got)
	}
	// Never past the end.
	for _, p := range [][2]int{{67, 476}, {121, 854}, {480, 476}, {1152, 854}, {3, 1000}} {
		tab := nearestTable(p[0], p[1])
		if tab[len(tab)-1] != p[0]-1 && p[1] > p[0] {
			t.Errorf("%d→%d: last output reads %d", p[0], p[1], tab[len(tab)-1])
		}
		for j := 1; j < len(tab); j++ {
			if tab[j] < tab[j-1] || tab[j] >= p[0] {
				t.Fatalf("%d→%d: table not monotone in range at %d", p[0], p[1], j)
			}
		}
	}
	// Load resizes with the same rule.
	dir := t.TempDir()
	writePNG(t, filepath.Join(dir, "m.png"), grey(src, 3, 2, 255))
	m, err := Load(dir, 1, 4, 5)
	if err != nil {
		t.Fatal(err)
	}
	for i := range want {
		if m.Data[i] != want[i] {
			t.Fatalf("Load resize: got %v want %v", m.Data, want)
		}
	}
}

func TestLoadErrors(t *testing.T) {
	const w, h = 8, 6
	mk := func(t *testing.T, files map[string][]byte) string {
		dir := t.TempDir()
		for name, b := range files {
			if err := os.WriteFile(filepath.Join(dir, name), b, 0o644); err != nil {
				t.Fatal(err)
			}
		}
		return dir
	}
	pngBytes := func(w, h int) []byte {
		var b bytes.Buffer
		png.Encode(&b, grey(pattern(0, w, h), w, h, 255))
		return b.Bytes()
	}
	good := pngBytes(w, h)
	cases := []struct {
		name  string
		dir   func(t *testing.T) string
		T     int
		wants []string
	}{
		{"missing dir", func(t *testing.T) string { return filepath.Join(t.TempDir(), "nope") }, 1, []string{"mask folder", "nope"}},
		{"no mask files", func(t *testing.T) string { return mk(t, map[string][]byte{"a.txt": nil, "b.bmp": good}) }, 1, []string{"no mask files"}},
		{"too few", func(t *testing.T) string { return mk(t, map[string][]byte{"0.png": good, "1.png": good}) }, 3, []string{"2 mask files", "3 frames"}},
		{"too many", func(t *testing.T) string { return mk(t, map[string][]byte{"0.png": good, "1.png": good}) }, 1, []string{"2 mask files", "1 frames"}},
		{"sizes differ", func(t *testing.T) string {
			return mk(t, map[string][]byte{"0.png": good, "1.png": good, "2.png": pngBytes(w+1, h)})
		}, 3, []string{"differ in size", "0.png is 8×6", "2.png is 9×6"}},
		{"corrupt", func(t *testing.T) string {
			return mk(t, map[string][]byte{"0.png": good, "1.png": good[:len(good)/2]})
		}, 2, []string{"1.png"}},
		{"not an image", func(t *testing.T) string { return mk(t, map[string][]byte{"0.jpg": []byte("hello")}) }, 1, []string{"0.jpg"}},
		{"bad T", func(t *testing.T) string { return mk(t, map[string][]byte{"0.png": good}) }, 0, []string{"T=0"}},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			dir := c.dir(t)
			_, err := Load(dir, c.T, w, h)
			if err == nil {
				t.Fatal("no error")
			}
			for _, s := range c.wants {
				if !strings.Contains(err.Error(), s) {
					t.Errorf("error %q does not mention %q", err, s)
				}
			}
		})
	}
	if _, err := Load(t.TempDir(), 1, 0, 5); err == nil {
		t.Error("zero width accepted")
	}
}

func TestWriteDirRoundTrip(t *testing.T) {
	const T, w, h = 3, 31, 13
	m := New(T, h, w)
	for f := 0; f < T; f++ {
		copy(m.Frame(f), pattern(f, w, h))
	}
	dir := filepath.Join(t.TempDir(), "out", "masks")
	if err := m.WriteDir(dir); err != nil {
		t.Fatal(err)
	}
	entries, _ := os.ReadDir(dir)
	if len(entries) != T || entries[0].Name() != "00000.png" || entries[2].Name() != "00002.png" {
		t.Fatalf("files: %v", entries)
	}
	raw, _ := os.ReadFile(filepath.Join(dir, "00001.png"))
	img, err := png.Decode(bytes.NewReader(raw))
	if err != nil {
		t.Fatal(err)
	}
	g, ok := img.(*image.Gray)
	if !ok {
		t.Fatalf("written as %T, want greyscale", img)
	}
	for _, v := range g.Pix {
		if v != 0 && v != 255 {
			t.Fatalf("value %d, want 0/255", v)
		}
	}
	back, err := Load(dir, T, w, h)
	if err != nil {
		t.Fatal(err)
	}
	if d := diffCount(back.Data, m.Data); d != 0 {
		t.Fatalf("%d pixels changed on the round trip", d)
	}
	// Overwriting works too.
	if err := m.WriteDir(dir); err != nil {
		t.Fatal(err)
	}
	bad := &Masks{T: 2, H: 2, W: 2, Data: make([]uint8, 3)}
	if err := bad.WriteDir(t.TempDir()); err == nil {
		t.Fatal("inconsistent Masks written")
	}
}

func TestMasksAccessors(t *testing.T) {
	m := New(2, 3, 4)
	m.Data[(1*3+2)*4+3] = 1
	if !m.At(1, 3, 2) || m.At(0, 3, 2) || m.At(1, 4, 2) || m.At(2, 0, 0) || m.At(-1, 0, 0) {
		t.Fatal("At")
	}
	if got := m.Fraction(); got != 1.0/24 {
		t.Fatalf("Fraction = %v", got)
	}
}

// TestLoadHorsejump loads the reference's demo masks (854×480, 0/255 PNG)
// at the model resolution 476×854.
func TestLoadHorsejump(t *testing.T) {
	dir := sharedData(t, "horsejump-50f/masks")
	m, err := Load(dir, 50, 854, 476)
	if err != nil {
		t.Fatal(err)
	}
	native, err := Load(dir, 50, 854, 480)
	if err != nil {
		t.Fatal(err)
	}
	f, fn := m.Fraction(), native.Fraction()
	t.Logf("horsejump foreground: %.4f at 476×854, %.4f at 480×854", f, fn)
	if f < 0.01 || f > 0.5 {
		t.Errorf("foreground fraction %.4f is not plausible for a horse and rider", f)
	}
	if d := f - fn; d > 0.002 || d < -0.002 {
		t.Errorf("resizing 480→476 rows changed the fraction by %.4f", d)
	}
	for ti := 0; ti < m.T; ti++ {
		n := 0
		for _, v := range m.Frame(ti) {
			n += int(v)
		}
		if n == 0 {
			t.Errorf("frame %d has no foreground", ti)
		}
	}
	// Row y of the resized masks is row floor(y·480/476) of the originals.
	for _, y := range []int{0, 100, 237, 475} {
		sy := nearestIndex(y, 480, 476)
		for x := 0; x < 854; x++ {
			if m.Data[(10*476+y)*854+x] != native.Data[(10*480+sy)*854+x] {
				t.Fatalf("row %d does not copy source row %d", y, sy)
			}
		}
	}
}

// TestLoadDAVISPalette loads TAP-Vid DAVIS masks, some palette-indexed
// with instance ids, some greyscale.
func TestLoadDAVISPalette(t *testing.T) {
	base := sharedData(t, "tapvid-davis-32f/videos")
	for _, v := range []string{"6", "19", "2"} {
		dir := filepath.Join(base, v, "masks")
		raw, err := os.ReadFile(filepath.Join(dir, "00000.png"))
		if err != nil {
			t.Fatal(err)
		}
		img, err := png.Decode(bytes.NewReader(raw))
		if err != nil {
			t.Fatal(err)
		}
		m, err := Load(dir, 32, 854, 476)
		if err != nil {
			t.Fatal(err)
		}
		f := m.Fraction()
		t.Logf("video %s (%T): foreground %.4f", v, img, f)
		if f < 0.005 || f > 0.8 {
			t.Errorf("video %s: implausible foreground fraction %.4f", v, f)
		}
		if p, ok := img.(*image.Paletted); ok {
			// Compare frame 0 at native size with "index > 0".
			b := p.Bounds()
			nat, err := Load(dir, 32, b.Dx(), b.Dy())
			if err != nil {
				t.Fatal(err)
			}
			for i, idx := range p.Pix {
				if (idx != 0) != (nat.Data[i] != 0) {
					t.Fatalf("video %s pixel %d: index %d gives %d", v, i, idx, nat.Data[i])
				}
			}
		}
	}
}
