package flow

import (
	"math"

	"dinotracker/imgproc"
	"dinotracker/internal/parallel"
)

// plane is a single-channel float32 image, row-major without padding.
type plane struct {
	w, h int
	p    []float32
}

// resize makes pl a w×h plane, reusing its storage when large enough.
func (pl *plane) resize(w, h int) {
	pl.w, pl.h = w, h
	pl.p = grow(pl.p, w*h)
}

// grow returns s resliced to n elements, reallocating only when its capacity
// is too small. The contents are unspecified.
func grow(s []float32, n int) []float32 {
	if cap(s) < n {
		return make([]float32, n)
	}
	return s[:n]
}

// rowGrain is the minimum number of image rows per parallel chunk for a
// cheap per-pixel loop over rows of width w.
func rowGrain(w int) int { return max(1, 16384/max(w, 1)) }

// Luma weights of ITU-R BT.601 (as OpenCV's RGB2GRAY and PIL's "L" mode):
// grey = 0.299 R + 0.587 G + 0.114 B, on the 0–255 scale.
const (
	lumaR = 0.299
	lumaG = 0.587
	lumaB = 0.114
)

// toGrey converts an 8-bit RGB image to BT.601 luma in [0, 255].
func toGrey(dst *plane, m *imgproc.RGB8) {
	dst.resize(m.W, m.H)
	w := m.W
	parallel.For(m.H, rowGrain(w), func(lo, hi int) {
		for i := lo * w; i < hi*w; i++ {
			px := m.Pix[3*i : 3*i+3 : 3*i+3]
			dst.p[i] = lumaR*float32(px[0]) + lumaG*float32(px[1]) + lumaB*float32(px[2])
		}
	})
}

// gaussKernel returns a normalised 1-D Gaussian of standard deviation sigma
// with radius ceil(2.5 sigma) (at least 1).
func gaussKernel(sigma float64) []float32 {
	r := max(1, int(math.Ceil(2.5*sigma)))
	k := make([]float32, 2*r+1)
	var s float64
	for i := -r; i <= r; i++ {
		v := math.Exp(-float64(i*i) / (2 * sigma * sigma))
		k[i+r] = float32(v)
		s += v
	}
	for i := range k {
		k[i] = float32(float64(k[i]) / s)
	}
	return k
}

// clampi clamps i to [0, n-1].
func clampi(i, n int) int {
	if i < 0 {
		return 0
	}
	if i >= n {
		return n - 1
	}
	return i
}

// blur convolves src with the separable kernel k (odd length) using
// replicated borders; tmp is scratch of the same size. dst may alias src.
func blur(dst, src, tmp *plane, k []float32) {
	w, h := src.w, src.h
	r := len(k) / 2
	tmp.resize(w, h)
	parallel.For(h, rowGrain(w*len(k)/4), func(lo, hi int) {
		for y := lo; y < hi; y++ {
			row := src.p[y*w : y*w+w]
			out := tmp.p[y*w : y*w+w]
			for x := 0; x < w; x++ {
				var s float32
				if x >= r && x+r < w {
					seg := row[x-r : x+r+1]
					for i, kv := range k {
						s += kv * seg[i]
					}
				} else {
					for i, kv := range k {
						s += kv * row[clampi(x+i-r, w)]
					}
				}
				out[x] = s
			}
		}
	})
	dst.resize(w, h)
	parallel.For(h, rowGrain(w*len(k)/4), func(lo, hi int) {
		for y := lo; y < hi; y++ {
			out := dst.p[y*w : y*w+w]
			for x := range out {
				out[x] = 0
			}
			for i, kv := range k {
				row := tmp.p[clampi(y+i-r, h)*w:][:w]
				for x := range out {
					out[x] += kv * row[x]
				}
			}
		}
	})
}

// pyrDown writes to dst the half-size image of src: a 5-tap binomial blur
// [1 4 6 4 1]/16 with replicated borders, sampled at even pixels. The
// coarse pixel (x, y) sits at the fine pixel (2x, 2y); the coarse size is
// ceil(w/2)×ceil(h/2). tmp is scratch.
func pyrDown(dst, src, tmp *plane) {
	w, h := src.w, src.h
	w2, h2 := (w+1)/2, (h+1)/2
	tmp.resize(w2, h)
	parallel.For(h, rowGrain(w), func(lo, hi int) {
		for y := lo; y < hi; y++ {
			row := src.p[y*w : y*w+w]
			out := tmp.p[y*w2 : y*w2+w2]
			for x2 := range out {
				x := 2 * x2
				if x >= 2 && x+2 < w {
					s := row[x-2 : x+3 : x+3]
					out[x2] = (s[0]+s[4])*(1.0/16) + (s[1]+s[3])*(4.0/16) + s[2]*(6.0/16)
				} else {
					out[x2] = (row[clampi(x-2, w)]+row[clampi(x+2, w)])*(1.0/16) +
						(row[clampi(x-1, w)]+row[clampi(x+1, w)])*(4.0/16) + row[x]*(6.0/16)
				}
			}
		}
	})
	dst.resize(w2, h2)
	parallel.For(h2, rowGrain(w2), func(lo, hi int) {
		for y2 := lo; y2 < hi; y2++ {
			y := 2 * y2
			r0 := tmp.p[clampi(y-2, h)*w2:][:w2]
			r1 := tmp.p[clampi(y-1, h)*w2:][:w2]
			r2 := tmp.p[y*w2:][:w2]
			r3 := tmp.p[clampi(y+1, h)*w2:][:w2]
			r4 := tmp.p[clampi(y+2, h)*w2:][:w2]
			out := dst.p[y2*w2 : y2*w2+w2]
			for x := range out {
				out[x] = (r0[x]+r4[x])*(1.0/16) + (r1[x]+r3[x])*(4.0/16) + r2[x]*(6.0/16)
			}
		}
	})
}

