package imgproc

import (
	"fmt"
	"math"
)

// precisionBits is Pillow's PRECISION_BITS (32 - 8 - 2): the number of
// fractional bits of the fixed-point filter weights.
const precisionBits = 32 - 8 - 2

// lanczosSupport is the half-width of the Lanczos-3 kernel.
const lanczosSupport = 3.0

// sinc is sin(πx)/(πx) with sinc(0) = 1, as Pillow's sinc_filter.
func sinc(x float64) float64 {
	if x == 0 {
		return 1
	}
	x *= math.Pi
	return math.Sin(x) / x
}

// lanczos3 is Pillow's lanczos_filter: sinc(x)·sinc(x/3) on [-3, 3), else 0.
func lanczos3(x float64) float64 {
	if -3.0 <= x && x < 3.0 {
		return sinc(x) * sinc(x/3)
	}
	return 0
}

// coeffs holds the fixed-point filter of one resampling axis, laid out as
// Pillow's precompute_coeffs: output index o reads inputs
// start[o] .. start[o]+count[o]-1 with weights k[o*ksize : o*ksize+count[o]].
type coeffs struct {
	ksize        int
	start, count []int
	k            []int32
}

// lanczosCoeffs ports Pillow's precompute_coeffs + normalize_coeffs_8bpc for
// the LANCZOS filter and the whole input range (box = (0, inSize)).
func lanczosCoeffs(inSize, outSize int) coeffs {
	// in Pillow, in1-in0 is a C float; exact for any realistic size.
	scale := float64(float32(inSize)) / float64(outSize)
	filterscale := scale
	if filterscale < 1 {
		filterscale = 1
	}
	support := lanczosSupport * filterscale
	ksize := int(math.Ceil(support))*2 + 1
	c := coeffs{
		ksize: ksize,
		start: make([]int, outSize),
		count: make([]int, outSize),
		k:     make([]int32, outSize*ksize),
	}
	w := make([]float64, ksize)
	ss := 1.0 / filterscale
	for xx := 0; xx < outSize; xx++ {
		center := (float64(xx) + 0.5) * scale
		// (int) casts in C truncate toward zero.
		xmin := int(center - support + 0.5)
		if xmin < 0 {
			xmin = 0
		}
		xmax := int(center + support + 0.5)
		if xmax > inSize {
			xmax = inSize
		}
		xmax -= xmin
		if xmax > ksize { // cannot happen; guards the slice below
			xmax = ksize
		}
		ww := 0.0
		for x := 0; x < xmax; x++ {
			v := lanczos3((float64(x+xmin) - center + 0.5) * ss)
			w[x] = v
			ww += v
		}
		k := c.k[xx*ksize : xx*ksize+ksize]
		for x := 0; x < xmax; x++ {
			v := w[x]
			if ww != 0 {
				v /= ww
			}
			if v < 0 {
				k[x] = int32(-0.5 + v*(1<<precisionBits))
			} else {
				k[x] = int32(0.5 + v*(1<<precisionBits))
			}
		}
		c.start[xx] = xmin
		c.count[xx] = xmax
	}
	return c
}

// clip8 is Pillow's clip8: the accumulator shifted right by precisionBits
// (arithmetically) and clamped to [0, 255].
func clip8(v int32) uint8 {
	v >>= precisionBits
	if v < 0 {
		return 0
	}
	if v > 255 {
		return 255
	}
	return uint8(v)
}

