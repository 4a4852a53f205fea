package flow

import (
	"bufio"
	"bytes"
	"encoding/binary"
	"errors"
	"fmt"
	"image"
	"image/color"
	"image/png"
	"io"
	"math"
	"os"
	"path/filepath"
	"strings"
)

// MaxPixels bounds the width×height of flow files that the readers accept
// (32 Mi pixels, e.g. 8192×4096), so that a corrupt header cannot make them
// allocate gigabytes.
const MaxPixels = 1 << 25

// floMagic is the Middlebury tag: the bytes "PIEH" read as a little-endian
// float32.
const floMagic = 202021.25

// UnknownFlo is the value WriteFlo stores for unknown (non-finite) vectors;
// readers treat any component above 1e9 in magnitude as unknown.
const UnknownFlo = 1e10

// ReadFlo reads a Middlebury .flo file: the bytes "PIEH" (float 202021.25),
// int32 little-endian width and height, then float32 little-endian (u, v)
// pairs row by row. Vectors with a component above 1e9 in magnitude, or NaN,
// are unknown and become NaN in both components. The file size must match
// the header exactly.
func ReadFlo(path string) (*Field, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, fmt.Errorf("flow: %w", err)
	}
	defer f.Close()
	st, err := f.Stat()
	if err != nil {
		return nil, fmt.Errorf("flow: %w", err)
	}
	w, h, err := readFloHeader(f)
	if err != nil {
		return nil, fmt.Errorf("flow: %s: %w", path, err)
	}
	want := 12 + 8*int64(w)*int64(h)
	if st.Size() != want {
		what := "truncated"
		if st.Size() > want {
			what = "has trailing bytes"
		}
		return nil, fmt.Errorf("flow: %s: %s: %d bytes, a %d×%d .flo file has %d", path, what, st.Size(), w, h, want)
	}
	fl, err := readFloData(bufio.NewReaderSize(f, 1<<16), w, h)
	if err != nil {
		return nil, fmt.Errorf("flow: %s: %w", path, err)
	}
	return fl, nil
}

// DecodeFlo reads one Middlebury .flo field from r (see ReadFlo). It stops
// after the last vector and does not check for trailing data.
func DecodeFlo(r io.Reader) (*Field, error) {
	w, h, err := readFloHeader(r)
	if err != nil {
		return nil, fmt.Errorf("flow: .flo: %w", err)
	}
	f, err := readFloData(r, w, h)
	if err != nil {
		return nil, fmt.Errorf("flow: .flo: %w", err)
	}
	return f, nil
}

func readFloHeader(r io.Reader) (w, h int, err error) {
	var hdr [12]byte
	if _, err := io.ReadFull(r, hdr[:]); err != nil {
		if errors.Is(err, io.EOF) || errors.Is(err, io.ErrUnexpectedEOF) {
			return 0, 0, errors.New("truncated header (under 12 bytes)")
		}
		return 0, 0, err
	}
	if m := math.Float32frombits(binary.LittleEndian.Uint32(hdr[0:4])); m != floMagic {
		return 0, 0, fmt.Errorf("bad magic %q, want \"PIEH\" (not a Middlebury .flo file?)", hdr[0:4])
	}
	w = int(int32(binary.LittleEndian.Uint32(hdr[4:8])))
	h = int(int32(binary.LittleEndian.Uint32(hdr[8:12])))
	if w <= 0 || h <= 0 || int64(w)*int64(h) > MaxPixels {
		return 0, 0, fmt.Errorf("absurd size %d×%d (each side must be positive and the area at most %d pixels)", w, h, MaxPixels)
	}
	return w, h, nil
}

