package dinotracker

import (
	"fmt"
	"math"
	"math/rand/v2"

	"dinotracker/corr"
	"dinotracker/softargmax"
)

// The tracker head: one query point against one target frame
// (upstream Tracker.get_point_predictions → TrackerHead.forward).
//
//  1. Sample the query feature f_q from the source frame's map, bilinearly
//     with border padding, at the query pixel (x, y).
//  2. Cosine cost volume S = ⟨f_q, Φ_t(p)⟩ / max(‖f_q‖·‖Φ_t(p)‖, 1e-8) over
//     the target frame's tokens, then ReLU (package corr).
//  3. Coarse argmax p* of the ReLU'd S (first flat index on ties).
//  4. Refiner CNN on the ReLU'd S → logits (Refiner), softmax over all
//     tokens, no temperature (package softargmax).
//  5. Soft-argmax over the tokens whose centre lies within Radius pixels of
//     p*'s centre; uniform fallback when that mass is below 1e-8.
//  6. Normalise the estimate to [−1, 1] image coordinates.
//
// Coordinate conventions (all exact, upstream's):
//
//   - Pixel space: (x, y) in the W×H frame, integer values at pixel centres.
//   - Token (row i, col j) has its centre at pixel (Offset + Stride·j,
//     Offset + Stride·i) = (7j + 7, 7i + 7) with stride 7 and 14-pixel
//     patches; feature maps are channel-major [C, GH, GW], flat token index
//     i·GW + j.
//   - Query sampling uses DINO-grid-normalised coordinates
//     x_g = 2(x − 7)/(7(GW − 1)) − 1 with align_corners=True, i.e. grid
//     column (x − 7)/7 and row (y − 7)/7, clamped to [0, GW−1]×[0, GH−1]
//     (border padding): queries outside the token-centre range read the
//     edge tokens. GridPos evaluates this in upstream's float32 order.
//   - The output is image-normalised: x_n = 2x/(W − 1) − 1,
//     y_n = 2y/(H − 1) − 1.
//
// No gradient flows to the query coordinates (upstream detaches them); the
// backward pass reaches the two feature maps and the refiner parameters.

// HeadGeometry fixes the image size, the token grid and the window radius of
// the tracker head.
type HeadGeometry struct {
	W, H   int     // image width and height in pixels (normalisation by W−1, H−1)
	GH, GW int     // token grid rows and columns
	Stride float64 // pixels between token centres (7)
	Offset float64 // pixel coordinate of token (0, 0)'s centre: patch/2 = 7
	Radius float64 // soft-argmax window radius in pixels, inclusive (35)
}

// NewHeadGeometry returns DINO-Tracker's geometry for a W×H image: stride 7,
// 14-pixel patches (offset 7), GH = (H−14)/7 + 1, GW = (W−14)/7 + 1 and a
// 35-pixel window. At 854×476 the grid is 67×121.
func NewHeadGeometry(w, h int) HeadGeometry {
	return HeadGeometry{W: w, H: h, GH: (h-14)/7 + 1, GW: (w-14)/7 + 1, Stride: 7, Offset: 7, Radius: 35}
}

// Tokens returns GH·GW.
func (g HeadGeometry) Tokens() int { return g.GH * g.GW }

// Grid returns the token grid as package softargmax describes it.
func (g HeadGeometry) Grid() softargmax.Grid {
	return softargmax.Grid{GH: g.GH, GW: g.GW, Stride: g.Stride, Offset: g.Offset, Radius: g.Radius}
}

// TokenCentre returns the pixel centre (x, y) of flat token index idx.
func (g HeadGeometry) TokenCentre(idx int) (x, y float64) { return g.Grid().Centre(idx) }

// GridPos returns the fractional grid position (col, row) at which a query
// at pixel (x, y) is sampled: ((x − Offset)/Stride, (y − Offset)/Stride),
// clamped to [0, GW−1]×[0, GH−1] (border padding).
//
// It follows upstream's float32 operation order (normalize_points_for_sampling
// then grid_sample's unnormalisation): x_g = a·x + b with float32 a =
// 2/(last − Offset), b = 1 − 2·last/(last − Offset), last = Offset +
// Stride·(GW−1); col = ((x_g + 1)/2)·(GW − 1). The result differs from the
// exact quotient by a few float32 ulps of x_g, which at 854 pixels moves the
// sampled feature by up to ~1e-5; matching the order keeps it within ~1e-6
// of upstream.
func (g HeadGeometry) GridPos(x, y float64) (col, row float64) {
	return headGridCoord(x, g.Offset, g.Stride, g.GW), headGridCoord(y, g.Offset, g.Stride, g.GH)
}

