package nn

import (
	"fmt"
	"math"
	"testing"

	"dinotracker/internal/golden"
)

// TestTrackerHeadOpsGolden composes this package's kernels into DINO-Tracker's
// query sampling + cosine cost volume + tracker head (Tracker.get_point_predictions,
// TrackerHead with two NormalizedConv2d, softmax, 35-px soft-argmax) and
// checks every intermediate and the gradients of L = Σ pred_norm·r against
// the upstream PyTorch cases tracker_head*, at their suggested tolerances.
// It pins down the conventions (grid_sample border/align_corners, cosine
// clamp, kernel-sum normalisation, window, fallback) that the ops implement.
func TestTrackerHeadOpsGolden(t *testing.T) {
	golden.ForEach(t, "tracker_head", func(t *testing.T, c *golden.Case) {
		feats, fs := c.F32(t, "features")
		C, gh, gw := fs[1], fs[2], fs[3]
		H, W := int(c.Number(0, "config", "H")), int(c.Number(0, "config", "W"))
		hw := gh * gw
		qs, _ := c.F32(t, "queries_xyt_px")
		src64, _ := c.F64(t, "source_frame_indices")
		tgt64, _ := c.F64(t, "target_frame_indices")
		B := len(src64)
		src, tgt := make([]int, B), make([]int, B)
		for i := range src {
			src[i], tgt[i] = int(src64[i]), int(tgt64[i])
		}
		w1, _ := c.F32(t, "head_param/cnn_refiner.0.weight")
		b1, _ := c.F32(t, "head_param/cnn_refiner.0.bias")
		w2, _ := c.F32(t, "head_param/cnn_refiner.2.weight")
		b2, _ := c.F32(t, "head_param/cnn_refiner.2.bias")
		hid := len(b1)
		rr, _ := c.F32(t, "r")

		// Query sampling: DINO-grid-normalised coordinates, bilinear,
		// align_corners, border padding, on the source frame.
		o := GridSampleOptions{AlignCorners: true, Padding: GridPadBorder}
		pts := make([]float32, 2*B)
		for i := 0; i < B; i++ {
			pts[2*i] = 2*(qs[3*i]-7)/float32(7*(gw-1)) - 1
			pts[2*i+1] = 2*(qs[3*i+1]-7)/float32(7*(gh-1)) - 1
		}
		sp, _ := c.F32(t, "sample_points")
		for i := 0; i < B; i++ {
			if math.Abs(float64(pts[2*i]-sp[3*i])) > 1e-5 || math.Abs(float64(pts[2*i+1]-sp[3*i+1])) > 1e-5 {
				t.Errorf("query %d: sample point (%g,%g), want (%g,%g)", i, pts[2*i], pts[2*i+1], sp[3*i], sp[3*i+1])
			}
		}
		// Sample at upstream's own float32 coordinates: one ulp of x_g moves
		// the sample by ~(gw-1)/2 ulp of a token, which the 1e-5 tolerance
		// on the full 121-wide grid does not absorb.
		for i := 0; i < B; i++ {
			pts[2*i], pts[2*i+1] = sp[3*i], sp[3*i+1]
		}
		emb := make([]float32, B*C)
		frame := func(k int) []float32 { return feats[k*C*hw : (k+1)*C*hw] }
		col := make([]float32, C)
		for i := 0; i < B; i++ {
			GridSampleForward(col, frame(src[i]), pts[2*i:2*i+2], 1, C, gh, gw, 1, 1, o)
			copy(emb[i*C:], col)
		}
		absClose(t, c, "source_embeddings", emb, 1e-5)

		// Cosine cost volume against each query's target frame, then ReLU.
		cost := make([]float32, B*hw)
		qn, fn := make([]float32, B), make([]float32, B*hw)
		for i := 0; i < B; i++ {
			CosineCostForward(cost[i*hw:(i+1)*hw], qn[i:i+1], fn[i*hw:(i+1)*hw], emb[i*C:(i+1)*C], frame(tgt[i]), 1, C, hw, CosineEps)
		}
		absClose(t, c, "cost_raw", cost, 1e-5)
		crelu := make([]float32, len(cost))
		ReLUForward(crelu, cost)
		absClose(t, c, "cost_relu", crelu, 1e-5)
		argmax := make([]int, B)
		ArgmaxRows(argmax, crelu, B, hw)
		rc, _ := c.F64(t, "argmax_rowcol")
		for i := 0; i < B; i++ {
			if argmax[i] != int(rc[2*i])*gw+int(rc[2*i+1]) {
				t.Errorf("query %d: argmax %d, want (%v,%v)", i, argmax[i], rc[2*i], rc[2*i+1])
			}
		}

		// Refiner: NormalizedConv2d(1→16) → ReLU → NormalizedConv2d(16→1).
		w1n, s1 := make([]float32, len(w1)), make([]float32, hid)
		w2n, s2 := make([]float32, len(w2)), make([]float32, hid)
		NormalizeKernelsForward(w1n, s1, w1, hid, 9)
		NormalizeKernelsForward(w2n, s2, w2, hid, 9)
		cs1 := ConvShape{N: B, Cin: 1, H: gh, W: gw, Cout: hid, KH: 3, KW: 3}.Pad(1)
		cs2 := ConvShape{N: B, Cin: hid, H: gh, W: gw, Cout: 1, KH: 3, KW: 3}.Pad(1)
		h1 := make([]float32, cs1.OutLen())
		Conv2dForward(h1, crelu, w1n, b1, cs1, nil)
		ReLUForward(h1, h1)
		ref := make([]float32, cs2.OutLen())
		Conv2dForward(ref, h1, w2n, b2, cs2, nil)
		relMaxClose(t, c, "refiner_out", ref, 1e-4)
		heat := make([]float32, len(ref))
		SoftmaxForward(heat, ref, B, hw)
		relMaxClose(t, c, "softmax", heat, 1e-4)

		// Windowed soft-argmax and normalisation to [-1, 1].
		s := TrackerSoftArgmax(gh, gw)
		wm, _ := c.F32(t, "window_mask")
		for i := 0; i < B; i++ {
			for p := 0; p < hw; p++ {
				if s.InWindow(argmax[i], p) != (wm[i*hw+p] != 0) {
					t.Fatalf("query %d token %d: window membership differs", i, p)
				}
			}
		}
		px, mass := make([]float32, 2*B), make([]float32, B)
		SoftArgmaxForward(px, mass, heat, argmax, B, s)
		absClose(t, c, "pred_px", px, 2e-3)
		norm := []float32{2 / float32(W-1), 2 / float32(H-1)}
		pn := make([]float32, 2*B)
		for i := range pn {
			pn[i] = px[i]*norm[i%2] - 1
		}
		absClose(t, c, "pred_norm", pn, 1e-5)

		// Backward of L = Σ pred_norm·r, in reverse order.
		dpx := make([]float32, 2*B)
		for i := range dpx {
			dpx[i] = rr[i] * norm[i%2]
		}
		dheat := make([]float32, len(heat))
		SoftArgmaxBackward(dheat, dpx, px, mass, argmax, B, s)
		dref := make([]float32, len(ref))
		SoftmaxBackward(dref, dheat, heat, B, hw)
		dh1, dw2n, db2 := make([]float32, len(h1)), make([]float32, len(w2)), make([]float32, len(b2))
		Conv2dBackward(dh1, dw2n, db2, dref, h1, w2n, cs2, nil)
		dpre1 := make([]float32, len(h1))
		ReLUBackward(dpre1, dh1, h1)
		dcrelu, dw1n, db1 := make([]float32, len(crelu)), make([]float32, len(w1)), make([]float32, len(b1))
		Conv2dBackward(dcrelu, dw1n, db1, dpre1, crelu, w1n, cs1, nil)
		dw1, dw2 := make([]float32, len(w1)), make([]float32, len(w2))
		NormalizeKernelsBackward(dw1, dw1n, w1n, s1, w1, hid, 9)
		NormalizeKernelsBackward(dw2, dw2n, w2n, s2, w2, hid, 9)
		dcost := make([]float32, len(cost))
		ReLUBackward(dcost, dcrelu, crelu)
		dfeat, demb := make([]float32, len(feats)), make([]float32, len(emb))
		for i := 0; i < B; i++ {
			k := tgt[i]
			CosineCostBackward(demb[i*C:(i+1)*C], dfeat[k*C*hw:(k+1)*C*hw], dcost[i*hw:(i+1)*hw], cost[i*hw:(i+1)*hw],
				qn[i:i+1], fn[i*hw:(i+1)*hw], emb[i*C:(i+1)*C], frame(k), 1, C, hw, CosineEps, nil)
		}
		for i := 0; i < B; i++ {
			k := src[i]
			GridSampleBackward(dfeat[k*C*hw:(k+1)*C*hw], nil, demb[i*C:(i+1)*C], frame(k), pts[2*i:2*i+2], 1, C, gh, gw, 1, 1, o)
		}
		headGradClose(t, c, "grad_features", dfeat)
		headGradClose(t, c, "grad_head/cnn_refiner.0.weight", dw1)
		headGradClose(t, c, "grad_head/cnn_refiner.0.bias", db1)
		wmax := headGradClose(t, c, "grad_head/cnn_refiner.2.weight", dw2)
		if m := maxAbs(db2); m > 1e-4*wmax { // softmax is shift-invariant
			t.Errorf("cnn_refiner.2.bias grad %g, want 0 up to noise (≤ %g)", m, 1e-4*wmax)
		}
	})
}