// readFloData reads the w×h interleaved vectors row by row, allocating as
// data arrives so that a lying header cannot force a large allocation.
func readFloData(r io.Reader, w, h int) (*Field, error) {
	f := &Field{W: w, H: h}
	initial := min(w*h, 1<<16)
	f.U, f.V = make([]float32, 0, initial), make([]float32, 0, initial)
	row := make([]byte, 8*w)
	for y := 0; y < h; y++ {
		if _, err := io.ReadFull(r, row); err != nil {
			if errors.Is(err, io.EOF) || errors.Is(err, io.ErrUnexpectedEOF) {
				return nil, fmt.Errorf("truncated: %d×%d header but data ends in row %d", w, h, y)
			}
			return nil, err
		}
		for x := 0; x < w; x++ {
			u := math.Float32frombits(binary.LittleEndian.Uint32(row[8*x:]))
			v := math.Float32frombits(binary.LittleEndian.Uint32(row[8*x+4:]))
			if unknown(u, v) {
				u, v = float32(math.NaN()), float32(math.NaN())
			}
			f.U = append(f.U, u)
			f.V = append(f.V, v)
		}
	}
	return f, nil
}

// EncodeFlo writes f to w in the Middlebury .flo format. Non-finite vectors
// (NaN or infinite in either component) are written as (1e10, 1e10), the
// Middlebury "unknown" value.
func EncodeFlo(w io.Writer, f *Field) error {
	if f == nil {
		return errors.New("flow: nil field")
	}
	if err := f.Validate(true); err != nil {
		return err
	}
	bw := bufio.NewWriterSize(w, 1<<16)
	var hdr [12]byte
	binary.LittleEndian.PutUint32(hdr[0:], math.Float32bits(floMagic))
	binary.LittleEndian.PutUint32(hdr[4:], uint32(f.W))
	binary.LittleEndian.PutUint32(hdr[8:], uint32(f.H))
	bw.Write(hdr[:])
	var buf [8]byte
	for i := range f.U {
		u, v := f.U[i], f.V[i]
		if !finite(u) || !finite(v) {
			u, v = UnknownFlo, UnknownFlo
		}
		binary.LittleEndian.PutUint32(buf[0:], math.Float32bits(u))
		binary.LittleEndian.PutUint32(buf[4:], math.Float32bits(v))
		bw.Write(buf[:])
	}
	return bw.Flush()
}

// WriteFlo writes f to path in the Middlebury .flo format (see EncodeFlo),
// atomically: the data goes to a temporary file beside path that is then
// renamed over it.
func WriteFlo(path string, f *Field) error {
	if f == nil {
		return fmt.Errorf("flow: write %s: nil field", path)
	}
	if err := f.Validate(true); err != nil {
		return fmt.Errorf("flow: write %s: %w", path, err)
	}
	return writeAtomic(path, func(w io.Writer) error { return EncodeFlo(w, f) })
}

func finite(x float32) bool { return !math.IsNaN(float64(x)) && !math.IsInf(float64(x), 0) }

// ReadKITTI reads a KITTI flow file: a 16-bit RGB PNG where
// u = (R − 2^15)/64, v = (G − 2^15)/64, and B ≠ 0 marks a valid vector.
// Invalid vectors become NaN.
func ReadKITTI(path string) (*Field, error) {
	data, err := os.ReadFile(path)
	if err != nil {
		return nil, fmt.Errorf("flow: %w", err)
	}
	f, err := decodeKITTI(data)
	if err != nil {
		return nil, fmt.Errorf("flow: %s: %w", path, err)
	}
	return f, nil
}

// DecodeKITTI reads a KITTI flow PNG from r (see ReadKITTI).
func DecodeKITTI(r io.Reader) (*Field, error) {
	data, err := io.ReadAll(r)
	if err != nil {
		return nil, fmt.Errorf("flow: KITTI PNG: %w", err)
	}
	f, err := decodeKITTI(data)
	if err != nil {
		return nil, fmt.Errorf("flow: KITTI PNG: %w", err)
	}
	return f, nil
}

