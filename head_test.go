package dinotracker

import (
	"fmt"
	"math"
	"math/rand/v2"
	"testing"

	"dinotracker/corr"
	"dinotracker/internal/golden"
	"dinotracker/softargmax"
)

// Tolerances of the tracker_head cases (their case.json
// suggested_tolerance; the float32-vs-float64 re-runs of the reference stay
// 10–1000× inside them).
const (
	headTolAbs      = 1e-5 // cost_raw, cost_relu, source_embeddings, sample_points
	headTolRelMax   = 1e-4 // refiner_out, softmax: |Δ| ≤ tol·max|ref|
	headTolPx       = 2e-3 // pred_px, pixels
	headTolNorm     = 1e-5 // pred_norm
	headTolGradMax  = 5e-4 // gradients: |Δ| ≤ tol·max|ref|
	headTolGradL2   = 1e-4 // gradients: ‖Δ‖/‖ref‖
	headTolZeroBias = 1e-4 // |grad cnn_refiner.2.bias| ≤ tol·max|grad cnn_refiner.2.weight|
)

// headRefiner reads a refiner from the tensors prefix+"cnn_refiner.*".
func headRefiner(t *testing.T, c *golden.Case, prefix string) *Refiner {
	t.Helper()
	r := NewRefinerZero()
	for _, p := range r.Params() {
		v, _ := c.F32(t, prefix+p.Name)
		if len(v) != len(p.Data) {
			t.Fatalf("%s%s: %d values, want %d", prefix, p.Name, len(v), len(p.Data))
		}
		copy(p.Data, v)
	}
	return r
}

// headInts reads an I64 tensor.
func headInts(t *testing.T, c *golden.Case, name string) []int {
	t.Helper()
	v, _ := c.F64(t, name)
	o := make([]int, len(v))
	for i, x := range v {
		o[i] = int(x)
	}
	return o
}

// headBools reads a BOOL tensor (one byte per value).
func headBools(t *testing.T, c *golden.Case, name string) []bool {
	t.Helper()
	raw := c.Tensor(t, name).Raw
	o := make([]bool, len(raw))
	for i, b := range raw {
		o[i] = b != 0
	}
	return o
}

// headAbs requires max|got − want| ≤ tol.
func headAbs(t *testing.T, what string, got, want []float32, tol float64) {
	t.Helper()
	golden.Close(t, what, got, want, tol)
}

// headRelMax requires max|got − want| ≤ tol·max|want| and, when l2 > 0,
// ‖got − want‖/‖want‖ ≤ l2.
func headRelMax(t *testing.T, what string, got, want []float32, tol, l2 float64) {
	t.Helper()
	if len(got) != len(want) {
		t.Fatalf("%s: %d values, want %d", what, len(got), len(want))
	}
	var m, d, at, e2, w2 float64
	for i := range want {
		w := float64(want[i])
		m = math.Max(m, math.Abs(w))
		if x := math.Abs(float64(got[i]) - w); x > d || math.IsNaN(x) {
			d, at = x, float64(i)
		}
		e2 += (float64(got[i]) - w) * (float64(got[i]) - w)
		w2 += w * w
	}
	rel := d / m
	rl2 := math.Sqrt(e2 / w2)
	msg := fmt.Sprintf("%s: max|Δ| %.3g at %d = %.3g of max|ref| %.3g (tol %.3g), rel L2 %.3g", what, d, int(at), rel, m, tol, rl2)
	if !(rel <= tol) || (l2 > 0 && !(rl2 <= l2)) {
		t.Error(msg)
	} else {
		t.Log(msg)
	}
}

