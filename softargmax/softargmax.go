// Package softargmax holds the last stage of DINO-Tracker's tracker head
// (upstream models/networks/tracker_head.py): the coarse argmax of the cost
// volume, the softmax over all token positions (no temperature) and the
// windowed soft-argmax that averages the token centres within a radius of
// the argmax, with its gradient.
//
// # Coordinates
//
// Maps are row-major [GH, GW], flat index = row·GW + col. Token (row, col)
// has its centre at pixel (Offset + Stride·col, Offset + Stride·row); with
// DINO-Tracker's stride 7 and 14-pixel patches that is (7·col + 7,
// 7·row + 7). Estimates are in the same pixel units.
//
// # Conventions
//
// Functions that produce a whole map (Softmax, the logit gradient of
// WindowBackward) overwrite their destination. Each fast function has a
// plain reference loop (SoftmaxRef, WindowRef, WindowBackwardRef) that is
// its specification.
package softargmax

import (
	"fmt"
	"math"
)

// MassEps is the window mass below which the window weights fall back to
// uniform (upstream hm_sum < 1e-8).
const MassEps = 1e-8

// Grid places the tokens of a GH×GW map in pixel space and sets the window
// radius.
type Grid struct {
	GH, GW int     // map rows and columns
	Stride float64 // pixels between token centres (7)
	Offset float64 // pixel coordinate of token (0, 0)'s centre (7 = patch/2)
	Radius float64 // window radius in pixels, inclusive (35)
}

// DefaultGrid is DINO-Tracker's grid: stride 7, offset 7, radius 35 px.
func DefaultGrid(gh, gw int) Grid {
	return Grid{GH: gh, GW: gw, Stride: 7, Offset: 7, Radius: 35}
}

// Centre returns the pixel centre (x, y) of flat token index idx.
func (g Grid) Centre(idx int) (x, y float64) {
	return g.Offset + g.Stride*float64(idx%g.GW), g.Offset + g.Stride*float64(idx/g.GW)
}

// Size is GH·GW.
func (g Grid) Size() int { return g.GH * g.GW }

// inWindow reports whether token (r, c) is within Radius of token (r0, c0),
// comparing squared distances (exact for integer stride, offset and radius;
// upstream compares a float32 norm of integer offsets, which agrees).
func (g Grid) inWindow(r, c, r0, c0 int) bool {
	dx := g.Stride * float64(c-c0)
	dy := g.Stride * float64(r-r0)
	return dx*dx+dy*dy <= g.Radius*g.Radius
}

// box returns the rows and columns [rlo, rhi) × [clo, chi) that can hold
// window tokens around (r0, c0).
func (g Grid) box(r0, c0 int) (rlo, rhi, clo, chi int) {
	k := 0
	if g.Stride > 0 {
		k = int(math.Floor(g.Radius/g.Stride)) + 1
	}
	return max(0, r0-k), min(g.GH, r0+k+1), max(0, c0-k), min(g.GW, c0+k+1)
}

// Argmax returns the first index of the largest value of m (PyTorch's
// argmax: ties go to the lowest index, and a NaN counts as the largest). It
// returns -1 for an empty m.
func Argmax(m []float32) int {
	if len(m) == 0 {
		return -1
	}
	// With a kernel: the largest value, then its first occurrence; a NaN
	// anywhere goes to the plain loop, which finds the first one.
	if mx, unordered, n := maxAsm(m); n > 0 && !unordered {
		for _, v := range m[n:] {
			if v != v {
				return ArgmaxRef(m)
			}
			mx = max(mx, v)
		}
		if i := firstEqAsm(m, mx); i < n {
			return i
		}
		for i, v := range m[n:] {
			if v == mx {
				return n + i
			}
		}
	}
	return ArgmaxRef(m)
}

// ArgmaxRef is Argmax as a plain loop, its specification.
func ArgmaxRef(m []float32) int {
	if len(m) == 0 {
		return -1
	}
	best, bi := m[0], 0
	if best != best {
		return 0
	}
	for i, v := range m {
		if v > best {
			best, bi = v, i
		} else if v != v {
			return i
		}
	}
	return bi
}

// Max returns the largest value of m as the builtin max does: NaN when m
// holds one, −Inf when m is empty, +0 over −0.
func Max(m []float32) float32 {
	mx := float32(math.Inf(-1))
	rest := m
	if k, unordered, n := maxAsm(m); n > 0 {
		if unordered {
			return float32(math.NaN())
		}
		if k == 0 { // the kernel leaves a zero's sign open
			return MaxRef(m)
		}
		mx, rest = k, m[n:]
	}
	for _, v := range rest {
		mx = max(mx, v)
	}
	return mx
}