// gradient writes the image derivatives of src: central differences
// (I(x+1)-I(x-1))/2 with replicated borders (one-sided at the edges).
// When smooth is set the cross direction is smoothed with [1 2 1]/4 (a
// normalised Sobel operator).
func gradient(gx, gy, src *plane, smooth bool) {
	w, h := src.w, src.h
	gx.resize(w, h)
	gy.resize(w, h)
	parallel.For(h, rowGrain(w), func(lo, hi int) {
		for y := lo; y < hi; y++ {
			rm := src.p[clampi(y-1, h)*w:][:w]
			r0 := src.p[y*w:][:w]
			rp := src.p[clampi(y+1, h)*w:][:w]
			ox := gx.p[y*w : y*w+w]
			oy := gy.p[y*w : y*w+w]
			for x := 0; x < w; x++ {
				xm, xp := clampi(x-1, w), clampi(x+1, w)
				if smooth {
					ox[x] = ((rm[xp] - rm[xm]) + 2*(r0[xp]-r0[xm]) + (rp[xp] - rp[xm])) * (1.0 / 8)
					oy[x] = ((rp[xm] - rm[xm]) + 2*(rp[x]-rm[x]) + (rp[xp] - rm[xp])) * (1.0 / 8)
				} else {
					ox[x] = (r0[xp] - r0[xm]) * 0.5
					oy[x] = (rp[x] - rm[x]) * 0.5
				}
			}
		}
	})
}

// bilinear samples src at (x, y) with replicated borders (NaN coordinates
// read pixel 0).
func bilinear(src []float32, w, h int, x, y float32) float32 {
	if !(x >= 0) {
		x = 0
	} else if x > float32(w-1) {
		x = float32(w - 1)
	}
	if !(y >= 0) {
		y = 0
	} else if y > float32(h-1) {
		y = float32(h - 1)
	}
	x0, y0 := int(x), int(y)
	ax, ay := x-float32(x0), y-float32(y0)
	x1, y1 := min(x0+1, w-1), min(y0+1, h-1)
	r0, r1 := src[y0*w:], src[y1*w:]
	a := r0[x0] + ax*(r0[x1]-r0[x0])
	b := r1[x0] + ax*(r1[x1]-r1[x0])
	return a + ay*(b-a)
}

// warpImage writes dst(x, y) = src(x+u, y+v) (bilinear, replicated
// borders) and, when mask is non-nil, mask = 1 where the target lies inside
// the image and 0 elsewhere.
func warpImage(dst *plane, src *plane, u, v []float32, mask []float32) {
	w, h := src.w, src.h
	dst.resize(w, h)
	fw, fh := float32(w-1), float32(h-1)
	parallel.For(h, rowGrain(w), func(lo, hi int) {
		for y := lo; y < hi; y++ {
			for x := 0; x < w; x++ {
				i := y*w + x
				tx, ty := float32(x)+u[i], float32(y)+v[i]
				dst.p[i] = bilinear(src.p, w, h, tx, ty)
				if mask != nil {
					if tx >= 0 && ty >= 0 && tx <= fw && ty <= fh {
						mask[i] = 1
					} else {
						mask[i] = 0
					}
				}
			}
		}
	})
}

// upsampleFlow resamples the coarse flow (cu, cv of cw×ch) to the fine size
// w×h and doubles the vectors. It follows pyrDown's convention: the fine
// pixel x sits at the coarse coordinate x/2.
func upsampleFlow(u, v []float32, w, h int, cu, cv []float32, cw, ch int) {
	parallel.For(h, rowGrain(w), func(lo, hi int) {
		for y := lo; y < hi; y++ {
			fy := float32(y) * 0.5
			for x := 0; x < w; x++ {
				fx := float32(x) * 0.5
				i := y*w + x
				u[i] = 2 * bilinear(cu, cw, ch, fx, fy)
				v[i] = 2 * bilinear(cv, cw, ch, fx, fy)
			}
		}
	})
}