// TestTrackerHeadGolden runs the tracker head (query sampling, cosine cost
// volume, ReLU, argmax, refiner, softmax, 35-px window) and its backward
// against upstream's Tracker.get_point_predictions on the tracker_head
// cases: the 9×15 case with an all-negative cost map (query 3) and border
// queries, and the full 67×121 grid with its default-init head (7 of 8
// queries in the uniform fallback). The loss is L = Σ pred_norm·r.
func TestTrackerHeadGolden(t *testing.T) {
	golden.ForEach(t, "tracker_head", func(t *testing.T, c *golden.Case) {
		nT := int(c.Number(0, "config", "T"))
		nC := int(c.Number(0, "config", "C"))
		hgt := int(c.Number(0, "config", "H"))
		wid := int(c.Number(0, "config", "W"))
		grid, ok := c.Ints("config", "grid_hw")
		if !ok || nT < 1 || nC < 1 {
			t.Fatalf("case.json config lacks T, C or grid_hw")
		}
		stride := c.Number(7, "config", "stride")
		patch := c.Number(14, "config", "patch")
		g := HeadGeometry{W: wid, H: hgt, GH: grid[0], GW: grid[1], Stride: stride,
			Offset: math.Floor(patch / 2), Radius: c.Number(35, "config", "argmax_radius_px")}
		if d := NewHeadGeometry(wid, hgt); d != g {
			t.Fatalf("config geometry %+v, NewHeadGeometry gives %+v", g, d)
		}
		p := g.Tokens()
		feats, shape := c.F32(t, "features")
		if len(feats) != nT*nC*p {
			t.Fatalf("features %v, want [%d %d %d %d]", shape, nT, nC, g.GH, g.GW)
		}
		frame := func(k int) []float32 { return feats[k*nC*p : (k+1)*nC*p] }
		norms := make([][]float32, nT)
		for k := range norms {
			norms[k] = make([]float32, p)
			corr.Norms(norms[k], frame(k), nC, p)
		}
		qs, _ := c.F32(t, "queries_xyt_px")
		src, tgt := headInts(t, c, "source_frame_indices"), headInts(t, c, "target_frame_indices")
		rr, _ := c.F32(t, "r")
		nb := len(src)

		head := &Head{Refiner: *headRefiner(t, c, "head_param/")}
		ws := NewHeadWorkspace(g, nC)
		var (
			samplePts = make([]float32, nb*3)
			emb       = make([]float32, nb*nC)
			costRaw   = make([]float32, nb*p)
			costRelu  = make([]float32, nb*p)
			refOut    = make([]float32, nb*p)
			soft      = make([]float32, nb*p)
			mask      = make([]bool, nb*p)
			mass      = make([]float32, nb)
			argRC     = make([]int, nb*2)
			argXY     = make([]int, nb*2)
			predPx    = make([]float32, nb*2)
			predNorm  = make([]float32, nb*2)
			gradFeat  = make([]float32, len(feats))
			grad      = NewRefinerZero()
			loss      float64
		)
		for b := 0; b < nb; b++ {
			x, y := float64(qs[b*3]), float64(qs[b*3+1])
			sf, tf := src[b], tgt[b]
			xn, yn := head.Forward(ws, frame(sf), frame(tf), norms[tf], x, y)
			xg, yg := g.SamplePoint(x, y)
			samplePts[b*3], samplePts[b*3+1], samplePts[b*3+2] = float32(xg), float32(yg), float32(sf)
			copy(emb[b*nC:], ws.Query)
			corr.Cosine(costRaw[b*p:(b+1)*p], ws.Query, 1, nC, frame(tf), norms[tf], p, false)
			copy(costRelu[b*p:], ws.Cost)
			copy(refOut[b*p:], ws.Logits)
			copy(soft[b*p:], ws.Prob)
			softargmax.WindowMask(mask[b*p:(b+1)*p], g.Grid(), ws.Argmax)
			mass[b] = float32(ws.Win.Mass)
			argRC[b*2], argRC[b*2+1] = ws.Argmax/g.GW, ws.Argmax%g.GW
			cx, cy := g.TokenCentre(ws.Argmax)
			argXY[b*2], argXY[b*2+1] = int(cx), int(cy)
			predPx[b*2], predPx[b*2+1] = float32(ws.PredPx[0]), float32(ws.PredPx[1])
			predNorm[b*2], predNorm[b*2+1] = xn, yn
			loss += float64(xn)*float64(rr[b*2]) + float64(yn)*float64(rr[b*2+1])
			head.Backward(ws, rr[b*2], rr[b*2+1], gradFeat[sf*nC*p:(sf+1)*nC*p], gradFeat[tf*nC*p:(tf+1)*nC*p], grad)
		}

		want := func(name string) []float32 { v, _ := c.F32(t, name); return v }
		headAbs(t, "sample_points", samplePts, want("sample_points"), headTolAbs)
		headAbs(t, "source_embeddings", emb, want("source_embeddings"), headTolAbs)
		headAbs(t, "cost_raw", costRaw, want("cost_raw"), headTolAbs)
		headAbs(t, "cost_relu", costRelu, want("cost_relu"), headTolAbs)
		for i, w := range headInts(t, c, "argmax_rowcol") {
			if argRC[i] != w {
				t.Errorf("argmax_rowcol[%d] = %d, want %d", i, argRC[i], w)
			}
		}
		for i, w := range headInts(t, c, "argmax_xy_px") {
			if argXY[i] != w {
				t.Errorf("argmax_xy_px[%d] = %d, want %d", i, argXY[i], w)
			}
		}
		headRelMax(t, "refiner_out", refOut, want("refiner_out"), headTolRelMax, 0)
		headRelMax(t, "softmax", soft, want("softmax"), headTolRelMax, 0)
		wm := headBools(t, c, "window_mask")
		nbad := 0
		for i, w := range wm {
			if mask[i] != w {
				nbad++
			}
		}
		if nbad != 0 {
			t.Errorf("window_mask: %d of %d entries differ", nbad, len(wm))
		}
		headAbs(t, "window_mass", mass, want("window_mass"), headTolAbs)
		headAbs(t, "pred_px", predPx, want("pred_px"), headTolPx)
		headAbs(t, "pred_norm", predNorm, want("pred_norm"), headTolNorm)
		if wl := float64(want("loss")[0]); math.Abs(loss-wl) > 1e-5*math.Max(1, math.Abs(wl)) {
			t.Errorf("loss %.8g, want %.8g", loss, wl)
		}
		headRelMax(t, "grad_features", gradFeat, want("grad_features"), headTolGradMax, headTolGradL2)
		for _, pp := range grad.Params() {
			if pp.Name == "cnn_refiner.2.bias" {
				continue
			}
			headRelMax(t, "grad_head/"+pp.Name, pp.Data, want("grad_head/"+pp.Name), headTolGradMax, headTolGradL2)
		}
		// Softmax is shift-invariant, so the last bias has a zero gradient.
		lim := headTolZeroBias * maxAbs32(want("grad_head/cnn_refiner.2.weight"))
		if b := math.Abs(float64(grad.B2[0])); !(b <= lim) {
			t.Errorf("grad cnn_refiner.2.bias = %g, want |g| ≤ %g", grad.B2[0], lim)
		} else {
			t.Logf("grad cnn_refiner.2.bias = %.3g (zero up to %.3g; reference %.3g)", grad.B2[0], lim, want("grad_head/cnn_refiner.2.bias")[0])
		}

		if !c.Has("default_head/fallback") {
			return
		}
		// Upstream's default init: kernel sums near 0, logits amplified
		// ~100×, the softmax collapses onto single tokens and most windows
		// fall back to uniform weights.
		dh := &Head{Refiner: *headRefiner(t, c, "default_head/param/")}
		fb := headBools(t, c, "default_head/fallback")
		wantRC := headInts(t, c, "default_head/argmax_rowcol")
		wantMass := want("default_head/window_mass")
		dPx := make([]float32, nb*2)
		dNorm := make([]float32, nb*2)
		for b := 0; b < nb; b++ {
			sf, tf := src[b], tgt[b]
			xn, yn := dh.Forward(ws, frame(sf), frame(tf), norms[tf], float64(qs[b*3]), float64(qs[b*3+1]))
			dPx[b*2], dPx[b*2+1] = float32(ws.PredPx[0]), float32(ws.PredPx[1])
			dNorm[b*2], dNorm[b*2+1] = xn, yn
			if ws.Win.Fallback != fb[b] {
				t.Errorf("default head query %d: fallback %v, want %v (mass %.3g, reference %.3g)", b, ws.Win.Fallback, fb[b], ws.Win.Mass, wantMass[b])
			}
			if ws.Argmax/g.GW != wantRC[b*2] || ws.Argmax%g.GW != wantRC[b*2+1] {
				t.Errorf("default head query %d: argmax %d, want (%d, %d)", b, ws.Argmax, wantRC[b*2], wantRC[b*2+1])
			}
			t.Logf("default head query %d: fallback %v, window mass %.3g (reference %.3g)", b, ws.Win.Fallback, ws.Win.Mass, wantMass[b])
		}
		headAbs(t, "default_head/pred_px", dPx, want("default_head/pred_px"), headTolPx)
		headAbs(t, "default_head/pred_norm", dNorm, want("default_head/pred_norm"), headTolNorm)
	})
}