func decodeKITTI(data []byte) (*Field, error) {
	cfg, err := png.DecodeConfig(bytes.NewReader(data))
	if err != nil {
		return nil, fmt.Errorf("not a readable PNG: %w", err)
	}
	if cfg.ColorModel != color.RGBA64Model && cfg.ColorModel != color.NRGBA64Model {
		return nil, errors.New("not a 16-bit RGB PNG, as KITTI flow files are")
	}
	if cfg.Width <= 0 || cfg.Height <= 0 || int64(cfg.Width)*int64(cfg.Height) > MaxPixels {
		return nil, fmt.Errorf("absurd size %d×%d (each side must be positive and the area at most %d pixels)", cfg.Width, cfg.Height, MaxPixels)
	}
	img, err := png.Decode(bytes.NewReader(data))
	if err != nil {
		return nil, fmt.Errorf("not a readable PNG: %w", err)
	}
	var pix []uint8
	var stride int
	var rect image.Rectangle
	switch m := img.(type) {
	case *image.RGBA64:
		pix, stride, rect = m.Pix, m.Stride, m.Rect
	case *image.NRGBA64:
		pix, stride, rect = m.Pix, m.Stride, m.Rect
	default:
		return nil, fmt.Errorf("not a 16-bit RGB PNG (decoded as %T)", img)
	}
	w, h := rect.Dx(), rect.Dy()
	f := NewField(w, h)
	nan := float32(math.NaN())
	for y := 0; y < h; y++ {
		row := pix[y*stride:]
		for x := 0; x < w; x++ {
			p := row[8*x : 8*x+6]
			r := int(p[0])<<8 | int(p[1])
			g := int(p[2])<<8 | int(p[3])
			b := int(p[4])<<8 | int(p[5])
			i := y*w + x
			if b == 0 {
				f.U[i], f.V[i] = nan, nan
				continue
			}
			f.U[i] = float32(r-32768) / 64
			f.V[i] = float32(g-32768) / 64
		}
	}
	return f, nil
}

// EncodeKITTI writes f as a KITTI flow PNG (see ReadKITTI). Components are
// rounded to 1/64 px and clamped to the representable range [−512, 512);
// non-finite vectors are stored as invalid (B = 0).
func EncodeKITTI(w io.Writer, f *Field) error {
	if f == nil {
		return errors.New("flow: nil field")
	}
	if err := f.Validate(true); err != nil {
		return err
	}
	img := image.NewRGBA64(image.Rect(0, 0, f.W, f.H))
	enc := func(x float32) uint16 {
		v := math.Round(float64(x)*64 + 32768)
		return uint16(min(max(v, 0), 65535))
	}
	for i := range f.U {
		p := img.Pix[8*i : 8*i+8]
		u, v := f.U[i], f.V[i]
		var r, g, b uint16
		if finite(u) && finite(v) {
			r, g, b = enc(u), enc(v), 1
		}
		binary.BigEndian.PutUint16(p[0:], r)
		binary.BigEndian.PutUint16(p[2:], g)
		binary.BigEndian.PutUint16(p[4:], b)
		binary.BigEndian.PutUint16(p[6:], 0xffff)
	}
	return png.Encode(w, img)
}

// WriteKITTI writes f to path as a KITTI flow PNG (see EncodeKITTI),
// atomically.
func WriteKITTI(path string, f *Field) error {
	if f == nil {
		return fmt.Errorf("flow: write %s: nil field", path)
	}
	if err := f.Validate(true); err != nil {
		return fmt.Errorf("flow: write %s: %w", path, err)
	}
	return writeAtomic(path, func(w io.Writer) error { return EncodeKITTI(w, f) })
}

// writeAtomic writes a file through fill into a temporary file in the same
// directory, syncs it and renames it over path, so that readers never see a
// partial file. The result has mode 0644.
func writeAtomic(path string, fill func(w io.Writer) error) (err error) {
	tmp, err := os.CreateTemp(filepath.Dir(path), "."+filepath.Base(path)+".tmp-*")
	if err != nil {
		return fmt.Errorf("flow: create temporary file beside %s: %w", path, err)
	}
	defer func() {
		if err != nil {
			tmp.Close()
			os.Remove(tmp.Name())
		}
	}()
	if err = fill(tmp); err != nil {
		return fmt.Errorf("flow: write %s: %w", path, err)
	}
	if err = tmp.Chmod(0o644); err != nil {
		return fmt.Errorf("flow: chmod %s: %w", path, err)
	}
	if err = tmp.Sync(); err != nil {
		return fmt.Errorf("flow: sync %s: %w", path, err)
	}
	if err = tmp.Close(); err != nil {
		return fmt.Errorf("flow: close %s: %w", path, err)
	}
	if err = os.Rename(tmp.Name(), path); err != nil {
		return fmt.Errorf("flow: rename into %s: %w", path, err)
	}
	return nil
}

