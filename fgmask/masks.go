// Package fgmask holds DINO-Tracker's per-frame foreground masks: loading
// them from a folder of images (§1.7), computing them from DINO features by
// PCA when a video has none (§1.4), splitting flow trajectories into
// foreground and background by the mask at their first frame (§1.5), and
// writing them out for inspection.
//
// Masks live at the model resolution (476×854 in the paper), the pixel grid
// the trajectories and the tracker use. Every resize to that grid uses
// PyTorch's legacy "nearest" rule, as the reference does (see Load).
package fgmask

import (
	"bytes"
	"errors"
	"fmt"
	"image"
	_ "image/jpeg" // registers JPEG for image.Decode
	"image/png"
	"io"
	"math"
	"os"
	"path/filepath"
	"strings"

	"dinotracker/imgproc"
	"dinotracker/internal/parallel"
	"dinotracker/safetensors"
)

// Masks is a stack of T binary H×W masks stored frame-major without padding:
// the value of pixel (x, y) of frame t is Data[(t*H+y)*W+x], 1 for
// foreground and 0 for background. Other values are not used by this
// package's producers; readers treat any nonzero value as foreground.
type Masks struct {
	T, H, W int
	Data    []uint8
}

// New returns T all-background H×W masks. It panics when a size is
// negative.
func New(T, h, w int) *Masks {
	if T < 0 || h < 0 || w < 0 {
		panic(fmt.Sprintf("fgmask: negative mask size %d×%d×%d", T, h, w))
	}
	return &Masks{T: T, H: h, W: w, Data: make([]uint8, T*h*w)}
}

// Frame returns frame t's H×W mask, row-major, sharing m.Data.
func (m *Masks) Frame(t int) []uint8 { return m.Data[t*m.H*m.W : (t+1)*m.H*m.W] }

// At reports whether pixel (x, y) of frame t is foreground. Coordinates
// outside the masks are background.
func (m *Masks) At(t, x, y int) bool {
	if t < 0 || t >= m.T || x < 0 || x >= m.W || y < 0 || y >= m.H {
		return false
	}
	return m.Data[(t*m.H+y)*m.W+x] != 0
}

// Fraction returns the share of foreground pixels over all frames (0 when
// the masks are empty).
func (m *Masks) Fraction() float64 {
	if len(m.Data) == 0 {
		return 0
	}
	n := 0
	for _, v := range m.Data {
		if v != 0 {
			n++
		}
	}
	return float64(n) / float64(len(m.Data))
}

// check reports a Masks whose fields disagree.
func (m *Masks) check() error {
	if m == nil {
		return errors.New("fgmask: nil masks")
	}
	if m.T < 0 || m.H < 0 || m.W < 0 || len(m.Data) != m.T*m.H*m.W {
		return fmt.Errorf("fgmask: masks claim %d×%d×%d but hold %d values", m.T, m.H, m.W, len(m.Data))
	}
	return nil
}

// JPEGThreshold is the grey level above which a JPEG mask pixel counts as
// foreground. PNG masks use > 0 (any nonzero value), as the reference does
// for every file; for JPEG, whose ringing puts small nonzero values around
// every edge of a 0/255 mask, > 0 would grow the foreground by a few pixels,
// so Load binarises JPEGs at mid-grey instead.
const JPEGThreshold = 127

// maskExt reports whether name has one of the extensions Load reads.
func maskExt(name string) bool {
	switch strings.ToLower(filepath.Ext(name)) {
	case ".png", ".jpg", ".jpeg":
		return true
	}
	return false
}

