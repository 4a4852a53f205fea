// Package imgproc holds the image primitives of the DINO-Tracker port:
//
//   - an 8-bit interleaved RGB image type (RGB8) with conversions from and to
//     image.Image and to planar float32;
//   - ResizeLanczos, a bit-exact port of Pillow 9.4's
//     Image.resize(size, Image.LANCZOS) for 8-bit RGB;
//   - DecodeJPEG, a JPEG decoder that matches PIL/libjpeg-turbo far more closely
//     than image/jpeg's own RGB conversion (libjpeg "fancy" chroma upsampling and
//     libjpeg's fixed-point YCbCr→RGB);
//   - ResizeBilinear, ResizeBicubic and ResizeBicubicScale, float32 ports of
//     PyTorch's F.interpolate on [C,H,W] maps.
//
// Everything is pure Go. The heavy loops are split over rows with at most
// runtime.GOMAXPROCS(0) goroutines.
package imgproc

import (
	"fmt"
	"image"
	"image/color"

	"dinotracker/internal/parallel"
)

// RGB8 is an 8-bit RGB image stored interleaved, row-major, without padding:
// the pixel (x, y) occupies Pix[3*(y*W+x) : 3*(y*W+x)+3] as R, G, B
// (HWC layout, as numpy's asarray of a PIL "RGB" image).
//
// RGB8 implements image.Image with origin (0, 0).
type RGB8 struct {
	W, H int
	Pix  []uint8
}

// NewRGB8 returns a black w×h image. It panics when w or h is negative.
func NewRGB8(w, h int) *RGB8 {
	if w < 0 || h < 0 {
		panic(fmt.Sprintf("imgproc: negative image size %dx%d", w, h))
	}
	return &RGB8{W: w, H: h, Pix: make([]uint8, 3*w*h)}
}

// ColorModel implements image.Image; pixels are reported as opaque color.RGBA.
func (m *RGB8) ColorModel() color.Model { return color.RGBAModel }

// Bounds implements image.Image: the rectangle (0,0)-(W,H).
func (m *RGB8) Bounds() image.Rectangle { return image.Rect(0, 0, m.W, m.H) }

// At implements image.Image. Pixels outside the image are transparent black.
func (m *RGB8) At(x, y int) color.Color {
	if x < 0 || y < 0 || x >= m.W || y >= m.H {
		return color.RGBA{}
	}
	i := 3 * (y*m.W + x)
	return color.RGBA{m.Pix[i], m.Pix[i+1], m.Pix[i+2], 255}
}

// Set stores an 8-bit RGB value at (x, y); out-of-range coordinates are ignored.
func (m *RGB8) Set(x, y int, r, g, b uint8) {
	if x < 0 || y < 0 || x >= m.W || y >= m.H {
		return
	}
	i := 3 * (y*m.W + x)
	m.Pix[i], m.Pix[i+1], m.Pix[i+2] = r, g, b
}

// Clone returns a deep copy of m.
func (m *RGB8) Clone() *RGB8 {
	return &RGB8{W: m.W, H: m.H, Pix: append([]uint8(nil), m.Pix...)}
}

// ToRGBA converts m to an opaque *image.RGBA.
func (m *RGB8) ToRGBA() *image.RGBA {
	out := image.NewRGBA(image.Rect(0, 0, m.W, m.H))
	n := m.W * m.H
	for i := 0; i < n; i++ {
		out.Pix[4*i] = m.Pix[3*i]
		out.Pix[4*i+1] = m.Pix[3*i+1]
		out.Pix[4*i+2] = m.Pix[3*i+2]
		out.Pix[4*i+3] = 255
	}
	return out
}

// Float32CHW writes the image as planar float32 [3, H, W] with every value
// float32(v)/255, into dst when it has capacity for 3·W·H values (a new
// slice otherwise), and returns the slice.
func (m *RGB8) Float32CHW(dst []float32) []float32 {
	n := m.W * m.H
	if cap(dst) < 3*n {
		dst = make([]float32, 3*n)
	}
	dst = dst[:3*n]
	r, g, b := dst[:n], dst[n:2*n], dst[2*n:]
	for i := 0; i < n; i++ {
		r[i] = float32(m.Pix[3*i]) / 255
		g[i] = float32(m.Pix[3*i+1]) / 255
		b[i] = float32(m.Pix[3*i+2]) / 255
	}
	return dst
}

// FromImage converts any image.Image to RGB8, with the result's origin moved
// to (0, 0). Fast paths cover *RGB8 (copied), *image.RGBA, *image.NRGBA,
// *image.Gray and *image.YCbCr; everything else (paletted, 16-bit, CMYK, ...)
// goes through the colour model.
//
// Alpha is dropped: premultiplied colours (image.RGBA) are taken as stored,
// non-premultiplied ones (image.NRGBA, NRGBA64) keep their colour channels,
// as PIL's convert("RGB") does. A *image.YCbCr with 4:2:0, 4:2:2 or 4:4:0
// subsampling is upsampled the way libjpeg does (see YCbCrToRGB8).
func FromImage(img image.Image) *RGB8 {
	b := img.Bounds()
	w, h := b.Dx(), b.Dy()
	switch s := img.(type) {
	case *RGB8:
		return s.Clone()
	case *image.YCbCr:
		return YCbCrToRGB8(s)
	case *image.RGBA:
		out := NewRGB8(w, h)
		for y := 0; y < h; y++ {
			row := s.Pix[s.PixOffset(b.Min.X, b.Min.Y+y):]
			o := out.Pix[3*y*w:]
			for x := 0; x < w; x++ {
				o[3*x], o[3*x+1], o[3*x+2] = row[4*x], row[4*x+1], row[4*x+2]
			}
		}
		return out
	case *image.NRGBA:
		out := NewRGB8(w, h)
		for y := 0; y < h; y++ {
			row := s.Pix[s.PixOffset(b.Min.X, b.Min.Y+y):]
			o := out.Pix[3*y*w:]
			for x := 0; x < w; x++ {
				o[3*x], o[3*x+1], o[3*x+2] = row[4*x], row[4*x+1], row[4*x+2]
			}
		}
		return out
	case *image.Gray:
		out := NewRGB8(w, h)
		for y := 0; y < h; y++ {
			row := s.Pix[s.PixOffset(b.Min.X, b.Min.Y+y):]
			o := out.Pix[3*y*w:]
			for x := 0; x < w; x++ {
				v := row[x]
				o[3*x], o[3*x+1], o[3*x+2] = v, v, v
			}
		}
		return out
	}
	out := NewRGB8(w, h)
	for y := 0; y < h; y++ {
		o := out.Pix[3*y*w:]
		for x := 0; x < w; x++ {
			var r, g, bl uint32
			switch c := img.At(b.Min.X+x, b.Min.Y+y).(type) {
			case color.NRGBA:
				r, g, bl = uint32(c.R)<<8, uint32(c.G)<<8, uint32(c.B)<<8
			case color.NRGBA64:
				r, g, bl = uint32(c.R), uint32(c.G), uint32(c.B)
			default:
				r, g, bl, _ = c.RGBA()
			}
			o[3*x], o[3*x+1], o[3*x+2] = uint8(r>>8), uint8(g>>8), uint8(bl>>8)
		}
	}
	return out
}

// parallelRows calls fn on contiguous sub-ranges [lo, hi) of [0, n) with
// parallel.For; jobs costing (n·work) below about 64k run on the calling
// goroutine.
func parallelRows(n, work int, fn func(lo, hi int)) {
	parallel.For(n, max(1, (1<<16)/max(work, 1)), fn)
}