// headNormCoord is one axis of SamplePoint: a·v + b in float32 with
// a = 2/(last − offset), b = 1 − 2·last/(last − offset) rounded to float32
// as upstream's torch.tensor does. The explicit float32 conversion keeps the
// compiler from fusing the multiply-add.
func headNormCoord(v, offset, stride float64, n int) float32 {
	last := offset + stride*float64(max(n-1, 1))
	a := float32(2 / (last - offset))
	b := float32(1 - last*2/(last-offset))
	return float32(a*float32(v)) + b
}

// headGridCoord is one axis of GridPos: grid_sample's align_corners=True
// unnormalisation ((v_g + 1)/2)·(n − 1) in float32, clamped to [0, n−1].
func headGridCoord(v, offset, stride float64, n int) float64 {
	if n < 2 {
		return 0
	}
	vg := headNormCoord(v, offset, stride, n)
	c := float32((vg+1)/2) * float32(n-1)
	return float64(min(max(c, 0), float32(n-1)))
}

// SamplePoint returns the DINO-grid-normalised coordinates (x_g, y_g) of
// pixel (x, y) before clamping (upstream normalize_points_for_sampling):
// x_g = 2(x − Offset)/(Stride·(GW−1)) − 1, likewise y_g, evaluated in
// upstream's float32 order (see GridPos).
func (g HeadGeometry) SamplePoint(x, y float64) (xg, yg float64) {
	return float64(headNormCoord(x, g.Offset, g.Stride, g.GW)), float64(headNormCoord(y, g.Offset, g.Stride, g.GH))
}

// Normalize maps pixels to image-normalised coordinates 2x/(W−1) − 1,
// 2y/(H−1) − 1.
func (g HeadGeometry) Normalize(x, y float64) (xn, yn float32) {
	return float32(2*x/float64(g.W-1) - 1), float32(2*y/float64(g.H-1) - 1)
}

// Unnormalize is the inverse of Normalize.
func (g HeadGeometry) Unnormalize(xn, yn float32) (x, y float64) {
	return (float64(xn) + 1) / 2 * float64(g.W-1), (float64(yn) + 1) / 2 * float64(g.H-1)
}

func (g HeadGeometry) check() {
	if g.GH < 1 || g.GW < 1 || g.W < 2 || g.H < 2 || !(g.Stride > 0) || !(g.Radius >= 0) {
		panic(fmt.Sprintf("dinotracker: invalid head geometry %+v", g))
	}
}

// Head is the tracker head's learnable part: the refiner CNN. Its
// parameters are exactly upstream's tracker_head state_dict.
type Head struct {
	Refiner Refiner
}

// NewHead returns a head with upstream's default initialisation drawn from
// rng (see NewRefiner).
func NewHead(rng *rand.Rand) *Head { return &Head{Refiner: *NewRefiner(rng)} }

// HeadWorkspace holds the buffers and forward intermediates of one
// query-against-one-frame evaluation, so that Forward and Backward do not
// allocate. The exported fields are the intermediates of the last Forward,
// for inspection; treat them as read-only. A workspace serves one goroutine
// at a time; use one per worker.
type HeadWorkspace struct {
	Geom HeadGeometry
	C    int // feature channels

	Query    []float32         // [C] sampled query feature f_q
	Col, Row float64           // clamped grid position the query was sampled at
	Cost     []float32         // [GH·GW] ReLU'd cosine cost volume (refiner input)
	Argmax   int               // flat index of the coarse argmax of Cost
	Hidden   []float32         // [16·GH·GW] refiner hidden activations (after ReLU)
	Logits   []float32         // [GH·GW] refiner output
	Prob     []float32         // [GH·GW] softmax of Logits
	Win      softargmax.Result // windowed soft-argmax (pixels, mass, fallback)
	PredPx   [2]float64        // prediction (x, y) in pixels
	PredNorm [2]float32        // prediction in image-normalised coordinates
	Kernels  RefinerKernels    // normalised refiner kernels used by the last forward
	src, tgt []float32         // maps of the last Forward
	tgtNorm  []float32         // token norms used for tgt
	norm     []float32         // [GH·GW] own norms when the caller gives none
	dLogits  []float32         // [GH·GW]
	dCost    []float32         // [GH·GW]
	dQuery   []float32         // [C]
	scratch  []float32         // [GH·GW] refiner backward scratch
	corrWork []float32         // corr.BackwardWorkLen(1, GH·GW)
}