// Load reads the foreground masks of a T-frame video from dir: every
// regular file named *.png, *.jpg or *.jpeg (extension in any case), in
// name order, one per frame, all of one size; and resizes them to w×h (the
// model resolution) with nearest-neighbour sampling.
//
// Binarisation, as the reference's load_masks (PIL convert("L"), then > 0)
// except where noted:
//   - palette PNGs (DAVIS instance masks): the palette index, not the
//     colour, decides: any nonzero index is foreground. PIL would take the
//     luminance of the palette colour, which agrees for DAVIS palettes
//     (index 0 is black, every other entry is not).
//   - greyscale PNGs, 8 or 16 bit: any nonzero value is foreground.
//   - colour PNGs: the 8-bit ITU-R 601 luma PIL's convert("L") computes,
//     (19595R + 38470G + 7471B + 2¹⁵) >> 16, is > 0; alpha is ignored.
//   - JPEG (any of the above as decoded): luma > JPEGThreshold (127), where
//     the reference uses > 0; see JPEGThreshold.
//
// The format is taken from the file's content, not its extension.
//
// Resizing follows torch.nn.functional.interpolate(mode="nearest"), which
// the reference uses: output row y reads input row
// min(floor(float32(y)·float32(H_in/H_out)), H_in−1) with float32 arithmetic,
// and likewise for columns. Masks of another size or aspect than the frames
// are fine, since the frames are resized to the model resolution the same
// way; only the count and the sizes among the files must agree.
//
// Errors name the folder or the file: a missing or unreadable folder, a
// folder with no mask file, a count other than T (both counts are given),
// masks of different sizes (both files are named), and a file that does not
// decode.
func Load(dir string, T, w, h int) (*Masks, error) {
	if T < 1 || w < 1 || h < 1 {
		return nil, fmt.Errorf("fgmask: load %s: need T, w, h ≥ 1, got T=%d, %d×%d", dir, T, w, h)
	}
	entries, err := os.ReadDir(dir)
	if err != nil {
		return nil, fmt.Errorf("fgmask: mask folder: %w", err)
	}
	var names []string
	for _, e := range entries {
		if e.Type().IsRegular() || e.Type()&os.ModeSymlink != 0 {
			if maskExt(e.Name()) {
				names = append(names, e.Name())
			}
		}
	}
	if len(names) == 0 {
		return nil, fmt.Errorf("fgmask: no mask files (*.png, *.jpg, *.jpeg) in %s", dir)
	}
	if len(names) != T {
		return nil, fmt.Errorf("fgmask: %s holds %d mask files but the video has %d frames", dir, len(names), T)
	}
	// os.ReadDir sorts by name already; the reference sorts the paths,
	// which is the same order within one folder.

	// Decode the first file for the source size, then the others in
	// parallel, each resized as soon as it is decoded so that only the
	// model-resolution stack stays in memory.
	first := filepath.Join(dir, names[0])
	bits0, sw, sh, err := readMask(first)
	if err != nil {
		return nil, err
	}
	m := New(T, h, w)
	rows := nearestTable(sh, h)
	cols := nearestTable(sw, w)
	resizeNearest(m.Frame(0), bits0, sw, rows, cols)
	errs := make([]error, T)
	parallel.For(T-1, 1, func(lo, hi int) {
		for i := lo + 1; i < hi+1; i++ {
			path := filepath.Join(dir, names[i])
			bits, mw, mh, err := readMask(path)
			switch {
			case err != nil:
				errs[i] = err
			case mw != sw || mh != sh:
				errs[i] = fmt.Errorf("fgmask: masks differ in size: %s is %d×%d, %s is %d×%d", first, sw, sh, path, mw, mh)
			default:
				resizeNearest(m.Frame(i), bits, sw, rows, cols)
			}
		}
	})
	for _, err := range errs {
		if err != nil {
			return nil, err
		}
	}
	return m, nil
}

// readMask decodes one mask file into a binary w×h plane.
func readMask(path string) (bits []uint8, w, h int, err error) {
	raw, err := os.ReadFile(path)
	if err != nil {
		return nil, 0, 0, fmt.Errorf("fgmask: %w", err)
	}
	img, format, err := image.Decode(bytes.NewReader(raw))
	if err != nil {
		return nil, 0, 0, fmt.Errorf("fgmask: decoding mask %s: %w", path, err)
	}
	bits, w, h = binarize(img, format == "jpeg")
	return bits, w, h, nil
}

