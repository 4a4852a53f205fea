package nn

import (
	"fmt"
	"math"

	"dinotracker/internal/parallel"
)

// SoftArgmaxShape describes DINO-Tracker's windowed soft-argmax
// (TrackerHead.soft_argmax in models/networks/tracker_head.py): a heat map
// over a GH×GW token grid whose token (i, j) is centred at pixel
// (Offset + Stride·j, Offset + Stride·i).
type SoftArgmaxShape struct {
	GH, GW int
	// Stride and Offset of the token centres in pixels: 7 and 7 for
	// DINOv2 at stride 7 (patch 14).
	Stride, Offset float32
	// Radius of the window around the argmax token, in pixels, inclusive
	// (argmax_radius = 35).
	Radius float32
	// MinMass is the window mass below which the weights fall back to
	// (nearly) uniform: 1e-8 upstream.
	MinMass float32
}

// TrackerSoftArgmax returns the shape DINO-Tracker uses for a gh×gw token
// grid: stride 7, offset 7, radius 35 px, fallback below mass 1e-8.
func TrackerSoftArgmax(gh, gw int) SoftArgmaxShape {
	return SoftArgmaxShape{GH: gh, GW: gw, Stride: 7, Offset: 7, Radius: 35, MinMass: 1e-8}
}

// InWindow reports whether token p (flat index row*GW+col) lies in the
// window around token a: the Euclidean distance of their pixel centres,
// computed in float32 as torch.norm does, is ≤ Radius.
func (s SoftArgmaxShape) InWindow(a, p int) bool {
	dx := float32(p%s.GW-a%s.GW) * s.Stride
	dy := float32(p/s.GW-a/s.GW) * s.Stride
	return float32(math.Sqrt(float64(dx*dx+dy*dy))) <= s.Radius
}

// window returns the token rows/cols range that can hold window members.
func (s SoftArgmaxShape) window(a int) (r0, r1, c0, c1 int) {
	k := int(math.Ceil(float64(s.Radius/s.Stride))) + 1
	ar, ac := a/s.GW, a%s.GW
	return max(0, ar-k), min(s.GH, ar+k+1), max(0, ac-k), min(s.GW, ac+k+1)
}

// SoftArgmaxForward computes, for every row b of heat [B, GH*GW] (a softmax
// map), the weighted mean of the token centres inside the window around
// token argmax[b] (the coarse argmax of the cost volume, not of heat):
//
//	out[b] = Σ_{p∈win} w_p·centre(p) / Σ_{p∈win} w_p,   out [B, 2] = (x, y) px
//
// with w_p = heat[b, p]. If the window's mass Σ heat is below MinMass,
// upstream adds 1/|win| to every window weight (a near-uniform fallback):
// w_p = heat[b, p] + 1/|win|. mass [B] receives Σ w_p for the backward.
// The window depends on argmax only, so no gradient flows through it.
func SoftArgmaxForward(out, mass, heat []float32, argmax []int, b int, s SoftArgmaxShape) {
	n := s.GH * s.GW
	checkLen("SoftArgmaxForward", "heat", heat, b*n)
	checkLen("SoftArgmaxForward", "out", out, 2*b)
	checkLen("SoftArgmaxForward", "mass", mass, b)
	if len(argmax) < b {
		panic(fmt.Sprintf("nn: SoftArgmaxForward: %d argmax indices for %d rows", len(argmax), b))
	}
	parallel.For(b, 1, func(lo, hi int) {
		for q := lo; q < hi; q++ {
			a := argmax[q]
			hm := heat[q*n : (q+1)*n]
			r0, r1, c0, c1 := s.window(a)
			var m float64
			cnt := 0
			for i := r0; i < r1; i++ {
				for j := c0; j < c1; j++ {
					if p := i*s.GW + j; s.InWindow(a, p) {
						m += float64(hm[p])
						cnt++
					}
				}
			}
			var u float64
			if float32(m) < s.MinMass {
				u = 1 / float64(cnt)
			}
			var sw, sx, sy float64
			for i := r0; i < r1; i++ {
				for j := c0; j < c1; j++ {
					if p := i*s.GW + j; s.InWindow(a, p) {
						w := float64(hm[p]) + u
						sw += w
						sx += w * float64(s.Offset+s.Stride*float32(j))
						sy += w * float64(s.Offset+s.Stride*float32(i))
					}
				}
			}
			mass[q] = float32(sw)
			out[2*q], out[2*q+1] = float32(sx/sw), float32(sy/sw)
		}
	})
}

// SoftArgmaxBackward accumulates dheat[b, p] += ⟨dout[b], centre(p) -
// out[b]⟩ / mass[b] for p in the window (0 elsewhere). out and mass are the
// forward's results.
func SoftArgmaxBackward(dheat, dout, out, mass []float32, argmax []int, b int, s SoftArgmaxShape) {
	n := s.GH * s.GW
	checkLen("SoftArgmaxBackward", "dheat", dheat, b*n)
	checkLen("SoftArgmaxBackward", "dout", dout, 2*b)
	parallel.For(b, 1, func(lo, hi int) {
		for q := lo; q < hi; q++ {
			a := argmax[q]
			gx, gy := dout[2*q]/mass[q], dout[2*q+1]/mass[q]
			ox, oy := out[2*q], out[2*q+1]
			r0, r1, c0, c1 := s.window(a)
			for i := r0; i < r1; i++ {
				cy := s.Offset + s.Stride*float32(i)
				for j := c0; j < c1; j++ {
					if p := i*s.GW + j; s.InWindow(a, p) {
						cx := s.Offset + s.Stride*float32(j)
						dheat[q*n+p] += gx*(cx-ox) + gy*(cy-oy)
					}
				}
			}
		}
	})
}
