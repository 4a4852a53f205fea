package imgproc

import (
	"fmt"
	"image"
	"image/jpeg"
	"io"
)

// DecodeJPEG decodes a JPEG to 8-bit RGB, approximating what PIL
// (libjpeg-turbo, default settings) returns for Image.open(f).convert("RGB").
//
// image/jpeg does the entropy decoding and IDCT; for YCbCr images the chroma
// planes are then upsampled with libjpeg's "fancy" triangular filters (h2v1,
// h2v2, h1v2; replication for other ratios) and converted with libjpeg's
// 16-bit fixed-point YCbCr→RGB tables (jdcolor.c). Greyscale images become
// R=G=B=Y. Other colour spaces (RGB, CMYK) use image/jpeg's conversion.
//
// The remaining difference to libjpeg-turbo comes from the IDCT: on the
// DAVIS test frame about 99.8% of values agree within one level.
func DecodeJPEG(r io.Reader) (*RGB8, error) {
	img, err := jpeg.Decode(r)
	if err != nil {
		return nil, fmt.Errorf("imgproc: decoding JPEG: %w", err)
	}
	return FromImage(img), nil
}

// libjpeg's fixed-point YCbCr→RGB tables (jdcolor.c build_ycc_rgb_table).
var (
	crRTab [256]int32
	cbBTab [256]int32
	crGTab [256]int32
	cbGTab [256]int32
)

func init() {
	const scaleBits = 16
	const oneHalf = 1 << (scaleBits - 1)
	fix := func(x float64) int32 { return int32(x*(1<<scaleBits) + 0.5) }
	for i := 0; i < 256; i++ {
		x := int32(i - 128)
		crRTab[i] = (fix(1.40200)*x + oneHalf) >> scaleBits
		cbBTab[i] = (fix(1.77200)*x + oneHalf) >> scaleBits
		crGTab[i] = -fix(0.71414) * x
		cbGTab[i] = -fix(0.34414)*x + oneHalf
	}
}

// rangeLimit clamps to [0, 255] (libjpeg's range_limit table).
func rangeLimit(v int32) uint8 {
	if v < 0 {
		return 0
	}
	if v > 255 {
		return 255
	}
	return uint8(v)
}

// yccToRGB converts one pixel with libjpeg's ycc_rgb_convert arithmetic.
func yccToRGB(y, cb, cr uint8) (uint8, uint8, uint8) {
	yy := int32(y)
	return rangeLimit(yy + crRTab[cr]),
		rangeLimit(yy + ((cbGTab[cb] + crGTab[cr]) >> 16)),
		rangeLimit(yy + cbBTab[cb])
}

// YCbCrToRGB8 converts a *image.YCbCr (as image/jpeg returns it) to RGB the way
// libjpeg-turbo does with do_fancy_upsampling on: chroma is upsampled with
// h2v1_fancy_upsample (4:2:2), h2v2_fancy_upsample (4:2:0) or
// h1v2_fancy_upsample (4:4:0), replicating edge samples, and then converted
// with libjpeg's fixed-point tables. 4:1:1 and 4:1:0 chroma is replicated, as
// libjpeg's int_upsample does. Images whose origin is not (0, 0) are treated
// by replication as well (their chroma phase is unknown).
func YCbCrToRGB8(m *image.YCbCr) *RGB8 {
	b := m.Rect
	w, h := b.Dx(), b.Dy()
	out := NewRGB8(w, h)
	if w == 0 || h == 0 {
		return out
	}
	fancy := b.Min == (image.Point{})
	// chroma plane size as libjpeg's downsampled_width/height
	var hs, vs int // horizontal / vertical subsampling factors
	switch m.SubsampleRatio {
	case image.YCbCrSubsampleRatio444:
		hs, vs = 1, 1
	case image.YCbCrSubsampleRatio422:
		hs, vs = 2, 1
	case image.YCbCrSubsampleRatio420:
		hs, vs = 2, 2
	case image.YCbCrSubsampleRatio440:
		hs, vs = 1, 2
	case image.YCbCrSubsampleRatio411:
		hs, vs = 4, 1
		fancy = false
	case image.YCbCrSubsampleRatio410:
		hs, vs = 4, 2
		fancy = false
	default:
		fancy = false
	}
	if hs == 1 && vs == 1 {
		fancy = false
	}
	if !fancy {
		parallelRows(h, w, func(lo, hi int) {
			for y := lo; y < hi; y++ {
				o := out.Pix[3*y*w:]
				for x := 0; x < w; x++ {
					yi := m.YOffset(b.Min.X+x, b.Min.Y+y)
					ci := m.COffset(b.Min.X+x, b.Min.Y+y)
					o[3*x], o[3*x+1], o[3*x+2] = yccToRGB(m.Y[yi], m.Cb[ci], m.Cr[ci])
				}
			}
		})
		return out
	}
	cw := (w + hs - 1) / hs // libjpeg downsampled_width
	ch := (h + vs - 1) / vs // libjpeg downsampled_height
	// Upsample each output row of chroma into per-worker buffers of width
	// hs*cw ≥ w, then convert.
	parallelRows(h, w, func(lo, hi int) {
		cbRow := make([]uint8, hs*cw)
		crRow := make([]uint8, hs*cw)
		for y := lo; y < hi; y++ {
			fancyRow(m.Cb, m.CStride, cw, ch, hs, vs, y, cbRow)
			fancyRow(m.Cr, m.CStride, cw, ch, hs, vs, y, crRow)
			yrow := m.Y[y*m.YStride : y*m.YStride+w]
			o := out.Pix[3*y*w : 3*(y+1)*w]
			for x, yv := range yrow {
				o[3*x], o[3*x+1], o[3*x+2] = yccToRGB(yv, cbRow[x], crRow[x])
			}
		}
	})
	return out
}