// headTiny is a small random head case: T=2 frames of C=6 channels on a
// 5×7 grid (a 56×42 image). Features have a common positive direction so
// that most cosines are well above 0 (clear of the ReLU kink), and the
// refiner is well-conditioned.
func headTiny(seed uint64) (g HeadGeometry, c int, feats []float32, h *Head) {
	rng := rand.New(rand.NewPCG(seed, seed+1))
	g = NewHeadGeometry(56, 42)
	c = 6
	p := g.Tokens()
	feats = make([]float32, 2*c*p)
	for i := range feats {
		feats[i] = float32(0.6*rng.NormFloat64() + 0.8)
	}
	return g, c, feats, &Head{Refiner: *refinerWellConditioned(rng)}
}

// headQuery is one (x, y, source, target) query.
type headQuery struct {
	x, y     float64
	src, tgt int
}

// headTinyQueries: sub-pixel, outside the token-centre range on both
// sides, and source == target.
var headTinyQueries = []headQuery{
	{20.3, 17.9, 0, 1},
	{-4, 33.2, 1, 0},
	{60.5, 50, 0, 1},
	{28.7, 21.1, 1, 1},
}

// headLoss evaluates L = Σ_q pred_norm·r_q and returns the argmax and
// fallback flag of every query (the discrete decisions).
func headLoss(h *Head, ws *HeadWorkspace, feats []float32, qs []headQuery, r [][2]float32) (l float64, disc []int) {
	n := ws.C * ws.Geom.Tokens()
	for i, q := range qs {
		xn, yn := h.Forward(ws, feats[q.src*n:(q.src+1)*n], feats[q.tgt*n:(q.tgt+1)*n], nil, q.x, q.y)
		l += float64(xn)*float64(r[i][0]) + float64(yn)*float64(r[i][1])
		f := 0
		if ws.Win.Fallback {
			f = 1
		}
		disc = append(disc, ws.Argmax, f)
	}
	return l, disc
}

