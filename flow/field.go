// Package flow is dense optical flow for dinotracker: the flow field type,
// a pure-Go coarse-to-fine estimator that replaces RAFT, and readers and
// writers for the common flow file formats so users can bring their own.
//
// A Field holds, for every pixel (x, y) of the first frame, the displacement
// (U, V) in pixels to its position in the second frame: pixel (x, y) moves to
// (x+U, y+V). x grows to the right, y down; pixel centres are at integer
// coordinates. Invalid or unknown vectors are NaN.
package flow

import (
	"fmt"
	"math"
)

// Field is a dense flow field, stored planar: U[y*W+x], V[y*W+x].
type Field struct {
	W, H int
	U, V []float32
}

// NewField returns a zero field of the given size.
func NewField(w, h int) *Field {
	return &Field{W: w, H: h, U: make([]float32, w*h), V: make([]float32, w*h)}
}

// At returns the vector at integer pixel (x, y).
func (f *Field) At(x, y int) (u, v float32) {
	i := y*f.W + x
	return f.U[i], f.V[i]
}

// Validate checks sizes and reports the first NaN or infinite vector when
// allowInvalid is false.
func (f *Field) Validate(allowInvalid bool) error {
	if f.W <= 0 || f.H <= 0 || len(f.U) != f.W*f.H || len(f.V) != f.W*f.H {
		return fmt.Errorf("flow: field of %d×%d holds %d/%d values", f.W, f.H, len(f.U), len(f.V))
	}
	if allowInvalid {
		return nil
	}
	for i := range f.U {
		if u, v := float64(f.U[i]), float64(f.V[i]); math.IsNaN(u) || math.IsNaN(v) || math.IsInf(u, 0) || math.IsInf(v, 0) {
			return fmt.Errorf("flow: vector at (%d,%d) is (%v,%v); flow must be finite", i%f.W, i/f.W, u, v)
		}
	}
	return nil
}

// Sample returns the flow at a sub-pixel position by bilinear interpolation
// with zero padding outside the image, as PyTorch's grid_sample with
// align_corners=True and padding_mode="zeros" does (the reference's
// sampling of flows along trajectories).
func (f *Field) Sample(x, y float32) (u, v float32) {
	x0f, y0f := float32(math.Floor(float64(x))), float32(math.Floor(float64(y)))
	x0, y0 := int(x0f), int(y0f)
	ax, ay := x-x0f, y-y0f
	var su, sv float32
	add := func(xi, yi int, w float32) {
		if xi < 0 || yi < 0 || xi >= f.W || yi >= f.H || w == 0 {
			return
		}
		i := yi*f.W + xi
		su += w * f.U[i]
		sv += w * f.V[i]
	}
	add(x0, y0, (1-ax)*(1-ay))
	add(x0+1, y0, ax*(1-ay))
	add(x0, y0+1, (1-ax)*ay)
	add(x0+1, y0+1, ax*ay)
	return su, sv
}