// binarize turns a decoded mask into a 0/1 plane by the rules documented on
// Load.
func binarize(img image.Image, isJPEG bool) (bits []uint8, w, h int) {
	b := img.Bounds()
	w, h = b.Dx(), b.Dy()
	bits = make([]uint8, w*h)
	thr := uint8(0)
	if isJPEG {
		thr = JPEGThreshold
	}
	switch s := img.(type) {
	case *image.Paletted:
		for y := 0; y < h; y++ {
			row := s.Pix[s.PixOffset(b.Min.X, b.Min.Y+y):]
			for x := 0; x < w; x++ {
				if row[x] != 0 {
					bits[y*w+x] = 1
				}
			}
		}
	case *image.Gray:
		for y := 0; y < h; y++ {
			row := s.Pix[s.PixOffset(b.Min.X, b.Min.Y+y):]
			for x := 0; x < w; x++ {
				if row[x] > thr {
					bits[y*w+x] = 1
				}
			}
		}
	case *image.Gray16:
		for y := 0; y < h; y++ {
			for x := 0; x < w; x++ {
				if s.Gray16At(b.Min.X+x, b.Min.Y+y).Y > uint16(thr)<<8 {
					bits[y*w+x] = 1
				}
			}
		}
	default:
		rgb := imgproc.FromImage(img)
		for i := range bits {
			r, g, bl := uint32(rgb.Pix[3*i]), uint32(rgb.Pix[3*i+1]), uint32(rgb.Pix[3*i+2])
			if luma := (19595*r + 38470*g + 7471*bl + 1<<15) >> 16; luma > uint32(thr) {
				bits[i] = 1
			}
		}
	}
	return bits, w, h
}

// nearestIndex is the source index PyTorch's legacy nearest interpolation
// (aten/native UpSample.h nearest_idx) reads for output index dst when
// resizing in → out: dst when the sizes agree, dst>>1 when out = 2·in, and
// otherwise min(floorf(dst·scale), in−1) with scale = float32(in)/out in
// float32. The float32 rounding matters: for 2 → 82, output 41 reads input
// 0, where the exact floor(41·2/82) would be 1.
func nearestIndex(dst, in, out int) int {
	switch {
	case in == out:
		return dst
	case out == 2*in:
		return dst >> 1
	}
	scale := float32(in) / float32(out)
	i := int(math.Floor(float64(float32(float32(dst) * scale))))
	return min(i, in-1)
}

// nearestTable returns nearestIndex(j, in, out) for j in [0, out).
func nearestTable(in, out int) []int {
	t := make([]int, out)
	for j := range t {
		t[j] = nearestIndex(j, in, out)
	}
	return t
}

// resizeNearest fills dst (len(rows)×len(cols)) from the srcW-wide plane
// src with the given source rows and columns.
func resizeNearest(dst, src []uint8, srcW int, rows, cols []int) {
	ow := len(cols)
	for y, sy := range rows {
		s := src[sy*srcW : (sy+1)*srcW]
		d := dst[y*ow : (y+1)*ow]
		for x, sx := range cols {
			d[x] = s[sx]
		}
	}
}

// WriteDir writes every frame of m into dir as an 8-bit greyscale PNG with
// 0 for background and 255 for foreground, named %05d.png from 00000.png,
// the naming of the reference's mask folders. Load reads them back
// unchanged. dir is created when missing. Each file is written atomically (a
// temporary file in dir, renamed into place); mask files already in dir
// under other names are left alone, so write into an empty folder if you
// mean to Load it back.
func (m *Masks) WriteDir(dir string) error {
	if err := m.check(); err != nil {
		return err
	}
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return fmt.Errorf("fgmask: %w", err)
	}
	errs := make([]error, m.T)
	parallel.For(m.T, 1, func(lo, hi int) {
		img := image.NewGray(image.Rect(0, 0, m.W, m.H))
		for t := lo; t < hi; t++ {
			for i, v := range m.Frame(t) {
				img.Pix[i] = 0
				if v != 0 {
					img.Pix[i] = 255
				}
			}
			path := filepath.Join(dir, fmt.Sprintf("%05d.png", t))
			errs[t] = safetensors.WriteAtomic(path, func(w io.Writer) error { return png.Encode(w, img) })
		}
	})
	for _, err := range errs {
		if err != nil {
			return fmt.Errorf("fgmask: %w", err)
		}
	}
	return nil
}

// LoadFile reads one mask image (rules as Load) and resizes it with
// nearest-neighbour sampling to w×h; the result is 0/1 bytes, row-major.
func LoadFile(path string, w, h int) ([]uint8, error) {
	if w < 1 || h < 1 {
		return nil, fmt.Errorf("fgmask: load %s: need w, h ≥ 1, got %d×%d", path, w, h)
	}
	bits, sw, sh, err := readMask(path)
	if err != nil {
		return nil, err
	}
	out := make([]uint8, w*h)
	resizeNearest(out, bits, sw, nearestTable(sh, h), nearestTable(sw, w))
	return out, nil
}