func absClose(t *testing.T, c *golden.Case, name string, got []float32, tol float64) {
	t.Helper()
	want, _ := c.F32(t, name)
	golden.Close(t, name, got, want, tol)
}

func relMaxClose(t *testing.T, c *golden.Case, name string, got []float32, rel float64) {
	t.Helper()
	want, _ := c.F32(t, name)
	golden.Close(t, name, got, want, rel*maxAbs(want))
}

// headGradClose: max|g-ref| ≤ 5e-4·max|ref| and ‖g-ref‖/‖ref‖ ≤ 1e-4.
func headGradClose(t *testing.T, c *golden.Case, name string, got []float32) float64 {
	t.Helper()
	want, _ := c.F32(t, name)
	var dn, rn float64
	for i := range want {
		d := float64(got[i]) - float64(want[i])
		dn += d * d
		rn += float64(want[i]) * float64(want[i])
	}
	l2, rm := math.Sqrt(dn/rn), relToMax(got, f64s(want))
	if rm > 5e-4 || l2 > 1e-4 || math.IsNaN(l2) {
		t.Errorf("%s: rel-to-max %.3g (≤ 5e-4), rel L2 %.3g (≤ 1e-4)", name, rm, l2)
	} else {
		t.Logf("%s: rel-to-max %.2e, rel L2 %.2e", name, rm, l2)
	}
	return maxAbs(want)
}