func headGrads(h *Head, ws *HeadWorkspace, feats []float32, qs []headQuery, r [][2]float32) (dFeat []float32, grad *Refiner) {
	n := ws.C * ws.Geom.Tokens()
	dFeat = make([]float32, len(feats))
	grad = NewRefinerZero()
	for i, q := range qs {
		h.Forward(ws, feats[q.src*n:(q.src+1)*n], feats[q.tgt*n:(q.tgt+1)*n], nil, q.x, q.y)
		h.Backward(ws, r[i][0], r[i][1], dFeat[q.src*n:(q.src+1)*n], dFeat[q.tgt*n:(q.tgt+1)*n], grad)
	}
	return dFeat, grad
}

// headFD is the 4-point central difference of headLoss along x ← x + e·v
// (step e), checking that no argmax or fallback decision changes.
func headFD(t *testing.T, h *Head, ws *HeadWorkspace, feats []float32, qs []headQuery, r [][2]float32, x, v []float32, e float64) float64 {
	t.Helper()
	orig := append([]float32(nil), x...)
	_, disc0 := headLoss(h, ws, feats, qs, r)
	var ls [4]float64
	for k, s := range []float64{-2, -1, 1, 2} {
		for i := range x {
			x[i] = orig[i] + float32(s*e)*v[i]
		}
		var disc []int
		ls[k], disc = headLoss(h, ws, feats, qs, r)
		for i := range disc {
			if disc[i] != disc0[i] {
				t.Fatalf("a step of %g changed a discrete decision (%v → %v); pick other inputs", s*e, disc0, disc)
			}
		}
	}
	copy(x, orig)
	return (ls[0] - 8*ls[1] + 8*ls[2] - ls[3]) / (12 * e)
}

