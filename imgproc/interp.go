package imgproc

import (
	"fmt"
	"math"
)

// cubicA is PyTorch's bicubic coefficient (A = -0.75).
const cubicA = float32(-0.75)

// axisTaps holds, for one axis, the input indices and float32 weights of
// every output index: taps per output, laid out [out][taps].
type axisTaps struct {
	taps int
	idx  []int
	w    []float32
}

// linearTaps ports PyTorch's compute_source_index_and_lambda (upsample_linear
// helpers): scale is the float32 ratio from area_pixel_compute_scale.
func linearTaps(in, out int, alignCorners bool) axisTaps {
	t := axisTaps{taps: 2, idx: make([]int, 2*out), w: make([]float32, 2*out)}
	var scale float32
	if alignCorners {
		if out > 1 {
			scale = float32(in-1) / float32(out-1)
		}
	} else {
		scale = float32(in) / float32(out)
	}
	for o := 0; o < out; o++ {
		if in == out {
			t.idx[2*o], t.idx[2*o+1] = o, o
			t.w[2*o], t.w[2*o+1] = 1, 0
			continue
		}
		var src float32
		if alignCorners {
			src = scale * float32(o)
		} else {
			src = scale*(float32(o)+0.5) - 0.5
			if src < 0 {
				src = 0
			}
		}
		i0 := int(src) // src ≥ 0: truncation is floor
		i1 := i0
		if i0 < in-1 {
			i1 = i0 + 1
		}
		l1 := min(max(src-float32(i0), 0), 1)
		t.idx[2*o], t.idx[2*o+1] = i0, i1
		t.w[2*o], t.w[2*o+1] = 1-l1, l1
	}
	return t
}

// cubicConv1 is PyTorch's cubic_convolution1 (|x| ≤ 1).
func cubicConv1(x, a float32) float32 { return ((a+2)*x-(a+3))*x*x + 1 }

// cubicConv2 is PyTorch's cubic_convolution2 (1 < |x| < 2).
func cubicConv2(x, a float32) float32 { return ((a*x-5*a)*x+8*a)*x - 4*a }

// cubicTaps ports PyTorch's HelperInterpCubic::compute_indices_weights with a
// float32 scale: src = scale·(o+0.5)−0.5 (or scale·o with align_corners), no
// clamp, i = floor(src), t = src−i, taps i−1..i+2 clamped to [0, in−1].
func cubicTaps(in, out int, scale float32, alignCorners bool) axisTaps {
	t := axisTaps{taps: 4, idx: make([]int, 4*out), w: make([]float32, 4*out)}
	for o := 0; o < out; o++ {
		var src float32
		if alignCorners {
			src = scale * float32(o)
		} else {
			src = scale*(float32(o)+0.5) - 0.5
		}
		fl := float32(math.Floor(float64(src)))
		i := min(int(fl), in-1)
		l := min(max(src-float32(i), 0), 1)
		w := t.w[4*o : 4*o+4]
		w[0] = cubicConv2(l+1, cubicA)
		w[1] = cubicConv1(l, cubicA)
		x2 := 1 - l
		w[2] = cubicConv1(x2, cubicA)
		w[3] = cubicConv2(x2+1, cubicA)
		for j := 0; j < 4; j++ {
			t.idx[4*o+j] = max(min(i-1+j, in-1), 0)
		}
	}
	return t
}

// separable evaluates out[c, oy, ox] = Σ_j wy_j · (Σ_i wx_i · src[c, y_j, x_i])
// in float32, accumulating in tap order as PyTorch's upsample_generic_Nd
// kernel does (height taps outer, width taps inner).
func separable(src []float32, c, h, w int, ty, tx axisTaps) []float32 {
	oh, ow := len(ty.idx)/ty.taps, len(tx.idx)/tx.taps
	out := make([]float32, c*oh*ow)
	parallelRows(c*oh, ow*ty.taps*tx.taps, func(lo, hi int) {
		for r := lo; r < hi; r++ {
			ch, oy := r/oh, r%oh
			plane := src[ch*h*w : (ch+1)*h*w]
			dst := out[r*ow : (r+1)*ow]
			yi := ty.idx[oy*ty.taps : (oy+1)*ty.taps]
			yw := ty.w[oy*ty.taps : (oy+1)*ty.taps]
			for ox := range dst {
				xi := tx.idx[ox*tx.taps : (ox+1)*tx.taps]
				xw := tx.w[ox*tx.taps : (ox+1)*tx.taps]
				var acc float32
				for j, y := range yi {
					row := plane[y*w : (y+1)*w]
					t := row[xi[0]] * xw[0]
					for i := 1; i < len(xi); i++ {
						t += row[xi[i]] * xw[i]
					}
					if j == 0 {
						acc = t * yw[0]
					} else {
						acc += t * yw[j]
					}
				}
				dst[ox] = acc
			}
		}
	})
	return out
}

