package flow

import (
	"bytes"
	"encoding/binary"
	"hash/crc32"
	"image"
	"image/color"
	"image/png"
	"math"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// sampleField returns a w×h field with distinct values and, when withNaN,
// one unknown vector.
func sampleField(w, h int, withNaN bool) *Field {
	f := NewField(w, h)
	for i := range f.U {
		f.U[i] = float32(i)*0.25 - 3
		f.V[i] = -float32(i)*0.5 + 1.125
	}
	if withNaN {
		f.U[1] = float32(math.NaN())
		f.V[1] = float32(math.NaN())
	}
	return f
}

func sameField(t *testing.T, got, want *Field) {
	t.Helper()
	if got.W != want.W || got.H != want.H {
		t.Fatalf("size %d×%d, want %d×%d", got.W, got.H, want.W, want.H)
	}
	for i := range want.U {
		gu, gv, wu, wv := got.U[i], got.V[i], want.U[i], want.V[i]
		if (wu != wu) != (gu != gu) || (wv != wv) != (gv != gv) || (wu == wu && gu != wu) || (wv == wv && gv != wv) {
			t.Fatalf("vector %d = (%v,%v), want (%v,%v)", i, gu, gv, wu, wv)
		}
	}
}

func floBytes(w, h int32, vals ...float32) []byte {
	var b bytes.Buffer
	b.WriteString("PIEH")
	binary.Write(&b, binary.LittleEndian, w)
	binary.Write(&b, binary.LittleEndian, h)
	binary.Write(&b, binary.LittleEndian, vals)
	return b.Bytes()
}

func TestFloRoundTrip(t *testing.T) {
	dir := t.TempDir()
	f := sampleField(5, 3, true)
	f.U[2] = float32(math.Inf(1)) // written as unknown too
	p := filepath.Join(dir, "a.flo")
	if err := WriteFlo(p, f); err != nil {
		t.Fatal(err)
	}
	data, err := os.ReadFile(p)
	if err != nil {
		t.Fatal(err)
	}
	if len(data) != 12+8*15 || string(data[:4]) != "PIEH" {
		t.Fatalf("file of %d bytes starting %q", len(data), data[:4])
	}
	if u := math.Float32frombits(binary.LittleEndian.Uint32(data[12+8:])); u != UnknownFlo {
		t.Errorf("NaN written as %v, want %v", u, float32(UnknownFlo))
	}
	if st, _ := os.Stat(p); st.Mode().Perm() != 0o644 {
		t.Errorf("mode %v", st.Mode())
	}
	if ents, _ := os.ReadDir(dir); len(ents) != 1 {
		t.Errorf("temporary files left: %v", ents)
	}
	g, err := ReadFlo(p)
	if err != nil {
		t.Fatal(err)
	}
	want := sampleField(5, 3, true)
	want.U[2], want.V[2] = float32(math.NaN()), float32(math.NaN())
	sameField(t, g, want)
	g2, err := DecodeFlo(bytes.NewReader(data))
	if err != nil {
		t.Fatal(err)
	}
	sameField(t, g2, want)
	// Overwriting goes through a rename too.
	if err := WriteFlo(p, sampleField(2, 2, false)); err != nil {
		t.Fatal(err)
	}
	if g, err := ReadFlo(p); err != nil || g.W != 2 {
		t.Fatalf("overwrite: %v %v", g, err)
	}
}

func TestFloUnknownOnRead(t *testing.T) {
	f, err := DecodeFlo(bytes.NewReader(floBytes(2, 1, 1, 2e9, -1.5e9, 4)))
	if err != nil {
		t.Fatal(err)
	}
	for i := 0; i < 2; i++ {
		if !math.IsNaN(float64(f.U[i])) || !math.IsNaN(float64(f.V[i])) {
			t.Errorf("vector %d = (%v,%v), want unknown", i, f.U[i], f.V[i])
		}
	}
}

func TestReadFloErrors(t *testing.T) {
	dir := t.TempDir()
	cases := []struct {
		name string
		data []byte
		want string
	}{
		{"empty", nil, "truncated header"},
		{"short", []byte("PIEH\x01\x00"), "truncated header"},
		{"magic", append([]byte("PNG!"), floBytes(1, 1, 0, 0)[4:]...), "bad magic"},
		{"zero", floBytes(0, 4), "absurd size"},
		{"negative", floBytes(-3, 4), "absurd size"},
		{"huge", floBytes(1<<20, 1<<20), "absurd size"},
		{"truncated", floBytes(3, 2, 1, 2, 3), "truncated"},
		{"trailing", append(floBytes(1, 1, 1, 2), 0), "trailing"},
	}
	for _, c := range cases {
		p := filepath.Join(dir, c.name+".flo")
		if err := os.WriteFile(p, c.data, 0o644); err != nil {
			t.Fatal(err)
		}
		_, err := ReadFlo(p)
		if err == nil || !strings.Contains(err.Error(), c.want) || !strings.Contains(err.Error(), p) {
			t.Errorf("%s: error %v, want one naming %s and saying %q", c.name, err, p, c.want)
		}
		if c.name != "trailing" {
			if _, err := DecodeFlo(bytes.NewReader(c.data)); err == nil {
				t.Errorf("%s: DecodeFlo accepted it", c.name)
			}
		}
	}
	if _, err := ReadFlo(filepath.Join(dir, "missing.flo")); err == nil || !strings.Contains(err.Error(), "missing.flo") {
		t.Errorf("missing file: %v", err)
	}
	if err := WriteFlo(filepath.Join(dir, "bad.flo"), &Field{W: 2, H: 2, U: make([]float32, 3), V: make([]float32, 4)}); err == nil {
		t.Error("malformed field written")
	}
	if err := WriteFlo(filepath.Join(dir, "nodir", "x.flo"), NewField(1, 1)); err == nil {
		t.Error("write into a missing directory succeeded")
	}
}

// kittiPNG builds a 16-bit RGB PNG from raw (R, G, B) triples.
func kittiPNG(t testing.TB, w, h int, px [][3]uint16) []byte {
	img := image.NewRGBA64(image.Rect(0, 0, w, h))
	for i, p := range px {
		img.SetRGBA64(i%w, i/w, color.RGBA64{p[0], p[1], p[2], 0xffff})
	}
	var b bytes.Buffer
	if err := png.Encode(&b, img); err != nil {
		t.Fatal(err)
	}
	return b.Bytes()
}

func TestKITTI(t *testing.T) {
	data := kittiPNG(t, 3, 1, [][3]uint16{
		{32768 + 64*3 + 32, 32768 - 64*2, 1}, // (3.5, −2)
		{0, 65535, 1},                        // (−512, 511.984375)
		{40000, 40000, 0},                    // invalid
	})
	f, err := DecodeKITTI(bytes.NewReader(data))
	if err != nil {
		t.Fatal(err)
	}
	if f.W != 3 || f.H != 1 || f.U[0] != 3.5 || f.V[0] != -2 || f.U[1] != -512 || f.V[1] != 511.984375 {
		t.Errorf("decoded %+v", f)
	}
	if !math.IsNaN(float64(f.U[2])) || !math.IsNaN(float64(f.V[2])) {
		t.Errorf("invalid pixel decoded as (%v,%v)", f.U[2], f.V[2])
	}
	// Round trip through the writer.
	dir := t.TempDir()
	p := filepath.Join(dir, "k.png")
	src := sampleField(4, 3, true)
	if err := WriteKITTI(p, src); err != nil {
		t.Fatal(err)
	}
	g, err := ReadKITTI(p)
	if err != nil {
		t.Fatal(err)
	}
	sameField(t, g, src) // the sample values are multiples of 1/64
}

// pngWithHeader returns a PNG signature and an IHDR chunk only.
func pngWithHeader(w, h uint32, depth, ctype byte) []byte {
	var b bytes.Buffer
	b.WriteString("\x89PNG\r\n\x1a\n")
	ihdr := make([]byte, 13)
	binary.BigEndian.PutUint32(ihdr[0:], w)
	binary.BigEndian.PutUint32(ihdr[4:], h)
	ihdr[8], ihdr[9] = depth, ctype
	binary.Write(&b, binary.BigEndian, uint32(13))
	chunk := append([]byte("IHDR"), ihdr...)
	b.Write(chunk)
	binary.Write(&b, binary.BigEndian, crc32.ChecksumIEEE(chunk))
	return b.Bytes()
}

func TestKITTIErrors(t *testing.T) {
	dir := t.TempDir()
	img8 := image.NewRGBA(image.Rect(0, 0, 2, 2))
	var b8 bytes.Buffer
	png.Encode(&b8, img8)
	cases := []struct {
		name string
		data []byte
		want string
	}{
		{"notpng", []byte("PIEH1234"), "not a readable PNG"},
		{"8bit", b8.Bytes(), "not a 16-bit"},
		{"huge", pngWithHeader(100000, 100000, 16, 2), "absurd size"},
		{"truncated", kittiPNG(t, 8, 8, nil)[:60], "not a readable PNG"},
	}
	for _, c := range cases {
		p := filepath.Join(dir, c.name+".png")
		os.WriteFile(p, c.data, 0o644)
		_, err := ReadKITTI(p)
		if err == nil || !strings.Contains(err.Error(), c.want) || !strings.Contains(err.Error(), p) {
			t.Errorf("%s: error %v, want one naming %s and saying %q", c.name, err, p, c.want)
		}
	}
}

func TestLoadSequence(t *testing.T) {
	dir := t.TempDir()
	const T, w, h = 4, 5, 3
	var fwd, bwd []*Field
	for i := 0; i < T-1; i++ {
		f, b := sampleField(w, h, false), sampleField(w, h, false)
		f.U[0], b.U[0] = float32(i), -float32(i)
		fwd, bwd = append(fwd, f), append(bwd, b)
	}
	if err := SaveSequence(dir, fwd, bwd); err != nil {
		t.Fatal(err)
	}
	gf, gb, err := LoadSequence(dir, T, w, h)
	if err != nil {
		t.Fatal(err)
	}
	if len(gf) != T-1 || len(gb) != T-1 {
		t.Fatalf("%d/%d flows", len(gf), len(gb))
	}
	for i := range gf {
		sameField(t, gf[i], fwd[i])
		sameField(t, gb[i], bwd[i])
	}
	if _, err := os.Stat(filepath.Join(dir, "forward_00002.flo")); err != nil {
		t.Error(err)
	}
	if _, err := os.Stat(filepath.Join(dir, "backward_00000.flo")); err != nil {
		t.Error(err)
	}
	if f, b, err := LoadSequence(dir, 1, w, h); err != nil || len(f) != 0 || len(b) != 0 {
		t.Errorf("one frame: %v %v %v", f, b, err)
	}

	// Errors: missing file, wrong size, NaN.
	if _, _, err := LoadSequence(dir, T+1, w, h); err == nil || !strings.Contains(err.Error(), "forward_00003.flo") || !strings.Contains(err.Error(), "3→4") {
		t.Errorf("missing: %v", err)
	}
	if _, _, err := LoadSequence(dir, T, w+1, h); err == nil || !strings.Contains(err.Error(), "5×3") || !strings.Contains(err.Error(), "6×3") {
		t.Errorf("wrong size: %v", err)
	}
	nan := sampleField(w, h, true)
	if err := WriteFlo(filepath.Join(dir, BackwardName(1)), nan); err != nil {
		t.Fatal(err)
	}
	if _, _, err := LoadSequence(dir, T, w, h); err == nil || !strings.Contains(err.Error(), "backward_00001.flo") || !strings.Contains(err.Error(), "finite") {
		t.Errorf("NaN: %v", err)
	}
	if _, _, err := LoadSequence(dir, 0, w, h); err == nil {
		t.Error("T = 0 accepted")
	}

	// Alternative names: from_to .flo and KITTI .png.
	alt := t.TempDir()
	WriteFlo(filepath.Join(alt, "00000_00001.flo"), fwd[0])
	WriteKITTI(filepath.Join(alt, "00001_00000.png"), bwd[0])
	gf, gb, err = LoadSequence(alt, 2, w, h)
	if err != nil {
		t.Fatal(err)
	}
	sameField(t, gf[0], fwd[0])
	sameField(t, gb[0], bwd[0])
	// A KITTI file of the wrong size.
	WriteKITTI(filepath.Join(alt, "backward_00000.png"), NewField(2, 2))
	if _, _, err := LoadSequence(alt, 2, w, h); err == nil || !strings.Contains(err.Error(), "backward_00000.png is 2×2") {
		t.Errorf("wrong-size PNG: %v", err)
	}
	if err := SaveSequence(dir, fwd, bwd[:1]); err == nil {
		t.Error("mismatched SaveSequence accepted")
	}
}

func FuzzReadFlo(f *testing.F) {
	f.Add(floBytes(1, 1, 1, 2))
	f.Add(floBytes(2, 2, 1, 2, 3, 4, 5, 6, 7, 8))
	f.Add(floBytes(3, 1, float32(math.NaN()), 1e10, 0, 0, -1, 1))
	f.Add(floBytes(1<<16, 1<<10))
	f.Add([]byte("PIEH"))
	f.Fuzz(func(t *testing.T, data []byte) {
		fl, err := DecodeFlo(bytes.NewReader(data))
		if err != nil {
			return
		}
		if err := fl.Validate(true); err != nil {
			t.Fatal(err)
		}
		var b bytes.Buffer
		if err := EncodeFlo(&b, fl); err != nil {
			t.Fatal(err)
		}
		g, err := DecodeFlo(&b)
		if err != nil {
			t.Fatal(err)
		}
		sameField(t, g, fl)
	})
}

func FuzzReadKITTI(f *testing.F) {
	f.Add(kittiPNG(f, 2, 2, [][3]uint16{{1, 2, 1}, {40000, 30000, 1}, {0, 0, 0}, {65535, 65535, 7}}))
	f.Add(kittiPNG(f, 1, 1, nil))
	f.Add(pngWithHeader(3, 3, 16, 2))
	f.Fuzz(func(t *testing.T, data []byte) {
		fl, err := DecodeKITTI(bytes.NewReader(data))
		if err != nil {
			return
		}
		if err := fl.Validate(true); err != nil {
			t.Fatal(err)
		}
		var b bytes.Buffer
		if err := EncodeKITTI(&b, fl); err != nil {
			t.Fatal(err)
		}
		g, err := DecodeKITTI(&b)
		if err != nil {
			t.Fatal(err)
		}
		sameField(t, g, fl)
	})
}