// MaxRef is Max as a plain loop, its specification.
func MaxRef(m []float32) float32 {
	mx := float32(math.Inf(-1))
	for _, v := range m {
		mx = max(mx, v)
	}
	return mx
}

// Softmax writes dst[j] = exp(x_j − max x) / Σ_k exp(x_k − max x) for
// x = logits, with the exponentials and the sum in float64. dst may alias
// logits.
func Softmax(dst, logits []float32) {
	if len(dst) < len(logits) {
		panic(fmt.Sprintf("softargmax: Softmax dst holds %d values, want %d", len(dst), len(logits)))
	}
	if len(logits) == 0 {
		return
	}
	m := logits[0]
	for _, v := range logits {
		if v > m {
			m = v
		}
	}
	mf := float64(m)
	var s float64
	for j, v := range logits {
		e := math.Exp(float64(v) - mf)
		s += e
		dst[j] = float32(e)
	}
	inv := 1 / s
	for j := range logits {
		dst[j] = float32(float64(dst[j]) * inv)
	}
}

// SoftmaxRef is the reference loop for Softmax (float64 throughout, one
// exponential per output).
func SoftmaxRef(dst, logits []float32) {
	m := math.Inf(-1)
	for _, v := range logits {
		m = math.Max(m, float64(v))
	}
	var s float64
	for _, v := range logits {
		s += math.Exp(float64(v) - m)
	}
	for j, v := range logits {
		dst[j] = float32(math.Exp(float64(v)-m) / s)
	}
}

// SoftmaxBackward writes the logit gradient dLogits[j] =
// p_j·(dProbs[j] − Σ_k p_k·dProbs[k]) for probabilities p = probs.
func SoftmaxBackward(dLogits, probs, dProbs []float32) {
	var dot float64
	for k, p := range probs {
		dot += float64(p) * float64(dProbs[k])
	}
	for j, p := range probs {
		dLogits[j] = float32(float64(p) * (float64(dProbs[j]) - dot))
	}
}

// Result is a windowed soft-argmax estimate.
type Result struct {
	X, Y     float64 // estimate in pixels
	Mass     float64 // Σ of the probabilities inside the window
	Sum      float64 // normaliser used: Mass, or Σ_window (p + 1/Count) in the fallback
	Fallback bool    // Mass < MassEps: uniform weights were added
	Count    int     // tokens in the window
	Center   int     // flat index of the window centre (the coarse argmax)
}

// Window computes the windowed soft-argmax of a probability map probs
// [GH·GW] around token center (the coarse argmax):
//
//	W = {p : ‖centre(p) − centre(center)‖ ≤ Radius}
//	(X, Y) = Σ_{p∈W} probs[p]·centre(p) / Σ_{p∈W} probs[p].
//
// When the window mass Σ_{p∈W} probs[p] is below MassEps, upstream adds
// the uniform weight 1/|W| to every window token and normalises by the new
// sum (≈ Mass + 1), which makes the estimate the centroid of the window's
// token centres up to a relative 1e-8; Window does exactly that. Sums are
// float64. WindowRef is the specification.
func Window(probs []float32, g Grid, center int) Result {
	checkWindow(probs, g, center)
	r0, c0 := center/g.GW, center%g.GW
	rlo, rhi, clo, chi := g.box(r0, c0)
	var m, sx, sy, cx, cy float64
	n := 0
	for r := rlo; r < rhi; r++ {
		y := g.Offset + g.Stride*float64(r)
		row := probs[r*g.GW : (r+1)*g.GW]
		for c := clo; c < chi; c++ {
			if !g.inWindow(r, c, r0, c0) {
				continue
			}
			x := g.Offset + g.Stride*float64(c)
			p := float64(row[c])
			m += p
			sx += p * x
			sy += p * y
			cx += x
			cy += y
			n++
		}
	}
	res := Result{Mass: m, Sum: m, Count: n, Center: center}
	if m < MassEps {
		// Σ (p + u)·x = sx + u·Σx; Σ (p + u) = m + u·n = m + 1.
		u := 1 / float64(n)
		res.Fallback = true
		res.Sum = m + u*float64(n)
		sx += u * cx
		sy += u * cy
	}
	res.X, res.Y = sx/res.Sum, sy/res.Sum
	return res
}

func checkWindow(probs []float32, g Grid, center int) {
	if g.GH <= 0 || g.GW <= 0 || len(probs) < g.GH*g.GW {
		panic(fmt.Sprintf("softargmax: map of %d values for a %d×%d grid", len(probs), g.GH, g.GW))
	}
	if center < 0 || center >= g.GH*g.GW {
		panic(fmt.Sprintf("softargmax: window centre %d outside the %d×%d grid", center, g.GH, g.GW))
	}
}