func checkMap(name string, src []float32, c, h, w, oh, ow int) {
	if c <= 0 || h <= 0 || w <= 0 || oh <= 0 || ow <= 0 {
		panic(fmt.Sprintf("imgproc: %s: sizes must be positive (c=%d %dx%d → %dx%d)", name, c, h, w, oh, ow))
	}
	if len(src) != c*h*w {
		panic(fmt.Sprintf("imgproc: %s: src has %d values, want c·h·w = %d", name, len(src), c*h*w))
	}
}

// ResizeBilinear resizes a float32 [c, h, w] map to [c, oh, ow] like
// torch.nn.functional.interpolate(x, size=(oh, ow), mode="bilinear",
// align_corners=alignCorners) on CPU: float32 scale in/out (or (in−1)/(out−1)
// with align_corners), source index clamped at 0, second tap clamped to the
// last row/column, and an exact copy along an axis whose size is unchanged.
// It panics on non-positive sizes or a src of the wrong length.
func ResizeBilinear(src []float32, c, h, w, oh, ow int, alignCorners bool) []float32 {
	checkMap("ResizeBilinear", src, c, h, w, oh, ow)
	return separable(src, c, h, w, linearTaps(h, oh, alignCorners), linearTaps(w, ow, alignCorners))
}

// cubicSizeScale is PyTorch's area_pixel_compute_scale without a scale factor.
func cubicSizeScale(in, out int, alignCorners bool) float32 {
	if alignCorners {
		if out > 1 {
			return float32(in-1) / float32(out-1)
		}
		return 0
	}
	return float32(in) / float32(out)
}

// ResizeBicubic resizes a float32 [c, h, w] map to [c, oh, ow] like
// torch.nn.functional.interpolate(x, size=(oh, ow), mode="bicubic",
// align_corners=alignCorners) on CPU: Keys cubic kernel with A = −0.75,
// float32 scale in/out (or (in−1)/(out−1)), taps clamped to the border.
// It panics on non-positive sizes or a src of the wrong length.
func ResizeBicubic(src []float32, c, h, w, oh, ow int, alignCorners bool) []float32 {
	checkMap("ResizeBicubic", src, c, h, w, oh, ow)
	ty := cubicTaps(h, oh, cubicSizeScale(h, oh, alignCorners), alignCorners)
	tx := cubicTaps(w, ow, cubicSizeScale(w, ow, alignCorners), alignCorners)
	return separable(src, c, h, w, ty, tx)
}

// BicubicScaleSize returns the output size floor(in·sf) (computed in float64,
// as Python does) that F.interpolate uses for a scale_factor with
// recompute_scale_factor=False.
func BicubicScaleSize(in int, sf float64) int {
	return int(math.Floor(float64(in) * sf))
}

// ResizeBicubicScale resizes a float32 [c, h, w] map like
// torch.nn.functional.interpolate(x, scale_factor=(sh, sw), mode="bicubic",
// align_corners=False, recompute_scale_factor=False) on CPU, and returns the
// map with its size oh = floor(h·sh), ow = floor(w·sw).
//
// Unlike a resize by size, the source coordinate uses the given factor:
// src = (dst + 0.5)·float32(1/sf) − 0.5, where 1/sf is computed in float64
// and rounded to float32 (PyTorch's compute_scales_value). This is the rule of
// DINOv2's interpolate_pos_encoding and DINO-Tracker's _fix_pos_enc, which pass
// sf = (h'+0.1)/37 and (w'+0.1)/37. It panics when the factors are not
// positive and finite or the output would be empty.
func ResizeBicubicScale(src []float32, c, h, w int, sh, sw float64) (out []float32, oh, ow int) {
	if !(sh > 0) || !(sw > 0) || math.IsInf(sh, 0) || math.IsInf(sw, 0) {
		panic(fmt.Sprintf("imgproc: ResizeBicubicScale: scale factors (%g, %g) must be positive and finite", sh, sw))
	}
	oh, ow = BicubicScaleSize(h, sh), BicubicScaleSize(w, sw)
	checkMap("ResizeBicubicScale", src, c, h, w, oh, ow)
	ty := cubicTaps(h, oh, float32(1.0/sh), false)
	tx := cubicTaps(w, ow, float32(1.0/sw), false)
	return separable(src, c, h, w, ty, tx), oh, ow
}