// ResizeLanczos resizes an 8-bit RGB image to w×h exactly as Pillow 9.4's
// Image.resize((w, h), Image.LANCZOS) does for an "RGB" image: a separable
// Lanczos-3 filter (support widened by the scale when shrinking) in 22-bit
// fixed point, first horizontally into an 8-bit intermediate (only if the
// width changes), then vertically (only if the height changes). The output is
// bit-identical to Pillow's.
//
// When the size is unchanged the result is a copy of src. It returns an error
// when w or h is not positive or src is empty or malformed.
func ResizeLanczos(src *RGB8, w, h int) (*RGB8, error) {
	if src == nil {
		return nil, fmt.Errorf("imgproc: ResizeLanczos of a nil image")
	}
	if w <= 0 || h <= 0 {
		return nil, fmt.Errorf("imgproc: ResizeLanczos to %dx%d: width and height must be positive", w, h)
	}
	if src.W <= 0 || src.H <= 0 {
		return nil, fmt.Errorf("imgproc: ResizeLanczos of an empty %dx%d image", src.W, src.H)
	}
	if len(src.Pix) != 3*src.W*src.H {
		return nil, fmt.Errorf("imgproc: RGB8 %dx%d has %d bytes, want %d", src.W, src.H, len(src.Pix), 3*src.W*src.H)
	}
	cur := src
	if w != src.W {
		cur = resizeHorizontal(cur, w, lanczosCoeffs(src.W, w))
	}
	if h != src.H {
		cur = resizeVertical(cur, h, lanczosCoeffs(src.H, h))
	}
	if cur == src {
		cur = src.Clone()
	}
	return cur, nil
}

// resizeHorizontal is Pillow's ImagingResampleHorizontal_8bpc on 3 bands.
func resizeHorizontal(src *RGB8, outW int, c coeffs) *RGB8 {
	out := NewRGB8(outW, src.H)
	inW := src.W
	parallelRows(src.H, outW*c.ksize, func(lo, hi int) {
		for y := lo; y < hi; y++ {
			in := src.Pix[3*y*inW : 3*(y+1)*inW]
			o := out.Pix[3*y*outW : 3*(y+1)*outW]
			for xx := 0; xx < outW; xx++ {
				n := c.count[xx]
				k := c.k[xx*c.ksize : xx*c.ksize+n]
				p := in[3*c.start[xx] : 3*(c.start[xx]+n)]
				s0, s1, s2 := int32(1<<(precisionBits-1)), int32(1<<(precisionBits-1)), int32(1<<(precisionBits-1))
				for x, kx := range k {
					q := p[3*x : 3*x+3]
					s0 += int32(q[0]) * kx
					s1 += int32(q[1]) * kx
					s2 += int32(q[2]) * kx
				}
				o[3*xx], o[3*xx+1], o[3*xx+2] = clip8(s0), clip8(s1), clip8(s2)
			}
		}
	})
	return out
}

// resizeVertical is Pillow's ImagingResampleVertical_8bpc on 3 bands. Sums of
// int32 products are accumulated row by row; two's-complement addition is
// associative, so the result equals Pillow's per-pixel order bit for bit.
func resizeVertical(src *RGB8, outH int, c coeffs) *RGB8 {
	w3 := 3 * src.W
	out := NewRGB8(src.W, outH)
	parallelRows(outH, w3*c.ksize, func(lo, hi int) {
		acc := make([]int32, w3)
		for yy := lo; yy < hi; yy++ {
			for i := range acc {
				acc[i] = 1 << (precisionBits - 1)
			}
			n := c.count[yy]
			k := c.k[yy*c.ksize : yy*c.ksize+n]
			y0 := c.start[yy]
			j := 0
			// four taps per sweep: fewer loads and stores of acc
			for ; j+4 <= n; j += 4 {
				r0 := src.Pix[(y0+j)*w3 : (y0+j+1)*w3]
				r1 := src.Pix[(y0+j+1)*w3 : (y0+j+2)*w3]
				r2 := src.Pix[(y0+j+2)*w3 : (y0+j+3)*w3]
				r3 := src.Pix[(y0+j+3)*w3 : (y0+j+4)*w3]
				k0, k1, k2, k3 := k[j], k[j+1], k[j+2], k[j+3]
				acc := acc[:len(r0)]
				r1, r2, r3 = r1[:len(r0)], r2[:len(r0)], r3[:len(r0)]
				for i, v := range r0 {
					acc[i] += int32(v)*k0 + int32(r1[i])*k1 + int32(r2[i])*k2 + int32(r3[i])*k3
				}
			}
			for ; j < n; j++ {
				row := src.Pix[(y0+j)*w3 : (y0+j+1)*w3]
				ky := k[j]
				acc := acc[:len(row)]
				for i, v := range row {
					acc[i] += int32(v) * ky
				}
			}
			o := out.Pix[yy*w3 : (yy+1)*w3]
			for i, v := range acc {
				o[i] = clip8(v)
			}
		}
	})
	return out
}