// WindowRef is the reference loop for Window: it visits every token of the
// map, as upstream's masked sums do.
func WindowRef(probs []float32, g Grid, center int) Result {
	cxp, cyp := g.Centre(center)
	var m float64
	n := 0
	in := func(idx int) bool {
		x, y := g.Centre(idx)
		return (x-cxp)*(x-cxp)+(y-cyp)*(y-cyp) <= g.Radius*g.Radius
	}
	for idx := 0; idx < g.Size(); idx++ {
		if in(idx) {
			m += float64(probs[idx])
			n++
		}
	}
	res := Result{Mass: m, Sum: m, Count: n, Center: center}
	var u float64
	if m < MassEps {
		res.Fallback = true
		u = 1 / float64(n)
	}
	var s, sx, sy float64
	for idx := 0; idx < g.Size(); idx++ {
		if !in(idx) {
			continue
		}
		w := float64(probs[idx]) + u
		x, y := g.Centre(idx)
		s += w
		sx += w * x
		sy += w * y
	}
	res.Sum = s
	res.X, res.Y = sx/s, sy/s
	return res
}

// WindowMask sets dst[p] (len ≥ GH·GW) to whether token p lies in the
// window around center, and returns the window's token count.
func WindowMask(dst []bool, g Grid, center int) int {
	r0, c0 := center/g.GW, center%g.GW
	n := 0
	for r := 0; r < g.GH; r++ {
		for c := 0; c < g.GW; c++ {
			in := g.inWindow(r, c, r0, c0)
			dst[r*g.GW+c] = in
			if in {
				n++
			}
		}
	}
	return n
}

// WindowBackward writes into dLogits [GH·GW] the gradient of a loss with
// respect to the logits whose softmax is probs, given dx, dy = dL/dX, dL/dY
// of the Window result res (computed from the same probs). Through the
// window, dL/dp = (dx·(x_p − X) + dy·(y_p − Y))/res.Sum for p ∈ W and 0
// outside; then the softmax backward dL/dz_q = p_q·(dL/dp_q − Σ_k p_k·dL/dp_k).
//
// The formula holds in the fallback case too (the added uniform weights are
// constants). There Sum ≈ 1 and every p is below MassEps, so the logit
// gradient is of order MassEps·Radius: numerically negligible, but not zero.
func WindowBackward(dLogits, probs []float32, g Grid, res Result, dx, dy float64) {
	checkWindow(probs, g, res.Center)
	if len(dLogits) < g.Size() {
		panic(fmt.Sprintf("softargmax: WindowBackward dLogits holds %d values, want %d", len(dLogits), g.Size()))
	}
	r0, c0 := res.Center/g.GW, res.Center%g.GW
	rlo, rhi, clo, chi := g.box(r0, c0)
	inv := 1 / res.Sum
	// dot = Σ_{p∈W} p·g_p.
	var dot float64
	for r := rlo; r < rhi; r++ {
		y := g.Offset + g.Stride*float64(r)
		for c := clo; c < chi; c++ {
			if !g.inWindow(r, c, r0, c0) {
				continue
			}
			x := g.Offset + g.Stride*float64(c)
			gp := (dx*(x-res.X) + dy*(y-res.Y)) * inv
			dot += float64(probs[r*g.GW+c]) * gp
		}
	}
	n := g.Size()
	for q, p := range probs[:n] {
		dLogits[q] = float32(-float64(p) * dot)
	}
	for r := rlo; r < rhi; r++ {
		y := g.Offset + g.Stride*float64(r)
		for c := clo; c < chi; c++ {
			if !g.inWindow(r, c, r0, c0) {
				continue
			}
			x := g.Offset + g.Stride*float64(c)
			gp := (dx*(x-res.X) + dy*(y-res.Y)) * inv
			q := r*g.GW + c
			dLogits[q] = float32(float64(probs[q]) * (gp - dot))
		}
	}
}

// WindowBackwardRef is the reference loop for WindowBackward: the window
// gradient over the whole map, then the softmax backward, in float64.
func WindowBackwardRef(dLogits, probs []float32, g Grid, res Result, dx, dy float64) {
	n := g.Size()
	dp := make([]float64, n)
	cxp, cyp := g.Centre(res.Center)
	for idx := 0; idx < n; idx++ {
		x, y := g.Centre(idx)
		if (x-cxp)*(x-cxp)+(y-cyp)*(y-cyp) <= g.Radius*g.Radius {
			dp[idx] = (dx*(x-res.X) + dy*(y-res.Y)) / res.Sum
		}
	}
	var dot float64
	for k := 0; k < n; k++ {
		dot += float64(probs[k]) * dp[k]
	}
	for j := 0; j < n; j++ {
		dLogits[j] = float32(float64(probs[j]) * (dp[j] - dot))
	}
}
