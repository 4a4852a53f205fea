package traj

import (
	"math"

	"dinotracker/flow"
)

// geom holds the per-size constants of the samplers. The arithmetic below
// reproduces, operation by operation in float32, what upstream PyTorch does
// on the CPU, so that chained positions match upstream bit for bit (they do
// on the golden case):
//
//   - sampleZero is RAFT's bilinear_sampler (x ↦ 2x/(W−1) − 1) followed by
//     the vectorised 2-D grid_sample kernel (align_corners=True, zero
//     padding: unnormalise (g+1)·((W−1)/2), weights s·e, s·w, n·e, n·w,
//     accumulated nw, ne, sw, se);
//   - sampleBorder is upstream utils.bilinear_interpolate_video
//     (x ↦ x/(W−1)·2 − 1) followed by the scalar 3-D grid_sample kernel
//     (unnormalise ((g+1)/2)·(W−1), clip to [0, W−1] for border padding,
//     weights (x1−x)(y1−y) …) at an exact frame index.
//
// Both accumulate the four weighted corners with fused multiply-adds, as
// PyTorch's CPU build does.
type geom struct {
	W, H     int
	wm1, hm1 float32 // W−1, H−1
	sw, sh   float32 // (W−1)/2, (H−1)/2
	fw, fh   float32 // W, H
}

func newGeom(W, H int) geom {
	return geom{
		W: W, H: H,
		wm1: float32(W - 1), hm1: float32(H - 1),
		sw: float32(W-1) / 2, sh: float32(H-1) / 2,
		fw: float32(W), fh: float32(H),
	}
}

// inside reports whether (x, y) lies in [0, W−1]×[0, H−1].
func (g *geom) inside(x, y float32) bool {
	return x >= 0 && x <= g.wm1 && y >= 0 && y <= g.hm1
}

// fma32 returns a·b + c rounded once to float32, as a fused multiply-add
// does. The float64 product of two float32 values is exact; the float64 sum
// is rounded once, and the second rounding (to float32) is corrected in the
// rare case where the first one landed exactly halfway between two float32
// values (exact for results in float32's normal range).
func fma32(a, b, c float32) float32 {
	p := float64(a) * float64(b)
	r := p + float64(c)
	if isTie32(r) {
		return fma32Tie(p, float64(c))
	}
	return float32(r)
}

// isTie32 reports whether r lies exactly halfway between two float32
// values (its 29 low significand bits are 1000…0).
func isTie32(r float64) bool { return math.Float64bits(r)<<35 == 1<<63 }

// lerp4 returns the bilinear sum fma(a3, w3, fma(a2, w2, fma(a1, w1,
// a0·w0))) in float32: fma32 written out so that the common path needs no
// call.
func lerp4(a0, a1, a2, a3, w0, w1, w2, w3 float32) float32 {
	acc := a0 * w0
	p := float64(a1) * float64(w1)
	r := p + float64(acc)
	if isTie32(r) {
		acc = fma32Tie(p, float64(acc))
	} else {
		acc = float32(r)
	}
	p = float64(a2) * float64(w2)
	r = p + float64(acc)
	if isTie32(r) {
		acc = fma32Tie(p, float64(acc))
	} else {
		acc = float32(r)
	}
	p = float64(a3) * float64(w3)
	r = p + float64(acc)
	if isTie32(r) {
		return fma32Tie(p, float64(acc))
	}
	return float32(r)
}

// fma32Tie rounds r = p + c (float64) to float32 when r fell exactly on a
// float32 midpoint: the exact rounding error of the sum decides the side.
func fma32Tie(p, c float64) float32 {
	r := p + c
	bv := r - p
	e := (p - (r - bv)) + (c - bv) // exact error of r (TwoSum)
	if e > 0 {
		r = math.Nextafter(r, math.Inf(1))
	} else if e < 0 {
		r = math.Nextafter(r, math.Inf(-1))
	}
	return float32(r)
}

// norm2 is ‖(dx, dy)‖ rounded to float32.
func norm2(dx, dy float32) float32 {
	return float32(math.Sqrt(float64(dx)*float64(dx) + float64(dy)*float64(dy)))
}