// TestHeadBackwardFiniteDiff checks the hand-written head backward (window,
// softmax, refiner with its kernel normalisation, cosine, bilinear sampling)
// by finite differences of the float32 forward: every refiner parameter one
// by one, every feature entry one by one, and random directions. The loss
// carries float32 round-off of ~1e-7, so the 4-point stencil uses a step of
// 2e-2 (error ∝ 1/step measured: 1e-2 → 1% of max|grad| on the small
// first-layer bias gradients, 2e-2 → 0.2%; 4e-2 starts crossing hidden ReLU
// kinks). Inputs are chosen away from the other non-smooth points (argmax
// ties, the window edge, the cosine ReLU kink), and headFD fails loudly if a
// step changes an argmax or fallback decision.
func TestHeadBackwardFiniteDiff(t *testing.T) {
	g, c, feats, h := headTiny(21)
	ws := NewHeadWorkspace(g, c)
	rng := rand.New(rand.NewPCG(22, 23))
	r := make([][2]float32, len(headTinyQueries))
	for i := range r {
		r[i] = [2]float32{float32(rng.NormFloat64()), float32(rng.NormFloat64())}
	}
	dFeat, grad := headGrads(h, ws, feats, headTinyQueries, r)
	const e = 2e-2

	check := func(what string, x, an []float32) {
		m := maxAbs32(an)
		if m == 0 {
			t.Fatalf("%s: zero gradient", what)
		}
		v := make([]float32, len(x))
		var worst float64
		for i := range x {
			v[i] = 1
			fd := headFD(t, h, ws, feats, headTinyQueries, r, x, v, e)
			v[i] = 0
			d := math.Abs(fd - float64(an[i]))
			worst = math.Max(worst, d/m)
			if d > 5e-3*m+2e-3*math.Abs(fd) {
				t.Errorf("%s[%d] = %g, finite difference %g (max|grad| %g)", what, i, an[i], fd, m)
			}
		}
		t.Logf("%s: worst |Δ|/max|grad| = %.2g over %d entries", what, worst, len(x))
	}
	for _, p := range h.Refiner.Params() {
		var an []float32
		for _, q := range grad.Params() {
			if q.Name == p.Name {
				an = q.Data
			}
		}
		if p.Name == "cnn_refiner.2.bias" {
			// Shift invariance of the softmax: zero gradient.
			fd := headFD(t, h, ws, feats, headTinyQueries, r, p.Data, []float32{1}, e)
			if math.Abs(fd) > 1e-4 || math.Abs(float64(an[0])) > 1e-6 {
				t.Errorf("last bias: gradient %g, finite difference %g, want 0", an[0], fd)
			}
			continue
		}
		check(p.Name, p.Data, an)
	}
	check("features", feats, dFeat)

	// Random directions over the features and over each weight tensor.
	params := h.Refiner.Params()
	gparams := grad.Params()
	for trial := 0; trial < 3; trial++ {
		vf := make([]float32, len(feats))
		var an float64
		for i := range vf {
			vf[i] = float32(rng.NormFloat64())
			an += float64(vf[i]) * float64(dFeat[i])
		}
		fd := headFD(t, h, ws, feats, headTinyQueries, r, feats, vf, e)
		if math.Abs(fd-an) > 2e-3*math.Abs(an)+1e-4 {
			t.Errorf("features direction %d: ⟨grad, v⟩ = %g, finite difference %g", trial, an, fd)
		}
		for k, p := range params {
			if len(p.Data) < 144 {
				// The biases move every hidden unit of a channel at once, so a
				// random step crosses ReLU kinks; they are checked entry by
				// entry above.
				continue
			}
			vp := make([]float32, len(p.Data))
			var anp float64
			for i := range vp {
				vp[i] = float32(rng.NormFloat64())
				anp += float64(vp[i]) * float64(gparams[k].Data[i])
			}
			fdp := headFD(t, h, ws, feats, headTinyQueries, r, p.Data, vp, e)
			if math.Abs(fdp-anp) > 2e-3*math.Abs(anp)+1e-4 {
				t.Errorf("%s direction %d: ⟨grad, v⟩ = %g, finite difference %g", p.Name, trial, anp, fdp)
			}
		}
	}
}