// fancyRow computes output row y (full resolution) of one chroma plane with
// libjpeg-turbo's fancy upsampling (jdsample.c) and writes hs*cw samples to dst.
// plane has cw×ch valid samples with the given stride; rows above the first
// and below the last are replicated, as jdmainct.c's context pointers do.
func fancyRow(plane []uint8, stride, cw, ch, hs, vs, y int, dst []uint8) {
	switch {
	case hs == 2 && vs == 1:
		in := plane[y*stride : y*stride+cw]
		if cw <= 2 { // libjpeg falls back to h2v1_upsample
			for i, v := range in {
				dst[2*i], dst[2*i+1] = v, v
			}
			return
		}
		// h2v1_fancy_upsample
		v0 := int(in[0])
		dst[0] = uint8(v0)
		dst[1] = uint8((v0*3 + int(in[1]) + 2) >> 2)
		for i := 1; i < cw-1; i++ {
			v := int(in[i]) * 3
			dst[2*i] = uint8((v + int(in[i-1]) + 1) >> 2)
			dst[2*i+1] = uint8((v + int(in[i+1]) + 2) >> 2)
		}
		v := int(in[cw-1])
		dst[2*cw-2] = uint8((v*3 + int(in[cw-2]) + 1) >> 2)
		dst[2*cw-1] = uint8(v)
	case hs == 2 && vs == 2:
		r := y >> 1
		in0 := plane[r*stride : r*stride+cw]
		if cw <= 2 { // libjpeg falls back to h2v2_upsample (box)
			for i, v := range in0 {
				dst[2*i], dst[2*i+1] = v, v
			}
			return
		}
		// nearest row r; next nearest is above for even y, below for odd y
		r1 := r - 1
		if y&1 == 1 {
			r1 = r + 1
		}
		r1 = max(0, min(r1, ch-1))
		in1 := plane[r1*stride : r1*stride+cw]
		// h2v2_fancy_upsample
		this := int(in0[0])*3 + int(in1[0])
		next := int(in0[1])*3 + int(in1[1])
		dst[0] = uint8((this*4 + 8) >> 4)
		dst[1] = uint8((this*3 + next + 7) >> 4)
		last := this
		this = next
		for i := 1; i < cw-1; i++ {
			next = int(in0[i+1])*3 + int(in1[i+1])
			dst[2*i] = uint8((this*3 + last + 8) >> 4)
			dst[2*i+1] = uint8((this*3 + next + 7) >> 4)
			last, this = this, next
		}
		dst[2*cw-2] = uint8((this*3 + last + 8) >> 4)
		dst[2*cw-1] = uint8((this*4 + 7) >> 4)
	case hs == 1 && vs == 2:
		// h1v2_fancy_upsample (libjpeg-turbo ≥ 2.0: bias 1 above, 2 below)
		r := y >> 1
		r1, bias := r-1, 1
		if y&1 == 1 {
			r1, bias = r+1, 2
		}
		r1 = max(0, min(r1, ch-1))
		in0 := plane[r*stride : r*stride+cw]
		in1 := plane[r1*stride : r1*stride+cw]
		for i := range in0 {
			dst[i] = uint8((int(in0[i])*3 + int(in1[i]) + bias) >> 2)
		}
	default:
		panic("imgproc: unsupported fancy upsampling ratio")
	}
}