// NewHeadWorkspace allocates a workspace for geometry g and c channels.
func NewHeadWorkspace(g HeadGeometry, c int) *HeadWorkspace {
	g.check()
	if c < 1 {
		panic(fmt.Sprintf("dinotracker: head workspace needs ≥ 1 channel, got %d", c))
	}
	p := g.Tokens()
	return &HeadWorkspace{
		Geom:     g,
		C:        c,
		Query:    make([]float32, c),
		Cost:     make([]float32, p),
		Hidden:   make([]float32, RefinerHidden*p),
		Logits:   make([]float32, p),
		Prob:     make([]float32, p),
		norm:     make([]float32, p),
		dLogits:  make([]float32, p),
		dCost:    make([]float32, p),
		dQuery:   make([]float32, c),
		scratch:  make([]float32, RefinerScratchLen(g.GH, g.GW)),
		corrWork: make([]float32, corr.BackwardWorkLen(1, p)),
	}
}

// Forward predicts where the point at pixel (x, y) of the source frame lies
// in the target frame. src and tgt are the two frames' feature maps
// [C, GH, GW] (they may be the same slice); tgtNorm [GH·GW] holds tgt's
// token norms (corr.Norms), or nil to compute them here, which doubles the
// cost of a call. It returns the image-normalised prediction; ws.PredPx
// has it in pixels and the other exported fields of ws the intermediates.
// It does not allocate.
func (h *Head) Forward(ws *HeadWorkspace, src, tgt, tgtNorm []float32, x, y float64) (xn, yn float32) {
	g, c := ws.Geom, ws.C
	p := g.Tokens()
	if len(src) < c*p || len(tgt) < c*p || (tgtNorm != nil && len(tgtNorm) < p) {
		panic(fmt.Sprintf("dinotracker: head maps hold %d and %d values (norms %d), want %d×%d×%d",
			len(src), len(tgt), len(tgtNorm), c, g.GH, g.GW))
	}
	if math.IsNaN(x) || math.IsNaN(y) {
		panic(fmt.Sprintf("dinotracker: head query at NaN pixel (%g, %g)", x, y))
	}
	ws.Col, ws.Row = g.GridPos(x, y)
	headSample(ws.Query, src, c, g.GH, g.GW, ws.Col, ws.Row)
	if tgtNorm == nil {
		corr.Norms(ws.norm, tgt, c, p)
		tgtNorm = ws.norm
	}
	corr.CosineSerial(ws.Cost, ws.Query, 1, c, tgt, tgtNorm, p, true)
	xn, yn = h.forwardCost(ws)
	ws.src, ws.tgt, ws.tgtNorm = src, tgt, tgtNorm
	return xn, yn
}

// ForwardCost runs the head proper (argmax, refiner, softmax, window) on
// the ReLU'd cost volume the caller has put in ws.Cost, e.g. one row of a
// batched corr.Cosine. It returns the image-normalised prediction. Its
// backward is BackwardCost (Backward needs the maps that only Forward sees).
func (h *Head) ForwardCost(ws *HeadWorkspace) (xn, yn float32) {
	ws.src, ws.tgt, ws.tgtNorm = nil, nil, nil
	return h.forwardCost(ws)
}

func (h *Head) forwardCost(ws *HeadWorkspace) (xn, yn float32) {
	g := ws.Geom
	ws.Argmax = softargmax.Argmax(ws.Cost)
	h.Refiner.Kernels(&ws.Kernels)
	h.Refiner.Forward(&ws.Kernels, ws.Logits, ws.Hidden, ws.Cost, g.GH, g.GW)
	softargmax.Softmax(ws.Prob, ws.Logits)
	ws.Win = softargmax.Window(ws.Prob, g.Grid(), ws.Argmax)
	ws.PredPx = [2]float64{ws.Win.X, ws.Win.Y}
	xn, yn = g.Normalize(ws.Win.X, ws.Win.Y)
	ws.PredNorm = [2]float32{xn, yn}
	return xn, yn
}