// TestHeadAllZeroCost builds a target frame whose every token points away
// from the query (all cosines −1): the ReLU'd cost is all zero, the argmax
// tie resolves to token 0, the window sits at pixel (7, 7), and no gradient
// reaches the features (the ReLU is closed everywhere), while the refiner
// still gets one.
func TestHeadAllZeroCost(t *testing.T) {
	g, c, feats, h := headTiny(31)
	p := g.Tokens()
	src, tgt := feats[:c*p], feats[c*p:]
	ws := NewHeadWorkspace(g, c)
	x, y := 30.0, 20.0
	h.Forward(ws, src, tgt, nil, x, y)
	q := append([]float32(nil), ws.Query...)
	for j := 0; j < p; j++ {
		for ch := 0; ch < c; ch++ {
			tgt[ch*p+j] = -q[ch] * float32(1+0.1*float64(j))
		}
	}
	h.Forward(ws, src, tgt, nil, x, y)
	if maxAbs32(ws.Cost) != 0 {
		t.Fatalf("cost not all zero: max %g", maxAbs32(ws.Cost))
	}
	if ws.Argmax != 0 || ws.Win.Center != 0 {
		t.Fatalf("argmax %d, window centre %d; want 0", ws.Argmax, ws.Win.Center)
	}
	if d := math.Hypot(ws.PredPx[0]-7, ws.PredPx[1]-7); d > g.Radius {
		t.Errorf("prediction (%g, %g) is %g px from (7, 7)", ws.PredPx[0], ws.PredPx[1], d)
	}
	dFeat := make([]float32, 2*c*p)
	grad := NewRefinerZero()
	h.Backward(ws, 0.3, -0.7, dFeat[:c*p], dFeat[c*p:], grad)
	if m := maxAbs32(dFeat); m != 0 {
		t.Errorf("feature gradient %g through an all-zero ReLU cost", m)
	}
	// A zero input gives the first layer's weights no gradient; the bias
	// and the second layer still get one.
	if maxAbs32(grad.W0) != 0 || maxAbs32(grad.B0) == 0 || maxAbs32(grad.W2) == 0 {
		t.Errorf("refiner gradient max |dW0| %g (want 0), |dB0| %g, |dW2| %g (want > 0)", maxAbs32(grad.W0), maxAbs32(grad.B0), maxAbs32(grad.W2))
	}
}

// TestHeadQueriesOutsideGrid: a query left of / above the first token
// centre reads token (0, 0) exactly; one beyond the last centre reads the
// last token; one left of the grid but between rows interpolates along the
// rows only. The backward pass scatters onto exactly those tokens.
func TestHeadQueriesOutsideGrid(t *testing.T) {
	g, c, feats, h := headTiny(41)
	p := g.Tokens()
	src, tgt := feats[:c*p], feats[c*p:]
	ws := NewHeadWorkspace(g, c)
	for _, tc := range []struct {
		x, y     float64
		col, row float64
		tokens   []int
	}{
		{-20, -5, 0, 0, []int{0}},
		{6.999, 3, 0, 0, []int{0}},
		{1e4, 1e4, float64(g.GW - 1), float64(g.GH - 1), []int{p - 1}},
		{-3, 17.5, 0, 1.5, []int{g.GW, 2 * g.GW}},
		{math.Inf(1), 7, float64(g.GW - 1), 0, []int{g.GW - 1}},
	} {
		h.Forward(ws, src, tgt, nil, tc.x, tc.y)
		if math.Abs(ws.Col-tc.col) > 1e-6 || math.Abs(ws.Row-tc.row) > 1e-6 {
			t.Errorf("(%g, %g): grid position (%g, %g), want (%g, %g)", tc.x, tc.y, ws.Col, ws.Row, tc.col, tc.row)
		}
		for ch := 0; ch < c; ch++ {
			var want float64
			for _, k := range tc.tokens {
				want += float64(src[ch*p+k]) / float64(len(tc.tokens))
			}
			if math.Abs(float64(ws.Query[ch])-want) > 1e-6 {
				t.Fatalf("(%g, %g): query[%d] = %g, want %g", tc.x, tc.y, ch, ws.Query[ch], want)
			}
		}
		if ws.PredPx[0] < 7 || ws.PredPx[0] > 7*float64(g.GW) || ws.PredPx[1] < 7 || ws.PredPx[1] > 7*float64(g.GH) {
			t.Errorf("(%g, %g): prediction (%g, %g) outside the token-centre range", tc.x, tc.y, ws.PredPx[0], ws.PredPx[1])
		}
		dSrc := make([]float32, c*p)
		h.Backward(ws, 1, 1, dSrc, nil, nil)
		for j := 0; j < p; j++ {
			touched := false
			for _, k := range tc.tokens {
				touched = touched || k == j
			}
			for ch := 0; ch < c; ch++ {
				if (dSrc[ch*p+j] != 0) && !touched {
					t.Fatalf("(%g, %g): gradient at untouched token %d", tc.x, tc.y, j)
				}
			}
		}
	}
}

