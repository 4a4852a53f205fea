package imgproc

import (
	"bytes"
	"crypto/sha256"
	"encoding/hex"
	"image"
	"image/color"
	"image/jpeg"
	"math"
	"math/rand"
	"os"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"testing"

	"dinotracker/internal/golden"
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

// testJPEG is the copy of the golden's input frame (DAVIS horsejump-high 00000).
const testJPEG = "testdata/frames/horsejump-high-00000.jpg"

// u8Image reads a U8 [H, W, 3] golden tensor as an RGB8.
func u8Image(t *testing.T, c *golden.Case, name string) *RGB8 {
	t.Helper()
	x := c.Tensor(t, name)
	if x.DType != "U8" || len(x.Shape) != 3 || x.Shape[2] != 3 {
		t.Fatalf("%s: dtype %s shape %v, want U8 [H,W,3]", name, x.DType, x.Shape)
	}
	return &RGB8{W: x.Shape[1], H: x.Shape[0], Pix: x.Raw}
}

// levelStats compares two 8-bit images value by value.
type levelStats struct {
	n, gt0, gt1, max int
}

func compareLevels(got, want *RGB8) levelStats {
	var s levelStats
	s.n = len(want.Pix)
	for i, w := range want.Pix {
		d := int(got.Pix[i]) - int(w)
		if d < 0 {
			d = -d
		}
		if d > 0 {
			s.gt0++
		}
		if d > 1 {
			s.gt1++
		}
		s.max = max(s.max, d)
	}
	return s
}

func (s levelStats) within1() float64 { return 1 - float64(s.gt1)/float64(s.n) }

// tolerance reads "... <= 1e-5" from case.json's suggested_tolerance[key].
func tolerance(c *golden.Case, key string, def float64) float64 {
	v, ok := c.Path("suggested_tolerance", key)
	if !ok {
		return def
	}
	s, _ := v.(string)
	m := regexp.MustCompile(`<=\s*([0-9.eE+-]+)`).FindStringSubmatch(s)
	if m == nil {
		return def
	}
	f, err := strconv.ParseFloat(m[1], 64)
	if err != nil {
		return def
	}
	return f
}

// meaning returns the "meaning" text of a tensor in case.json.
func meaning(c *golden.Case, name string) string {
	v, _ := c.Path("files", "tensors.safetensors", name, "meaning")
	s, _ := v.(string)
	return s
}

func TestResizeGolden(t *testing.T) {
	golden.ForEach(t, "resize_", func(t *testing.T, c *golden.Case) {
		src := u8Image(t, c, "src_rgb")
		if wh, ok := c.Ints("input", "size_WxH"); ok && (wh[0] != src.W || wh[1] != src.H) {
			t.Fatalf("src_rgb is %dx%d, case.json input says %v", src.W, src.H, wh)
		}
		names := c.File.Names()

		t.Run("lanczos_from_src_rgb", func(t *testing.T) {
			found := 0
			for _, name := range names {
				if !strings.HasPrefix(name, "lanczos_") {
					continue
				}
				found++
				want := u8Image(t, c, name)
				got, err := ResizeLanczos(src, want.W, want.H)
				if err != nil {
					t.Fatal(err)
				}
				s := compareLevels(got, want)
				if s.gt0 != 0 {
					t.Errorf("%s: %d of %d values differ from PIL (max %d); want bit-exact", name, s.gt0, s.n, s.max)
				} else {
					t.Logf("%s: %dx%d bit-exact (%d values)", name, want.W, want.H, s.n)
				}
			}
			if found == 0 {
				t.Fatal("no lanczos_* tensors in the case")
			}
		})

		in, inShape := c.F32(t, "interp_in")
		ch, h, w := inShape[1], inShape[2], inShape[3]
		tolBilinear := tolerance(c, "bilinear", 1e-5)
		tolBicubic := tolerance(c, "bicubic", 3e-5)

		for _, ac := range []bool{false, true} {
			name := "bilinear_ac_false"
			if ac {
				name = "bilinear_ac_true"
			}
			want, shape := c.F32(t, name)
			got := ResizeBilinear(in, ch, h, w, shape[2], shape[3], ac)
			golden.Close(t, name, got, want, tolBilinear)
		}
		{
			want, shape := c.F32(t, "bicubic_size_ac_false")
			got := ResizeBicubic(in, ch, h, w, shape[2], shape[3], false)
			golden.Close(t, "bicubic_size_ac_false", got, want, tolBicubic)
		}

		pos, posShape := c.F32(t, "pos_grid_in")
		pc, ph, pw := posShape[1], posShape[2], posShape[3]
		sfRe := regexp.MustCompile(`scale_factor=\(([0-9.]+), ([0-9.]+)\)`)
		for _, name := range []string{"bicubic_fixposenc_small", "bicubic_fixposenc_476x854"} {
			want, shape := c.F32(t, name)
			// DINO-Tracker's _fix_pos_enc: sf = (h'+0.1)/37, (w'+0.1)/37
			sh := (float64(shape[2]) + 0.1) / float64(ph)
			sw := (float64(shape[3]) + 0.1) / float64(pw)
			if m := sfRe.FindStringSubmatch(meaning(c, name)); m != nil {
				a, _ := strconv.ParseFloat(m[1], 64)
				b, _ := strconv.ParseFloat(m[2], 64)
				if a != sh || b != sw {
					t.Errorf("%s: case.json scale_factor (%v, %v), (h'+0.1)/37 rule gives (%v, %v)", name, a, b, sh, sw)
				}
			}
			got, oh, ow := ResizeBicubicScale(pos, pc, ph, pw, sh, sw)
			if oh != shape[2] || ow != shape[3] {
				t.Fatalf("%s: output %dx%d, golden %dx%d", name, oh, ow, shape[2], shape[3])
			}
			golden.Close(t, name, got, want, tolBicubic)
			// the by-size resize (scale in/out) is the classic mistake: it must
			// be far off, or this golden would not test the rule at all
			wrong := ResizeBicubic(pos, pc, ph, pw, oh, ow, false)
			if d := golden.Compare32(wrong, want); d.MaxAbs < 10*tolBicubic {
				t.Errorf("%s: by-size resize is also within %v; golden does not discriminate", name, d.MaxAbs)
			}
		}

		t.Run("jpeg_decode", func(t *testing.T) {
			path := filepath.Join(moduleRoot(t), testJPEG)
			data, err := os.ReadFile(path)
			if err != nil {
				t.Skipf("test frame missing: %v", err)
			}
			if v, ok := c.Path("input", "jpeg_sha256"); ok {
				sum := sha256.Sum256(data)
				if hex.EncodeToString(sum[:]) != v.(string) {
					t.Fatalf("%s is not the golden's input JPEG (sha256 mismatch)", path)
				}
			}
			dec, err := DecodeJPEG(bytes.NewReader(data))
			if err != nil {
				t.Fatal(err)
			}
			if dec.W != src.W || dec.H != src.H {
				t.Fatalf("decoded %dx%d, want %dx%d", dec.W, dec.H, src.W, src.H)
			}
			s := compareLevels(dec, src)
			t.Logf("decode vs PIL: max %d, %.4f%% within 1 level, %.4f%% exact", s.max, 100*s.within1(), 100*(1-float64(s.gt0)/float64(s.n)))
			if s.within1() < 0.997 || s.max > 4 {
				t.Errorf("decode vs PIL: max %d, %.4f%% within 1 level; want ≥99.7%% and max ≤4", s.max, 100*s.within1())
			}
			// plain image/jpeg RGB, for the record
			img, _ := jpeg.Decode(bytes.NewReader(data))
			plain := NewRGB8(src.W, src.H)
			for y := 0; y < src.H; y++ {
				for x := 0; x < src.W; x++ {
					r, g, b, _ := img.At(x, y).RGBA()
					plain.Set(x, y, uint8(r>>8), uint8(g>>8), uint8(b>>8))
				}
			}
			ps := compareLevels(plain, src)
			t.Logf("plain image/jpeg vs PIL: max %d, %.4f%% within 1 level", ps.max, 100*ps.within1())

			for _, name := range names {
				if !strings.HasPrefix(name, "lanczos_") {
					continue
				}
				want := u8Image(t, c, name)
				got, err := ResizeLanczos(dec, want.W, want.H)
				if err != nil {
					t.Fatal(err)
				}
				s := compareLevels(got, want)
				t.Logf("decode+%s vs PIL: max %d, %.4f%% within 1 level", name, s.max, 100*s.within1())
				if s.within1() < 0.998 {
					t.Errorf("decode+%s: %.4f%% within 1 level, want ≥99.8%%", name, 100*s.within1())
				}
			}
		})
	})
}

// naiveLanczos is a direct, unoptimised transcription of Pillow's resample
// (per pixel, per channel) used to cross-check the fast loops.
func naiveLanczos(src *RGB8, w, h int) *RGB8 {
	pass := func(in *RGB8, outW, outH int, horizontal bool) *RGB8 {
		out := NewRGB8(outW, outH)
		inSize, outSize := in.W, outW
		if !horizontal {
			inSize, outSize = in.H, outH
		}
		scale := float64(inSize) / float64(outSize)
		fs := math.Max(scale, 1)
		support := 3 * fs
		for o := 0; o < outSize; o++ {
			center := (float64(o) + 0.5) * scale
			lo := max(int(center-support+0.5), 0)
			hi := min(int(center+support+0.5), inSize)
			var ws []float64
			sum := 0.0
			for x := lo; x < hi; x++ {
				v := lanczos3((float64(x) - center + 0.5) / fs)
				ws = append(ws, v)
				sum += v
			}
			ks := make([]int64, len(ws))
			for i, v := range ws {
				v /= sum
				ks[i] = int64(math.Round(v * (1 << 22))) // half away from zero
			}
			other := outH
			if !horizontal {
				other = outW
			}
			for p := 0; p < other; p++ {
				for ch := 0; ch < 3; ch++ {
					acc := int64(1 << 21)
					for i, k := range ks {
						var px uint8
						if horizontal {
							px = in.Pix[3*(p*in.W+lo+i)+ch]
						} else {
							px = in.Pix[3*((lo+i)*in.W+p)+ch]
						}
						acc += int64(px) * k
					}
					v := min(max(acc>>22, 0), 255)
					if horizontal {
						out.Pix[3*(p*outW+o)+ch] = uint8(v)
					} else {
						out.Pix[3*(o*outW+p)+ch] = uint8(v)
					}
				}
			}
		}
		return out
	}
	cur := src
	if w != cur.W {
		cur = pass(cur, w, cur.H, true)
	}
	if h != cur.H {
		cur = pass(cur, cur.W, h, false)
	}
	return cur
}

func randomRGB8(rng *rand.Rand, w, h int) *RGB8 {
	m := NewRGB8(w, h)
	for i := range m.Pix {
		m.Pix[i] = uint8(rng.Intn(256))
	}
	return m
}

func TestResizeLanczosEdgeCases(t *testing.T) {
	rng := rand.New(rand.NewSource(1))
	sizes := [][4]int{ // in W, H → out W, H
		{1, 1, 1, 1}, {1, 1, 5, 3}, {5, 3, 1, 1}, {7, 5, 7, 5}, {7, 5, 13, 11}, {13, 11, 7, 5},
		{17, 9, 4, 23}, {3, 40, 41, 2}, {101, 67, 37, 29}, {2, 2, 3, 3}, {64, 48, 64, 47}, {64, 48, 63, 48},
		{640, 3, 17, 3}, {5, 640, 5, 17},
	}
	for _, s := range sizes {
		src := randomRGB8(rng, s[0], s[1])
		got, err := ResizeLanczos(src, s[2], s[3])
		if err != nil {
			t.Fatal(err)
		}
		if got.W != s[2] || got.H != s[3] || len(got.Pix) != 3*s[2]*s[3] {
			t.Fatalf("%v: got %dx%d with %d bytes", s, got.W, got.H, len(got.Pix))
		}
		want := naiveLanczos(src, s[2], s[3])
		if st := compareLevels(got, want); st.gt0 != 0 {
			t.Errorf("%v: %d values differ from the naive port (max %d)", s, st.gt0, st.max)
		}
		if s[0] == s[2] && s[1] == s[3] {
			if !bytes.Equal(got.Pix, src.Pix) {
				t.Errorf("%v: identity resize changed the image", s)
			}
			if &got.Pix[0] == &src.Pix[0] {
				t.Errorf("%v: identity resize must return a copy", s)
			}
		}
		// a constant image stays constant
		cst := NewRGB8(s[0], s[1])
		for i := range cst.Pix {
			cst.Pix[i] = []uint8{0, 255, 77}[i%3]
		}
		cg, _ := ResizeLanczos(cst, s[2], s[3])
		for i, v := range cg.Pix {
			if v != []uint8{0, 255, 77}[i%3] {
				t.Fatalf("%v: constant image changed at %d: %d", s, i, v)
			}
		}
	}
	// 1×1 source: every output pixel is the source pixel
	one := &RGB8{W: 1, H: 1, Pix: []uint8{9, 200, 31}}
	up, _ := ResizeLanczos(one, 4, 6)
	for i, v := range up.Pix {
		if v != one.Pix[i%3] {
			t.Fatalf("1x1 upscale: value %d at %d", v, i)
		}
	}
	for _, bad := range [][2]int{{0, 5}, {5, 0}, {-1, 3}} {
		if _, err := ResizeLanczos(one, bad[0], bad[1]); err == nil {
			t.Errorf("ResizeLanczos to %v: no error", bad)
		}
	}
	if _, err := ResizeLanczos(&RGB8{W: 2, H: 2, Pix: make([]uint8, 5)}, 3, 3); err == nil {
		t.Error("malformed RGB8: no error")
	}
	if _, err := ResizeLanczos(NewRGB8(0, 0), 3, 3); err == nil {
		t.Error("empty RGB8: no error")
	}
}

func TestInterpEdgeCases(t *testing.T) {
	rng := rand.New(rand.NewSource(2))
	src := make([]float32, 2*5*7)
	for i := range src {
		src[i] = float32(rng.NormFloat64())
	}
	// identity size: exact copies
	for _, ac := range []bool{false, true} {
		if got := ResizeBilinear(src, 2, 5, 7, 5, 7, ac); !equal32(got, src) {
			t.Errorf("bilinear identity (ac=%v) changed values", ac)
		}
		if got := ResizeBicubic(src, 2, 5, 7, 5, 7, ac); !equal32(got, src) {
			t.Errorf("bicubic identity (ac=%v) changed values", ac)
		}
	}
	if got, oh, ow := ResizeBicubicScale(src, 2, 5, 7, 1, 1); oh != 5 || ow != 7 || !equal32(got, src) {
		t.Errorf("bicubic scale 1: %dx%d, equal %v", oh, ow, equal32(got, src))
	}
	// 1×1 input: constant output
	one := []float32{3.5, -2}
	for _, ac := range []bool{false, true} {
		for _, got := range [][]float32{
			ResizeBilinear(one, 2, 1, 1, 3, 4, ac),
			ResizeBicubic(one, 2, 1, 1, 3, 4, ac),
		} {
			for i, v := range got {
				if math.Abs(float64(v-one[i/12])) > 1e-5 {
					t.Fatalf("1x1 → 3x4 (ac=%v): value %v at %d", ac, v, i)
				}
			}
		}
	}
	// output 1×1 with align_corners: the corner value
	if got := ResizeBilinear(src, 2, 5, 7, 1, 1, true); got[0] != src[0] || got[1] != src[35] {
		t.Errorf("bilinear to 1x1 ac=true: %v", got)
	}
	// align_corners=True keeps the corners exactly
	up := ResizeBilinear(src, 2, 5, 7, 9, 13, true)
	if up[0] != src[0] || up[12] != src[6] || up[9*13-1] != src[34] {
		t.Errorf("bilinear ac=true corners: %v %v %v", up[0], up[12], up[9*13-1])
	}
	// bicubic scale sizes are floor(in·sf)
	if _, oh, ow := ResizeBicubicScale(make([]float32, 37*37), 1, 37, 37, 67.1/37, 121.1/37); oh != 67 || ow != 121 {
		t.Errorf("fix_pos_enc size: %dx%d, want 67x121", oh, ow)
	}
	// a linear ramp along x is reproduced by bilinear in the interior
	ramp := make([]float32, 4*8)
	for y := 0; y < 4; y++ {
		for x := 0; x < 8; x++ {
			ramp[y*8+x] = float32(x)
		}
	}
	r := ResizeBilinear(ramp, 1, 4, 8, 4, 16, true)
	for x := 0; x < 16; x++ {
		if want := float32(x) * 7 / 15; math.Abs(float64(r[x]-want)) > 1e-5 {
			t.Errorf("ramp ac=true x=%d: %v, want %v", x, r[x], want)
		}
	}
	mustPanic(t, "bad length", func() { ResizeBilinear(src[:3], 2, 5, 7, 3, 3, false) })
	mustPanic(t, "zero size", func() { ResizeBicubic(src, 2, 5, 7, 0, 3, false) })
	mustPanic(t, "bad factor", func() { ResizeBicubicScale(src, 2, 5, 7, 0, 1) })
	mustPanic(t, "empty output", func() { ResizeBicubicScale(src, 2, 5, 7, 0.1, 1) })
}

func mustPanic(t *testing.T, what string, fn func()) {
	t.Helper()
	defer func() {
		if recover() == nil {
			t.Errorf("%s: no panic", what)
		}
	}()
	fn()
}

func equal32(a, b []float32) bool {
	if len(a) != len(b) {
		return false
	}
	for i := range a {
		if a[i] != b[i] {
			return false
		}
	}
	return true
}

func TestFromImageAndFloat32(t *testing.T) {
	rgba := image.NewRGBA(image.Rect(2, 3, 5, 5))
	rgba.Set(2, 3, color.RGBA{10, 20, 30, 255})
	rgba.Set(4, 4, color.RGBA{255, 0, 128, 255})
	m := FromImage(rgba)
	if m.W != 3 || m.H != 2 {
		t.Fatalf("size %dx%d", m.W, m.H)
	}
	if c := m.At(0, 0).(color.RGBA); c != (color.RGBA{10, 20, 30, 255}) {
		t.Errorf("At(0,0) = %v", c)
	}
	if c := m.At(2, 1).(color.RGBA); c != (color.RGBA{255, 0, 128, 255}) {
		t.Errorf("At(2,1) = %v", c)
	}
	gray := image.NewGray(image.Rect(0, 0, 2, 1))
	gray.Pix[1] = 99
	if g := FromImage(gray); !bytes.Equal(g.Pix, []uint8{0, 0, 0, 99, 99, 99}) {
		t.Errorf("gray: %v", g.Pix)
	}
	pal := image.NewPaletted(image.Rect(0, 0, 1, 1), color.Palette{color.NRGBA{1, 2, 3, 0}})
	if p := FromImage(pal); !bytes.Equal(p.Pix, []uint8{1, 2, 3}) {
		t.Errorf("paletted with transparent entry: %v", p.Pix)
	}
	g16 := image.NewGray16(image.Rect(0, 0, 1, 1))
	g16.SetGray16(0, 0, color.Gray16{0xABCD})
	if p := FromImage(g16); !bytes.Equal(p.Pix, []uint8{0xAB, 0xAB, 0xAB}) {
		t.Errorf("gray16: %v", p.Pix)
	}
	f := m.Float32CHW(nil)
	if len(f) != 18 || f[0] != float32(10)/255 || f[6] != float32(20)/255 || f[12+5] != float32(128)/255 {
		t.Errorf("Float32CHW: %v", f)
	}
	back := FromImage(m.ToRGBA())
	if !bytes.Equal(back.Pix, m.Pix) {
		t.Error("ToRGBA round trip")
	}
}

func TestDecodeJPEGSubsampling(t *testing.T) {
	// Encode a smooth image with image/jpeg (4:2:0) and check the fancy
	// decode is close to the original and at least as close as replication.
	w, h := 37, 23
	src := image.NewRGBA(image.Rect(0, 0, w, h))
	for y := 0; y < h; y++ {
		for x := 0; x < w; x++ {
			src.Set(x, y, color.RGBA{uint8(7 * x), uint8(11 * y), uint8(3*x + 5*y), 255})
		}
	}
	var buf bytes.Buffer
	if err := jpeg.Encode(&buf, src, &jpeg.Options{Quality: 100}); err != nil {
		t.Fatal(err)
	}
	dec, err := DecodeJPEG(bytes.NewReader(buf.Bytes()))
	if err != nil {
		t.Fatal(err)
	}
	if dec.W != w || dec.H != h {
		t.Fatalf("size %dx%d", dec.W, dec.H)
	}
	s := compareLevels(dec, FromImage(src))
	if s.max > 12 {
		t.Errorf("fancy decode of a smooth image: max diff %d", s.max)
	}
	// synthetic YCbCr planes for each ratio: constant chroma must give the
	// libjpeg colour of that constant everywhere
	for _, r := range []image.YCbCrSubsampleRatio{
		image.YCbCrSubsampleRatio444, image.YCbCrSubsampleRatio422, image.YCbCrSubsampleRatio420,
		image.YCbCrSubsampleRatio440, image.YCbCrSubsampleRatio411, image.YCbCrSubsampleRatio410,
	} {
		for _, sz := range [][2]int{{1, 1}, {2, 2}, {3, 3}, {9, 7}, {16, 16}} {
			m := image.NewYCbCr(image.Rect(0, 0, sz[0], sz[1]), r)
			for i := range m.Y {
				m.Y[i] = 100
			}
			for i := range m.Cb {
				m.Cb[i], m.Cr[i] = 90, 170
			}
			out := YCbCrToRGB8(m)
			rr, gg, bb := yccToRGB(100, 90, 170)
			for i := 0; i < len(out.Pix); i += 3 {
				if out.Pix[i] != rr || out.Pix[i+1] != gg || out.Pix[i+2] != bb {
					t.Fatalf("ratio %v size %v: pixel %d = %v, want %d %d %d", r, sz, i/3, out.Pix[i:i+3], rr, gg, bb)
				}
			}
		}
	}
	// libjpeg's table values (jdcolor.c): grey stays grey, extremes clip
	if r, g, b := yccToRGB(128, 128, 128); r != 128 || g != 128 || b != 128 {
		t.Errorf("grey: %d %d %d", r, g, b)
	}
	if r, g, b := yccToRGB(255, 128, 128); r != 255 || g != 255 || b != 255 {
		t.Errorf("white: %d %d %d", r, g, b)
	}
	if r, g, b := yccToRGB(255, 255, 255); r != 255 || g != 121 || b != 255 {
		t.Errorf("clip: %d %d %d, want 255 121 255", r, g, b)
	}
	if crRTab[255] != 178 || cbBTab[0] != -227 || crGTab[0] != 46802*128 || cbGTab[255] != -22554*127+32768 {
		t.Errorf("tables: %d %d %d %d", crRTab[255], cbBTab[0], crGTab[0], cbGTab[255])
	}
	if _, err := DecodeJPEG(bytes.NewReader([]byte("not a jpeg"))); err == nil {
		t.Error("garbage decoded without error")
	}
}

func TestFancyUpsampleRows(t *testing.T) {
	// h2v1 on a 4-sample row, worked out by hand from jdsample.c
	plane := []uint8{0, 100, 200, 40}
	dst := make([]uint8, 8)
	fancyRow(plane, 4, 4, 1, 2, 1, 0, dst)
	want := []uint8{0, (0*3 + 100 + 2) >> 2, (300 + 0 + 1) >> 2, (300 + 200 + 2) >> 2, (600 + 100 + 1) >> 2, (600 + 40 + 2) >> 2, (120 + 200 + 1) >> 2, 40}
	if !bytes.Equal(dst, want) {
		t.Errorf("h2v1: %v, want %v", dst, want)
	}
	// h2v2: two chroma rows; output row 1 (odd) mixes row 0 with row 1 below
	plane = []uint8{0, 100, 200, 40, 80, 20, 60, 0}
	fancyRow(plane, 4, 4, 2, 2, 2, 1, dst)
	col := func(i int) int { return int(plane[i])*3 + int(plane[4+i]) }
	want = []uint8{
		uint8((col(0)*4 + 8) >> 4), uint8((col(0)*3 + col(1) + 7) >> 4),
		uint8((col(1)*3 + col(0) + 8) >> 4), uint8((col(1)*3 + col(2) + 7) >> 4),
		uint8((col(2)*3 + col(1) + 8) >> 4), uint8((col(2)*3 + col(3) + 7) >> 4),
		uint8((col(3)*3 + col(2) + 8) >> 4), uint8((col(3)*4 + 7) >> 4),
	}
	if !bytes.Equal(dst, want) {
		t.Errorf("h2v2 row 1: %v, want %v", dst, want)
	}
	// row 0 (even, top edge) uses itself as the row above: plain h2v1 of 4·row
	fancyRow(plane, 4, 4, 2, 2, 2, 0, dst)
	if dst[0] != 0 || dst[7] != uint8((40*16+7)>>4) {
		t.Errorf("h2v2 row 0: %v", dst)
	}
}

func BenchmarkResizeLanczos(b *testing.B) {
	src := randomRGB8(rand.New(rand.NewSource(3)), 854, 480)
	if data, err := os.ReadFile(filepath.Join(moduleRoot(b), testJPEG)); err == nil {
		if m, err := DecodeJPEG(bytes.NewReader(data)); err == nil {
			src = m
		}
	}
	b.SetBytes(int64(len(src.Pix)))
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		if _, err := ResizeLanczos(src, 854, 476); err != nil {
			b.Fatal(err)
		}
	}
}

func BenchmarkDecodeJPEG(b *testing.B) {
	data, err := os.ReadFile(filepath.Join(moduleRoot(b), testJPEG))
	if err != nil {
		b.Skip(err)
	}
	b.SetBytes(int64(len(data)))
	for i := 0; i < b.N; i++ {
		if _, err := DecodeJPEG(bytes.NewReader(data)); err != nil {
			b.Fatal(err)
		}
	}
}