// ForwardName is the file name LoadSequence and SaveSequence use for the
// forward flow t→t+1: "forward_%05d.flo".
func ForwardName(t int) string { return fmt.Sprintf("forward_%05d.flo", t) }

// BackwardName is the file name for the backward flow t+1→t, indexed by t:
// "backward_%05d.flo".
func BackwardName(t int) string { return fmt.Sprintf("backward_%05d.flo", t) }

// pairName is the alternative "from_to" naming: "%05d_%05d.flo" holds the
// flow from frame a to frame b (as RAFT preprocessing scripts such as
// OmniMotion's name their outputs).
func pairName(a, b int) string { return fmt.Sprintf("%05d_%05d.flo", a, b) }

// LoadSequence reads the precomputed flows of a T-frame video of size w×h
// from dir: fwd[t] is the flow t→t+1 and bwd[t] the flow t+1→t, for
// t = 0 … T−2. Each flow is looked up as, in order:
//
//   - forward_%05d.flo / backward_%05d.flo (indexed by t; see ForwardName,
//     BackwardName),
//   - %05d_%05d.flo named after the source and target frames
//     (00003_00004.flo is 3→4, 00004_00003.flo is 4→3),
//   - the same names with the .png extension, read as KITTI 16-bit PNGs.
//
// It fails on a missing file, a flow of another size, and on any NaN or
// infinite vector: chaining needs a finite flow everywhere.
func LoadSequence(dir string, T, w, h int) (fwd, bwd []*Field, err error) {
	if T < 1 {
		return nil, nil, fmt.Errorf("flow: LoadSequence: %d frames", T)
	}
	if w <= 0 || h <= 0 {
		return nil, nil, fmt.Errorf("flow: LoadSequence: bad frame size %d×%d", w, h)
	}
	fwd = make([]*Field, T-1)
	bwd = make([]*Field, T-1)
	for t := 0; t+1 < T; t++ {
		if fwd[t], err = loadOne(dir, w, h, t, t+1, ForwardName(t), pairName(t, t+1)); err != nil {
			return nil, nil, err
		}
		if bwd[t], err = loadOne(dir, w, h, t+1, t, BackwardName(t), pairName(t+1, t)); err != nil {
			return nil, nil, err
		}
	}
	return fwd, bwd, nil
}

func loadOne(dir string, w, h, from, to int, names ...string) (*Field, error) {
	var tried []string
	for _, ext := range []string{".flo", ".png"} {
		for _, n := range names {
			n = n[:len(n)-len(".flo")] + ext
			p := filepath.Join(dir, n)
			tried = append(tried, n)
			if _, err := os.Stat(p); err != nil {
				if errors.Is(err, os.ErrNotExist) {
					continue
				}
				return nil, fmt.Errorf("flow: %w", err)
			}
			var f *Field
			var err error
			if ext == ".flo" {
				f, err = ReadFlo(p)
			} else {
				f, err = ReadKITTI(p)
			}
			if err != nil {
				return nil, err
			}
			if f.W != w || f.H != h {
				return nil, fmt.Errorf("flow: %s is %d×%d, the video is %d×%d", p, f.W, f.H, w, h)
			}
			if err := f.Validate(false); err != nil {
				return nil, fmt.Errorf("flow: %s: %w", p, err)
			}
			return f, nil
		}
	}
	return nil, fmt.Errorf("flow: no flow file for frames %d→%d in %s (tried %s)", from, to, dir, strings.Join(tried, ", "))
}

// SaveSequence writes fwd[t] as ForwardName(t) and bwd[t] as BackwardName(t)
// into dir (created if missing), each atomically, so that LoadSequence can
// read them back.
func SaveSequence(dir string, fwd, bwd []*Field) error {
	if len(fwd) != len(bwd) {
		return fmt.Errorf("flow: SaveSequence: %d forward but %d backward flows", len(fwd), len(bwd))
	}
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return fmt.Errorf("flow: %w", err)
	}
	for t := range fwd {
		if err := WriteFlo(filepath.Join(dir, ForwardName(t)), fwd[t]); err != nil {
			return err
		}
		if err := WriteFlo(filepath.Join(dir, BackwardName(t)), bwd[t]); err != nil {
			return err
		}
	}
	return nil
}