// TestHeadSourceIsTarget: a query at a token centre tracked into its own
// frame has its cosine maximum (1) at that token, so the window is centred
// there; gradients of both roles add into one map.
func TestHeadSourceIsTarget(t *testing.T) {
	g, c, feats, h := headTiny(51)
	p := g.Tokens()
	f := feats[:c*p]
	ws := NewHeadWorkspace(g, c)
	const row, col = 2, 3
	h.Forward(ws, f, f, nil, float64(7*col+7), float64(7*row+7))
	if ws.Argmax != row*g.GW+col || math.Abs(float64(ws.Cost[ws.Argmax])-1) > 1e-6 {
		t.Fatalf("argmax %d (cost %g), want token %d with cosine 1", ws.Argmax, ws.Cost[ws.Argmax], row*g.GW+col)
	}
	// Same slice for dSrc and dTgt equals the sum of separate ones.
	both := make([]float32, c*p)
	h.Backward(ws, 0.5, -0.25, both, both, nil)
	s, tg := make([]float32, c*p), make([]float32, c*p)
	h.Backward(ws, 0.5, -0.25, s, tg, nil)
	for i := range both {
		if math.Abs(float64(both[i]-(s[i]+tg[i]))) > 1e-7 {
			t.Fatalf("aliased gradient[%d] = %g, separate sum %g", i, both[i], s[i]+tg[i])
		}
	}
	if maxAbs32(s) == 0 || maxAbs32(tg) == 0 {
		t.Error("a role got no gradient")
	}
}

func TestHeadNoAlloc(t *testing.T) {
	g, c, feats, h := headTiny(61)
	p := g.Tokens()
	src, tgt := feats[:c*p], feats[c*p:]
	norm := make([]float32, p)
	corr.Norms(norm, tgt, c, p)
	ws := NewHeadWorkspace(g, c)
	dSrc, dTgt := make([]float32, c*p), make([]float32, c*p)
	grad := NewRefinerZero()
	if a := testing.AllocsPerRun(10, func() {
		h.Forward(ws, src, tgt, norm, 20, 17)
		h.Backward(ws, 1, -1, dSrc, dTgt, grad)
		h.Forward(ws, src, tgt, nil, 33, 9)
		h.Backward(ws, 1, -1, dSrc, dTgt, grad)
	}); a != 0 {
		t.Errorf("head forward+backward allocates %v times per run", a)
	}
}

func TestHeadGeometry(t *testing.T) {
	g := NewHeadGeometry(854, 476)
	if g.GH != 67 || g.GW != 121 || g.Tokens() != 8107 {
		t.Fatalf("grid %d×%d, want 67×121", g.GH, g.GW)
	}
	if x, y := g.TokenCentre(g.Tokens() - 1); x != 847 || y != 469 {
		t.Errorf("last token centre (%g, %g), want (847, 469)", x, y)
	}
	xn, yn := g.Normalize(853, 0)
	if xn != 1 || yn != -1 {
		t.Errorf("Normalize(853, 0) = (%g, %g), want (1, -1)", xn, yn)
	}
	if x, y := g.Unnormalize(g.Normalize(400.25, 100.5)); math.Abs(x-400.25) > 1e-4 || math.Abs(y-100.5) > 1e-4 {
		t.Errorf("round trip gave (%g, %g)", x, y)
	}
	for _, x := range []float64{7, 14.5, 400, 846.9, 847} {
		col, _ := g.GridPos(x, 7)
		if math.Abs(col-(x-7)/7) > 2e-5 { // float32 order of GridPos: ≤ 2 ulps at 120
			t.Errorf("GridPos(%g) column %g, want %g", x, col, (x-7)/7)
		}
	}
}