// TestContrastiveOpsGolden rebuilds upstream's L_dino-bb (DINOTracker.
// get_dino_bb_contrastive_loss → get_bb_pairs_contrastive_loss) from this
// package's kernels on the `losses` case: per-point InfoNCE values l_st and
// l_ts, the weighted loss and its gradient w.r.t. the refined features; and
// the flow Huber loss value.
func TestContrastiveOpsGolden(t *testing.T) {
	golden.ForEach(t, "losses", func(t *testing.T, c *golden.Case) {
		feats, fs := c.F32(t, "features")
		C, gh, gw := fs[1], fs[2], fs[3]
		hw := gh * gw
		frame := func(k int) []float32 { return feats[k*C*hw : (k+1)*C*hw] }
		o := GridSampleOptions{AlignCorners: true, Padding: GridPadBorder}
		const temp, div = 0.1, 700

		// Flow loss: PyTorch HuberLoss(δ=1/32), mean over B×2.
		pred, _ := c.F32(t, "flow/pred_norm")
		lab, _ := c.F32(t, "flow/labels_norm")
		want, _ := c.F32(t, "flow/loss")
		if got := HuberForward(pred, lab, nil, len(pred), FlowHuberDelta); math.Abs(float64(got-want[0])) > 1e-5*math.Abs(float64(want[0])) {
			t.Errorf("flow loss %g, want %g", got, want[0])
		}

		sel, _ := c.F64(t, "dino_bb/selectors")
		dfeat := make([]float32, len(feats))
		var loss float64
		k := 0
		for j := 0; j < len(sel)/2; j++ {
			s, tg := int(sel[j]), int(sel[len(sel)/2+j])
			key := fmt.Sprintf("dino_bb/pairs/%d_%d/", s, tg)
			if s == tg || !c.Has(key+"source_coords") {
				continue
			}
			pre := fmt.Sprintf("dino_bb/per_pair/%d/", k)
			k++
			order, _ := c.F64(t, pre+"order")
			sc, _ := c.F32(t, key+"source_coords")
			tc, _ := c.F32(t, key+"target_coords")
			rs, _ := c.F32(t, key+"r")
			cs, _ := c.F32(t, key+"cos_sims")
			n := len(order)
			// Sample both ends of every pair (exact token centres).
			ps, pt := make([]float32, 2*n), make([]float32, 2*n)
			wts := make([]float32, n)
			for i, oi := range order {
				q := int(oi)
				for a, xy := range [][]float32{sc, tc} {
					g := []float32{2*(xy[2*q]-7)/float32(7*(gw-1)) - 1, 2*(xy[2*q+1]-7)/float32(7*(gh-1)) - 1}
					copy([][]float32{ps, pt}[a][2*i:], g)
				}
				amb := 1 / (1 + math.Exp(-(27*(1-float64(rs[q])) - 5.7)))
				wts[i] = float32(amb * math.Max(2*math.Pow(float64(cs[q]), 3), 0))
			}
			fsrc, ftgt := make([]float32, n*C), make([]float32, n*C)
			sample := func(dst, pts []float32, fr int) {
				tmp := make([]float32, C*n)
				GridSampleForward(tmp, frame(fr), pts, 1, C, gh, gw, 1, n, o) // [C, n]
				for i := 0; i < n; i++ {
					for ch := 0; ch < C; ch++ {
						dst[i*C+ch] = tmp[ch*n+i]
					}
				}
			}
			sample(fsrc, ps, s)
			sample(ftgt, pt, tg)
			// Positive cosines, row by row.
			pos := make([]float32, n)
			pn, pf := make([]float32, n), make([]float32, n)
			for i := 0; i < n; i++ {
				CosineCostForward(pos[i:i+1], pn[i:i+1], pf[i:i+1], fsrc[i*C:(i+1)*C], ftgt[i*C:(i+1)*C], 1, C, 1, CosineEps)
			}
			dpos := make([]float32, n)
			dfsrc, dftgt := make([]float32, n*C), make([]float32, n*C)
			for dir, q := range [][]float32{fsrc, ftgt} {
				other := tg
				if dir == 1 {
					other = s
				}
				logits, qn, fn := make([]float32, n*hw), make([]float32, n), make([]float32, hw)
				CosineCostForward(logits, qn, fn, q, frame(other), n, C, hw, CosineEps)
				l, lse := make([]float32, n), make([]float32, n)
				InfoNCEForward(l, lse, pos, logits, n, hw, temp)
				name := pre + []string{"l_st", "l_ts"}[dir]
				absClose(t, c, name, l, 1e-4)
				dl := make([]float32, n)
				for i := range dl {
					loss += float64(l[i]) * float64(wts[i]) / div / 2
					dl[i] = wts[i] / div / 2
				}
				dlog := make([]float32, n*hw)
				InfoNCEBackward(dpos, dlog, dl, lse, logits, n, hw, temp)
				dq := [][]float32{dfsrc, dftgt}[dir]
				CosineCostBackward(dq, dfeat[other*C*hw:(other+1)*C*hw], dlog, logits, qn, fn, q, frame(other), n, C, hw, CosineEps, nil)
			}
			for i := 0; i < n; i++ {
				CosineCostBackward(dfsrc[i*C:(i+1)*C], dftgt[i*C:(i+1)*C], dpos[i:i+1], pos[i:i+1], pn[i:i+1], pf[i:i+1],
					fsrc[i*C:(i+1)*C], ftgt[i*C:(i+1)*C], 1, C, 1, CosineEps, nil)
			}
			for a, d := range [][]float32{dfsrc, dftgt} {
				fr, pts := s, ps
				if a == 1 {
					fr, pts = tg, pt
				}
				tmp := make([]float32, C*n)
				for i := 0; i < n; i++ {
					for ch := 0; ch < C; ch++ {
						tmp[ch*n+i] = d[i*C+ch]
					}
				}
				GridSampleBackward(dfeat[fr*C*hw:(fr+1)*C*hw], nil, tmp, frame(fr), pts, 1, C, gh, gw, 1, n, o)
			}
		}
		wl, _ := c.F32(t, "dino_bb/loss")
		if math.Abs(loss-float64(wl[0])) > 1e-4*math.Abs(float64(wl[0])) {
			t.Errorf("dino_bb loss %g, want %g", loss, wl[0])
		}
		gw0, _ := c.F32(t, "dino_bb/grad_features")
		e := relToMax(dfeat, f64s(gw0))
		if e > 2e-4 {
			t.Errorf("dino_bb grad_features rel-to-max %.3g > 2e-4", e)
		} else {
			t.Logf("dino_bb grad_features rel-to-max %.2e", e)
		}
	})
}