// Backward propagates dxn, dyn = dL/d(PredNorm) of the last Forward on ws:
// it adds dL/d(source map) into dSrc (the bilinear sampling weights scatter
// dL/df_q onto the ≤ 4 tokens read), dL/d(target map) into dTgt (cosine
// backward) and dL/d(refiner parameters, raw) into grad. Any of the three
// may be nil; dSrc and dTgt may be the same slice (source frame = target
// frame). The parameters must not have changed since Forward. It does not
// allocate.
func (h *Head) Backward(ws *HeadWorkspace, dxn, dyn float32, dSrc, dTgt []float32, grad *Refiner) {
	g, c := ws.Geom, ws.C
	p := g.Tokens()
	if ws.tgt == nil && (dSrc != nil || dTgt != nil) {
		panic("dinotracker: Head.Backward needs a preceding Forward (after ForwardCost use BackwardCost)")
	}
	dCost := h.BackwardCost(ws, dxn, dyn, grad)
	if dSrc == nil && dTgt == nil {
		return
	}
	var dq []float32
	if dSrc != nil {
		dq = ws.dQuery
		clear(dq)
	}
	corr.CosineBackwardSerial(dq, dTgt, dCost, ws.Cost, ws.Query, 1, c, ws.tgt, ws.tgtNorm, p, true, ws.corrWork)
	if dSrc != nil {
		headSampleBackward(dSrc, dq, c, g.GH, g.GW, ws.Col, ws.Row)
	}
}

// BackwardCost is the backward of ForwardCost: given dL/d(PredNorm) it adds
// the refiner parameter gradients into grad (nil skips them) and returns
// dL/d(ws.Cost), a [GH·GW] slice owned by ws (valid until the next call).
func (h *Head) BackwardCost(ws *HeadWorkspace, dxn, dyn float32, grad *Refiner) []float32 {
	g := ws.Geom
	// x_n = 2x/(W−1) − 1 ⇒ dL/dx = dL/dx_n · 2/(W−1).
	dx := float64(dxn) * 2 / float64(g.W-1)
	dy := float64(dyn) * 2 / float64(g.H-1)
	softargmax.WindowBackward(ws.dLogits, ws.Prob, g.Grid(), ws.Win, dx, dy)
	h.Refiner.Backward(&ws.Kernels, grad, ws.dCost, ws.dLogits, ws.Hidden, ws.Cost, g.GH, g.GW, ws.scratch)
	return ws.dCost
}

// headBilinear returns the four tokens and weights that bilinear sampling
// at the clamped grid position (col, row) reads. At the last row or column
// the "next" token is the same one with weight 0.
func headBilinear(gh, gw int, col, row float64) (idx [4]int, w [4]float64) {
	c0, r0 := int(math.Floor(col)), int(math.Floor(row))
	fc, fr := col-float64(c0), row-float64(r0)
	c1, r1 := min(c0+1, gw-1), min(r0+1, gh-1)
	idx = [4]int{r0*gw + c0, r0*gw + c1, r1*gw + c0, r1*gw + c1}
	w = [4]float64{(1 - fr) * (1 - fc), (1 - fr) * fc, fr * (1 - fc), fr * fc}
	return idx, w
}

// headSample writes dst[ch] = bilinear sample of feat [c, gh, gw] at the
// clamped grid position (col, row) (grid_sample, align_corners=True,
// border padding), accumulating in float64.
func headSample(dst, feat []float32, c, gh, gw int, col, row float64) {
	p := gh * gw
	idx, w := headBilinear(gh, gw, col, row)
	for ch := 0; ch < c; ch++ {
		f := feat[ch*p : (ch+1)*p]
		dst[ch] = float32(w[0]*float64(f[idx[0]]) + w[1]*float64(f[idx[1]]) + w[2]*float64(f[idx[2]]) + w[3]*float64(f[idx[3]]))
	}
}

// headSampleBackward adds dfeat[ch, token] += weight·dq[ch] for the tokens
// headSample read.
func headSampleBackward(dfeat, dq []float32, c, gh, gw int, col, row float64) {
	p := gh * gw
	idx, w := headBilinear(gh, gw, col, row)
	for ch := 0; ch < c; ch++ {
		d := dfeat[ch*p : (ch+1)*p]
		g := float64(dq[ch])
		for k := range idx {
			if w[k] != 0 {
				d[idx[k]] += float32(w[k] * g)
			}
		}
	}
}