func BenchmarkHead(b *testing.B) {
	const c = 1024
	g := NewHeadGeometry(854, 476)
	p := g.Tokens()
	rng := rand.New(rand.NewPCG(71, 72))
	src, tgt := make([]float32, c*p), make([]float32, c*p)
	for i := range src {
		src[i] = float32(rng.NormFloat64() + 0.5)
		tgt[i] = float32(rng.NormFloat64() + 0.5)
	}
	norm := make([]float32, p)
	corr.Norms(norm, tgt, c, p)
	h := &Head{Refiner: *refinerWellConditioned(rng)}
	ws := NewHeadWorkspace(g, c)
	dSrc, dTgt := make([]float32, c*p), make([]float32, c*p)
	grad := NewRefinerZero()
	b.Run("forward/C=1024,67x121", func(b *testing.B) {
		for b.Loop() {
			h.Forward(ws, src, tgt, norm, 400.3, 200.7)
		}
	})
	b.Run("forward+backward/C=1024,67x121", func(b *testing.B) {
		for b.Loop() {
			h.Forward(ws, src, tgt, norm, 400.3, 200.7)
			h.Backward(ws, 1, -1, dSrc, dTgt, grad)
		}
	})
	b.Run("forwardcost/67x121", func(b *testing.B) {
		h.Forward(ws, src, tgt, norm, 400.3, 200.7)
		for b.Loop() {
			h.ForwardCost(ws)
		}
	})
}

// TestHeadBatchedCostPath runs queries the way a batched Fit would: one
// corr.Cosine GEMM for all queries of a target frame, ForwardCost and
// BackwardCost per query, one corr.CosineBackward, then the sampling
// scatter. It must agree with per-query Forward/Backward.
func TestHeadBatchedCostPath(t *testing.T) {
	g, c, feats, h := headTiny(81)
	p := g.Tokens()
	src, tgt := feats[:c*p], feats[c*p:]
	norm := make([]float32, p)
	corr.Norms(norm, tgt, c, p)
	xs := [][2]float64{{10, 12}, {21.5, 30.25}, {40, 8}, {-3, 25}, {33.3, 33.3}}
	n := len(xs)
	ws := NewHeadWorkspace(g, c)

	// Reference: per-query Forward/Backward.
	wantPred := make([]float32, 2*n)
	wantSrc, wantTgt := make([]float32, c*p), make([]float32, c*p)
	wantGrad := NewRefinerZero()
	q := make([]float32, n*c)
	for i, x := range xs {
		wantPred[2*i], wantPred[2*i+1] = h.Forward(ws, src, tgt, norm, x[0], x[1])
		copy(q[i*c:], ws.Query)
		h.Backward(ws, 1, -0.5, wantSrc, wantTgt, wantGrad)
	}

	// Batched.
	cost := make([]float32, n*p)
	corr.Cosine(cost, q, n, c, tgt, norm, p, true)
	dCost := make([]float32, n*p)
	grad := NewRefinerZero()
	for i := 0; i < n; i++ {
		copy(ws.Cost, cost[i*p:(i+1)*p])
		xn, yn := h.ForwardCost(ws)
		if math.Abs(float64(xn-wantPred[2*i])) > 1e-6 || math.Abs(float64(yn-wantPred[2*i+1])) > 1e-6 {
			t.Errorf("query %d: batched prediction (%g, %g), per-query (%g, %g)", i, xn, yn, wantPred[2*i], wantPred[2*i+1])
		}
		copy(dCost[i*p:], h.BackwardCost(ws, 1, -0.5, grad))
	}
	dq := make([]float32, n*c)
	gotTgt := make([]float32, c*p)
	corr.CosineBackward(dq, gotTgt, dCost, cost, q, n, c, tgt, norm, p, true, nil)
	gotSrc := make([]float32, c*p)
	for i, x := range xs {
		col, row := g.GridPos(x[0], x[1])
		headSampleBackward(gotSrc, dq[i*c:(i+1)*c], c, g.GH, g.GW, col, row)
	}
	headRelMax(t, "dSrc", gotSrc, wantSrc, 1e-5, 1e-5)
	headRelMax(t, "dTgt", gotTgt, wantTgt, 1e-5, 1e-5)
	for k, pp := range grad.Params() {
		if pp.Name != "cnn_refiner.2.bias" {
			headRelMax(t, pp.Name, pp.Data, wantGrad.Params()[k].Data, 1e-5, 1e-5)
		}
	}
	func() {
		defer func() {
			if recover() == nil {
				t.Error("Backward after ForwardCost did not panic")
			}
		}()
		h.Backward(ws, 1, 1, gotSrc, nil, nil)
	}()
}