// sampleZero samples f bilinearly at pixel position (x, y) with zero padding
// outside the image (grid_sample, align_corners=True, padding "zeros").
func (g *geom) sampleZero(f *flow.Field, x, y float32) (u, v float32) {
	ix := (float32(float32(2*x)/g.wm1) - 1 + 1) * g.sw
	iy := (float32(float32(2*y)/g.hm1) - 1 + 1) * g.sh
	// Entirely outside (or NaN): all four corners are masked out.
	if !(ix > -1 && ix < g.fw && iy > -1 && iy < g.fh) {
		return 0, 0
	}
	// floor, for values above −1
	x0, y0 := int(ix), int(iy)
	if float32(x0) > ix {
		x0--
	}
	if float32(y0) > iy {
		y0--
	}
	xw, yn := float32(x0), float32(y0)
	w := ix - xw
	e := 1 - w
	n := iy - yn
	s := 1 - n
	nw, ne, sw, se := s*e, s*w, n*e, n*w
	W := g.W
	var u00, v00, u10, v10, u01, v01, u11, v11 float32
	inX0, inX1 := x0 >= 0, x0+1 < W
	if y0 >= 0 {
		i := y0*W + x0
		if inX0 {
			u00, v00 = f.U[i], f.V[i]
		}
		if inX1 {
			u10, v10 = f.U[i+1], f.V[i+1]
		}
	}
	if y0+1 < g.H {
		i := (y0+1)*W + x0
		if inX0 {
			u01, v01 = f.U[i], f.V[i]
		}
		if inX1 {
			u11, v11 = f.U[i+1], f.V[i+1]
		}
	}
	// PyTorch's CPU build contracts the weighted sum into fused
	// multiply-adds; with them the golden positions are reproduced bit for
	// bit (without, about 3% differ by an ulp or more).
	return lerp4(u00, u10, u01, u11, nw, ne, sw, se), lerp4(v00, v10, v01, v11, nw, ne, sw, se)
}

// sampleBorder samples f bilinearly at (x, y) with border padding (the
// position is clamped into the image), as upstream samples the backward
// direct flows.
func (g *geom) sampleBorder(f *flow.Field, x, y float32) (u, v float32) {
	gx := float32(float32(x/g.wm1)*2) - 1
	gy := float32(float32(y/g.hm1)*2) - 1
	ix := float32((gx+1)/2) * g.wm1
	iy := float32((gy+1)/2) * g.hm1
	ix = min(max(ix, 0), g.wm1) // NaN clamps to 0, as clip_coordinates does
	iy = min(max(iy, 0), g.hm1)
	if ix != ix {
		ix = 0
	}
	if iy != iy {
		iy = 0
	}
	x0, y0 := int(ix), int(iy) // floor, as ix, iy ≥ 0
	xw, yn := float32(x0), float32(y0)
	xe, ys := xw+1, yn+1
	nw := float32((xe - ix) * (ys - iy))
	ne := float32((ix - xw) * (ys - iy))
	sw := float32((xe - ix) * (iy - yn))
	se := float32((ix - xw) * (iy - yn))
	// Corners outside the image are skipped by PyTorch; a zero value adds
	// exactly nothing to the sum.
	W := g.W
	i := y0*W + x0
	var u10, v10, u01, v01, u11, v11 float32
	inX1, inY1 := x0+1 < W, y0+1 < g.H
	if inX1 {
		u10, v10 = f.U[i+1], f.V[i+1]
	}
	if inY1 {
		u01, v01 = f.U[i+W], f.V[i+W]
	}
	if inX1 && inY1 {
		u11, v11 = f.U[i+W+1], f.V[i+W+1]
	}
	return lerp4(f.U[i], u10, u01, u11, nw, ne, sw, se), lerp4(f.V[i], v10, v01, v11, nw, ne, sw, se)
}

// directValidAt is upstream's direct-flow validity at integer pixel p =
// (px, py): the forward target p + D(p) lies inside the image and the cycle
// error ‖p − (c + Dback(c))‖, c = p + D(p), is below thr.
func (g *geom) directValidAt(df, db *flow.Field, p int, px, py, thr float32) bool {
	x1, y1 := px+df.U[p], py+df.V[p]
	if !g.inside(x1, y1) {
		return false
	}
	bu, bv := g.sampleBorder(db, x1, y1)
	return norm2(px-(x1+bu), py-(y1+bv)) < thr
}
