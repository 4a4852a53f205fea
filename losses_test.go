package dinotracker

import (
	"fmt"
	"math"
	"math/rand/v2"
	"sort"
	"strings"
	"testing"

	"dinotracker/fgmask"
	"dinotracker/internal/golden"
	"dinotracker/nn"
)

// Tolerances of the losses case (its case.json suggested_tolerance; the
// float32-vs-float64 re-runs of the reference stay far inside them).
const (
	lossTolRelPrior = 1e-5 // flow and prior loss values, relative
	lossTolRelCL    = 1e-4 // contrastive and cycle loss values, relative
	lossTolGrad     = 2e-4 // grad_features: |Δ| ≤ tol·max|ref|
	lossTolPoint    = 1e-4 // per-point l_st / l_ts, absolute
	lossTolPx       = 2e-3 // cycle q_px / p_back_px, pixels
	lossTolNorm     = 1e-5 // normalised predictions
)

// lossRel requires |got − want| ≤ tol·|want|.
func lossRel(t *testing.T, what string, got, want float32, tol float64) {
	t.Helper()
	d := math.Abs(float64(got) - float64(want))
	if !(d <= tol*math.Abs(float64(want))) {
		t.Errorf("%s = %.9g, want %.9g (rel %.3g > %.3g)", what, got, want, d/math.Abs(float64(want)), tol)
	} else {
		t.Logf("%s = %.9g, want %.9g (rel %.3g)", what, got, want, d/math.Abs(float64(want)))
	}
}

// flat concatenates per-frame maps.
func flat(maps [][]float32) []float32 {
	var o []float32
	for _, m := range maps {
		o = append(o, m...)
	}
	return o
}

// lossSetup builds the Objective of the losses golden case.
func lossSetup(t *testing.T, c *golden.Case) *Objective {
	t.Helper()
	nT := int(c.Number(0, "config", "T"))
	nC := int(c.Number(0, "config", "C"))
	hgt := int(c.Number(0, "config", "H"))
	wid := int(c.Number(0, "config", "W"))
	grid, ok := c.Ints("config", "grid_hw")
	g := NewHeadGeometry(wid, hgt)
	if !ok || g.GH != grid[0] || g.GW != grid[1] {
		t.Fatalf("config grid %v, NewHeadGeometry gives %d×%d", grid, g.GH, g.GW)
	}
	p := g.Tokens()
	feats, _ := c.F32(t, "features")
	raw, _ := c.F32(t, "raw_features")
	if len(feats) != nT*nC*p || len(raw) != len(feats) {
		t.Fatalf("features hold %d/%d values, want %d", len(feats), len(raw), nT*nC*p)
	}
	m := fgmask.New(nT, hgt, wid)
	copy(m.Data, c.Tensor(t, "fg_masks_u8").Raw)
	cfg := DefaultLossConfig()
	for key, want := range map[string]float64{
		"cl_n_frames": float64(cfg.CLPairs), "cl_points_per_pair": float64(cfg.CLPointsPerPair), "cl_fg_points_ratio": cfg.CLFGRatio,
		"cl_temp": float64(cfg.CLTemp), "cl_div_dino_bb": cfg.DinoBBDiv, "cl_div_ref_bb": cfg.RefinedBBDiv,
		"bb_amb_sig_a": cfg.AmbA, "bb_amb_sig_b": cfg.AmbB, "cyc_n_frames": float64(cfg.CycPairs),
		"cyc_batch_size_per_frame": float64(cfg.CycPointsPerPair), "cyc_fg_points_ratio": cfg.CycFGRatio,
		"cyc_thresh": cfg.CycThresh, "cyc_gamma": cfg.CycGamma, "lambda_cyc": cfg.LambdaCyc,
		"lambda_cl_ref_bb": cfg.LambdaRefinedBB, "lambda_cl_dino_bb": cfg.LambdaDinoBB,
		"lambda_emb_norm": cfg.LambdaNorm, "lambda_angle": cfg.LambdaAngle,
	} {
		if got := c.Number(math.NaN(), "config", "train_yaml", key); math.Abs(got-want) > 1e-7*math.Abs(want) {
			t.Errorf("train_yaml %s = %g, DefaultLossConfig has %g", key, got, want)
		}
	}
	obj, err := NewObjective(g, nC, m, &Head{Refiner: *headRefiner(t, c, "head_param/")}, cfg)
	if err != nil {
		t.Fatal(err)
	}
	frames := make([]int, nT)
	fm, rm := make([][]float32, nT), make([][]float32, nT)
	for k := range frames {
		frames[k] = k
		fm[k], rm[k] = feats[k*nC*p:(k+1)*nC*p], raw[k*nC*p:(k+1)*nC*p]
	}
	if err := obj.SetFrames(frames, fm, rm); err != nil {
		t.Fatal(err)
	}
	return obj
}

// lossPairs reads a [2, n] selector tensor into frame pairs.
func lossPairs(t *testing.T, c *golden.Case, name string) []FramePair {
	sel := headInts(t, c, name)
	n := len(sel) / 2
	p := make([]FramePair, n)
	for i := range p {
		p[i] = FramePair{S: sel[i], T: sel[n+i]}
	}
	return p
}

// lossBBLists reads the dino_bb/pairs/{s}_{t}/* lists.
func lossBBLists(t *testing.T, c *golden.Case) BBLists {
	bb := BBLists{}
	for name := range c.File.Tensors {
		rest, ok := strings.CutPrefix(name, "dino_bb/pairs/")
		if !ok || !strings.HasSuffix(rest, "/cos_sims") {
			continue
		}
		key := strings.TrimSuffix(rest, "/cos_sims")
		var s, tt int
		if _, err := fmt.Sscanf(key, "%d_%d", &s, &tt); err != nil {
			t.Fatalf("pair key %q: %v", key, err)
		}
		l := &BBList{}
		l.Source, _ = c.F32(t, "dino_bb/pairs/"+key+"/source_coords")
		l.Target, _ = c.F32(t, "dino_bb/pairs/"+key+"/target_coords")
		l.Cos, _ = c.F32(t, "dino_bb/pairs/"+key+"/cos_sims")
		l.R, _ = c.F32(t, "dino_bb/pairs/"+key+"/r")
		bb[[2]int{s, tt}] = l
	}
	return bb
}

// TestLossesGolden checks every training loss against upstream's
// DINOTracker methods on the losses case: values, per-point terms, the
// cycle loss's pseudo-labels, fg flags, dL/d(features) per loss and the
// weighted total after iteration 5000 (values and gradient).
func TestLossesGolden(t *testing.T) {
	golden.ForEach(t, "losses", func(t *testing.T, c *golden.Case) {
		obj := lossSetup(t, c)
		p := obj.Geom.Tokens()
		want := func(name string) []float32 { v, _ := c.F32(t, name); return v }
		gradOK := func(t *testing.T, what string, g *LossGrads, ref string) {
			t.Helper()
			headRelMax(t, what, flat(g.Feat), want(ref), lossTolGrad, 0)
		}
		var vals LossValues
		total := obj.NewGrads()
		cfg := obj.Config

		t.Run("flow", func(t *testing.T) {
			qs := want("flow/queries_xyt_px")
			src, tgt := headInts(t, c, "flow/source_frame_indices"), headInts(t, c, "flow/target_frame_indices")
			lab := want("flow/labels_norm")
			pts := make([]FlowPoint, len(src))
			for i := range pts {
				pts[i] = FlowPoint{X: qs[3*i], Y: qs[3*i+1], Src: src[i], Tgt: tgt[i], LX: lab[2*i], LY: lab[2*i+1]}
			}
			g := obj.NewGrads()
			loss, pred := obj.FlowLoss(pts, 1, g)
			vals.Flow = loss
			obj.FlowLoss(pts, 1, total)
			lossRel(t, "flow/loss", loss, want("flow/loss")[0], lossTolRelPrior)
			headAbs(t, "flow/pred_norm", pred, want("flow/pred_norm"), lossTolNorm)
			gradOK(t, "flow/grad_features", g, "flow/grad_features")
		})

		t.Run("dino_bb", func(t *testing.T) {
			bb := lossBBLists(t, c)
			pairs := lossPairs(t, c, "dino_bb/selectors")
			for key, l := range bb {
				got := BBForeground(obj.Masks, key[0], l.Source)
				wantFG := headBools(t, c, fmt.Sprintf("dino_bb/pairs/%d_%d/is_fg", key[0], key[1]))
				for i := range wantFG {
					if got[i] != wantFG[i] {
						t.Errorf("pair %d_%d point %d at (%g, %g): fg %v, want %v", key[0], key[1], i, l.Source[2*i], l.Source[2*i+1], got[i], wantFG[i])
					}
				}
			}
			g := obj.NewGrads()
			res, err := obj.DinoBBLoss(bb, pairs, nil, 1, g)
			if err != nil {
				t.Fatal(err)
			}
			vals.DinoBB = res.Loss
			if _, err := obj.DinoBBLoss(bb, pairs, nil, float32(cfg.LambdaDinoBB), total); err != nil {
				t.Fatal(err)
			}
			lossRel(t, "dino_bb/loss", res.Loss, want("dino_bb/loss")[0], lossTolRelCL)
			gradOK(t, "dino_bb/grad_features", g, "dino_bb/grad_features")
			for i := 0; c.Has(fmt.Sprintf("dino_bb/per_pair/%d/order", i)); i++ {
				if i >= len(res.Pairs) {
					t.Fatalf("%d processed pairs, the reference has more", len(res.Pairs))
				}
				pr := res.Pairs[i]
				order := headInts(t, c, fmt.Sprintf("dino_bb/per_pair/%d/order", i))
				pos := map[int]int{}
				for k, idx := range pr.Index {
					pos[idx] = k
				}
				if len(pos) != len(order) {
					t.Errorf("pair %d: %d points used, want %d", i, len(pos), len(order))
				}
				lst, lts := make([]float32, len(order)), make([]float32, len(order))
				for k, idx := range order {
					m, ok := pos[idx]
					if !ok {
						t.Fatalf("pair %d: list point %d not used", i, idx)
					}
					lst[k], lts[k] = pr.LST[m], pr.LTS[m]
				}
				headAbs(t, fmt.Sprintf("dino_bb/per_pair/%d/l_st", i), lst, want(fmt.Sprintf("dino_bb/per_pair/%d/l_st", i)), lossTolPoint)
				headAbs(t, fmt.Sprintf("dino_bb/per_pair/%d/l_ts", i), lts, want(fmt.Sprintf("dino_bb/per_pair/%d/l_ts", i)), lossTolPoint)
			}
		})

		t.Run("ref_bb", func(t *testing.T) {
			pairs := lossPairs(t, c, "ref_bb/selectors")
			g := obj.NewGrads()
			res := obj.RefinedBBLoss(pairs, nil, 1, g)
			vals.RefinedBB = res.Loss
			obj.RefinedBBLoss(pairs, nil, float32(cfg.LambdaRefinedBB), total)
			lossRel(t, "ref_bb/loss", res.Loss, want("ref_bb/loss")[0], lossTolRelCL)
			gradOK(t, "ref_bb/grad_features", g, "ref_bb/grad_features")
			if len(res.Pairs) != len(pairs) {
				t.Fatalf("%d processed pairs, want %d", len(res.Pairs), len(pairs))
			}
			for i, pr := range res.Pairs {
				pre := fmt.Sprintf("ref_bb/per_pair/%d/", i)
				src, tgt := headInts(t, c, pre+"source_token_idx"), headInts(t, c, pre+"target_token_idx")
				fg, w := headBools(t, c, pre+"is_fg"), want(pre+"weight")
				pos := map[int]int{}
				for k, a := range pr.Index {
					pos[a] = k
				}
				if len(pos) != len(src) {
					t.Errorf("pair %d (%v): %d best buddies, want %d", i, pr.Pair, len(pos), len(src))
				}
				lst, lts, wt := make([]float32, len(src)), make([]float32, len(src)), make([]float32, len(src))
				for k, a := range src {
					m, ok := pos[a]
					if !ok {
						t.Fatalf("pair %d: source token %d is not a best buddy here", i, a)
					}
					if pr.Target[m] != tgt[k] || pr.IsFG[m] != fg[k] {
						t.Errorf("pair %d token %d: target %d fg %v, want %d %v", i, a, pr.Target[m], pr.IsFG[m], tgt[k], fg[k])
					}
					lst[k], lts[k], wt[k] = pr.LST[m], pr.LTS[m], pr.Weight[m]
				}
				headAbs(t, pre+"weight", wt, w, 1e-5)
				headAbs(t, pre+"l_st", lst, want(pre+"l_st"), lossTolPoint)
				headAbs(t, pre+"l_ts", lts, want(pre+"l_ts"), lossTolPoint)
			}
		})

		t.Run("cyc", func(t *testing.T) {
			pairs := lossPairs(t, c, "cyc/selectors")
			pixels := make([][]float32, len(pairs))
			for i, pr := range pairs {
				xyt := want(fmt.Sprintf("cyc/pair/%d/sampled_xyt", i))
				for k := 0; k < len(xyt); k += 3 {
					if int(xyt[k+2]) != obj.Frames[pr.S] {
						t.Fatalf("pair %d: sampled pixel in frame %g, selector says %d", i, xyt[k+2], obj.Frames[pr.S])
					}
					pixels[i] = append(pixels[i], xyt[k], xyt[k+1])
				}
			}
			g := obj.NewGrads()
			res := obj.CycleLoss(pairs, pixels, 1, g)
			vals.Cycle = res.Loss
			obj.CycleLoss(pairs, pixels, float32(cfg.LambdaCyc), total)
			if wantKept := int(c.Number(-1, "cycle_points_kept")); res.Kept != wantKept {
				t.Errorf("%d points kept, want %d", res.Kept, wantKept)
			}
			for i, st := range res.Pairs {
				pre := fmt.Sprintf("cyc/pair/%d/", i)
				headAbs(t, pre+"q_px", st.Q, want(pre+"q_px"), lossTolPx)
				headAbs(t, pre+"p_back_px", st.PBack, want(pre+"p_back_px"), lossTolPx)
				headAbs(t, pre+"cycle_dist", st.Dist, want(pre+"cycle_dist"), lossTolPx)
				kept := headBools(t, c, pre+"kept")
				for k := range kept {
					if st.Kept[k] != kept[k] {
						t.Errorf("%spoint %d: kept %v, want %v (dist %g)", pre, k, st.Kept[k], kept[k], st.Dist[k])
					}
				}
			}
			headAbs(t, "cyc/pred_source_to_target_norm", res.PredST, want("cyc/pred_source_to_target_norm"), lossTolNorm)
			headAbs(t, "cyc/pred_target_to_source_norm", res.PredTS, want("cyc/pred_target_to_source_norm"), lossTolNorm)
			lossRel(t, "cyc/loss", res.Loss, want("cyc/loss")[0], lossTolRelCL)
			gradOK(t, "cyc/grad_features", g, "cyc/grad_features")
		})

		t.Run("priors", func(t *testing.T) {
			g := obj.NewGrads()
			vals.Norm = obj.NormLoss(1, g)
			obj.NormLoss(float32(cfg.LambdaNorm), total)
			lossRel(t, "prior_norm/loss", vals.Norm, want("prior_norm/loss")[0], lossTolRelPrior)
			gradOK(t, "prior_norm/grad_features", g, "prior_norm/grad_features")
			g = obj.NewGrads()
			vals.Angle = obj.AngleLoss(1, g)
			obj.AngleLoss(float32(cfg.LambdaAngle), total)
			lossRel(t, "prior_angle/loss", vals.Angle, want("prior_angle/loss")[0], lossTolRelPrior)
			gradOK(t, "prior_angle/grad_features", g, "prior_angle/grad_features")
		})

		t.Run("total", func(t *testing.T) {
			lossRel(t, "total_after_5000/loss", cfg.Weighted(5000, vals), want("total_after_5000/loss")[0], lossTolRelPrior)
			if w, w0 := cfg.Weighted(4999, vals), vals.Flow+float32(cfg.LambdaDinoBB)*vals.DinoBB+float32(cfg.LambdaNorm)*vals.Norm+float32(cfg.LambdaAngle)*vals.Angle; math.Abs(float64(w-w0)) > 1e-9 {
				t.Errorf("total before 5000 = %g, want %g (no cycle, no refined-BB)", w, w0)
			}
			// The weighted gradient: Σ λ·(golden gradient of each loss).
			ref := make([]float32, len(obj.Frames)*obj.C*p)
			for _, term := range []struct {
				name string
				l    float64
			}{{"flow", 1}, {"cyc", cfg.LambdaCyc}, {"ref_bb", cfg.LambdaRefinedBB}, {"dino_bb", cfg.LambdaDinoBB},
				{"prior_norm", cfg.LambdaNorm}, {"prior_angle", cfg.LambdaAngle}} {
				for i, v := range want(term.name + "/grad_features") {
					ref[i] += float32(term.l * float64(v))
				}
			}
			headRelMax(t, "total_after_5000 gradient", flat(total.Feat), ref, lossTolGrad, 0)
		})
	})
}

// lossTiny is a small random problem for the finite-difference checks: a
// 42×35 image (4×5 tokens), c channels, nT frames, a well-conditioned head
// and rectangular masks.
func lossTiny(t *testing.T, seed uint64, nT, c int) *Objective {
	t.Helper()
	rng := rand.New(rand.NewPCG(seed, 7))
	g := NewHeadGeometry(42, 35)
	p := g.Tokens()
	m := fgmask.New(nT, g.H, g.W)
	for fr := 0; fr < nT; fr++ {
		x0, y0 := 5+rng.IntN(10), 4+rng.IntN(8)
		for y := y0; y < y0+15; y++ {
			for x := x0; x < x0+18; x++ {
				m.Data[(fr*g.H+y)*g.W+x] = 1
			}
		}
	}
	obj, err := NewObjective(g, c, m, &Head{Refiner: *refinerWellConditioned(rng)}, DefaultLossConfig())
	if err != nil {
		t.Fatal(err)
	}
	frames := make([]int, nT)
	feat, raw := make([][]float32, nT), make([][]float32, nT)
	base := make([]float32, c*p)
	for i := range base {
		base[i] = float32(rng.NormFloat64())
	}
	for k := range frames {
		frames[k] = k
		feat[k], raw[k] = make([]float32, c*p), make([]float32, c*p)
		for i := range feat[k] {
			feat[k][i] = base[i] + float32(0.7*rng.NormFloat64())
			raw[k][i] = feat[k][i] + float32(0.3*rng.NormFloat64())
		}
	}
	if err := obj.SetFrames(frames, feat, raw); err != nil {
		t.Fatal(err)
	}
	return obj
}

// fdCheck compares the analytic gradient of f (which must accumulate
// ∂f/∂(maps, refiner) into its LossGrads) with central differences along
// random directions of the feature maps and of the refiner parameters. f
// is evaluated in float32, so the tolerance rel is relative to
// |directional derivative| + ‖gradient‖ (the typical size of a random
// directional derivative); h is the step.
func fdCheck(t *testing.T, name string, obj *Objective, head bool, h, rel float64, f func(g *LossGrads) float64) {
	t.Helper()
	g := obj.NewGrads()
	f(g)
	rng := rand.New(rand.NewPCG(99, 1))
	type dir struct {
		what string
		vals []*[]float32 // the perturbed slices
		grad [][]float32
	}
	dirs := []dir{{what: "features", grad: g.Feat}}
	for k := range obj.Feat {
		dirs[0].vals = append(dirs[0].vals, &obj.Feat[k])
	}
	if head {
		r := &obj.Head.Refiner
		dirs = append(dirs, dir{what: "refiner", vals: []*[]float32{&r.W0, &r.B0, &r.W2, &r.B2},
			grad: [][]float32{g.Head.W0, g.Head.B0, g.Head.W2, g.Head.B2}})
	}
	for _, d := range dirs {
		for trial := 0; trial < 3; trial++ {
			v := make([][]float32, len(d.vals))
			var analytic float64
			for k, s := range d.vals {
				v[k] = make([]float32, len(*s))
				for i := range v[k] {
					v[k][i] = float32(rng.NormFloat64())
					analytic += float64(v[k][i]) * float64(d.grad[k][i])
				}
			}
			orig := make([][]float32, len(d.vals))
			for k, s := range d.vals {
				orig[k] = append([]float32(nil), *s...)
			}
			eval := func(h float64) float64 {
				for k, s := range d.vals {
					for i := range *s {
						(*s)[i] = orig[k][i] + float32(h*float64(v[k][i]))
					}
				}
				if d.what == "features" {
					if err := obj.SetFrames(obj.Frames, obj.Feat, obj.Raw); err != nil {
						t.Fatal(err)
					}
				}
				return f(nil)
			}
			// Central difference with a small step: the losses have kinks
			// (Huber, ReLU, |·|) that a larger step would straddle. The
			// head's float32 softmax makes f noisy at the 1e-8 level,
			// hence the looser rel for the losses through the head.
			numeric := (eval(h) - eval(-h)) / (2 * h)
			eval(0)
			var gn float64 // ‖gradient‖: the typical size of a random directional derivative
			for _, gk := range d.grad {
				for _, x := range gk {
					gn += float64(x) * float64(x)
				}
			}
			gn = math.Sqrt(gn)
			err := math.Abs(numeric - analytic)
			tol := rel * (math.Abs(analytic) + gn)
			if !(err <= tol) {
				t.Errorf("%s: d/d(%s) along direction %d: analytic %.6g, finite difference %.6g (|Δ| %.3g > %.3g; ‖grad‖ %.3g)", name, d.what, trial, analytic, numeric, err, tol, gn)
			} else {
				t.Logf("%s: d/d(%s) along direction %d: analytic %.6g, finite difference %.6g (|Δ|/‖grad‖ %.2g)", name, d.what, trial, analytic, numeric, err/gn)
			}
		}
	}
}

// TestLossesFiniteDifferences checks every loss's gradient against central
// differences on tiny random problems. The contrastive and cycle losses
// hold their discrete choices and no-gradient parts fixed (best-buddy
// pairs and weights, pseudo-labels), as upstream detaches them.
func TestLossesFiniteDifferences(t *testing.T) {
	t.Run("flow", func(t *testing.T) {
		obj := lossTiny(t, 1, 3, 6)
		rng := rand.New(rand.NewPCG(5, 5))
		var pts []FlowPoint
		for i := 0; i < 12; i++ {
			s, tt := rng.IntN(3), rng.IntN(3)
			pts = append(pts, FlowPoint{X: float32(3 + 36*rng.Float64()), Y: float32(3 + 29*rng.Float64()), Src: s, Tgt: tt,
				LX: float32(rng.Float64()*1.6 - 0.8), LY: float32(rng.Float64()*1.6 - 0.8)})
		}
		// Half of the labels near the prediction: the quadratic branch.
		_, pred := obj.FlowLoss(pts, 1, nil)
		for i := 0; i < len(pts); i += 2 {
			pts[i].LX, pts[i].LY = pred[2*i]+0.01, pred[2*i+1]-0.012
		}
		fdCheck(t, "flow", obj, true, 1e-3, 5e-2, func(g *LossGrads) float64 {
			l, _ := obj.FlowLoss(pts, 1, g)
			return float64(l)
		})
	})
	t.Run("dino_bb", func(t *testing.T) {
		obj := lossTiny(t, 2, 3, 6)
		rng := rand.New(rand.NewPCG(6, 6))
		bb := BBLists{}
		for s := 0; s < 3; s++ {
			for tt := 0; tt < 3; tt++ {
				if s == tt {
					continue
				}
				l := &BBList{}
				for k := 0; k < 6; k++ {
					a, b := rng.IntN(obj.Geom.Tokens()), rng.IntN(obj.Geom.Tokens())
					ax, ay := obj.Geom.TokenCentre(a)
					bx, by := obj.Geom.TokenCentre(b)
					l.Source = append(l.Source, float32(ax), float32(ay))
					l.Target = append(l.Target, float32(bx), float32(by))
					l.Cos = append(l.Cos, float32(rng.Float64()*1.2-0.2))
					l.R = append(l.R, float32(rng.Float64()))
				}
				bb[[2]int{s, tt}] = l
			}
		}
		pairs := []FramePair{{0, 1}, {2, 1}, {1, 0}, {0, 1}}
		fdCheck(t, "dino_bb", obj, false, 1e-3, 1e-2, func(g *LossGrads) float64 {
			r, err := obj.DinoBBLoss(bb, pairs, nil, 1, g)
			if err != nil {
				t.Fatal(err)
			}
			return float64(r.Loss)
		})
	})
	t.Run("ref_bb", func(t *testing.T) {
		obj := lossTiny(t, 3, 3, 6)
		pairs := []FramePair{{0, 1}, {2, 2}, {1, 2}}
		// Fix the mutual nearest neighbours and weights of the unperturbed
		// maps (no gradient flows through them).
		base := obj.RefinedBBLoss(pairs, nil, 1, nil)
		fdCheck(t, "ref_bb", obj, false, 1e-3, 1e-2, func(g *LossGrads) float64 {
			return obj.refinedBBFixed(base, g)
		})
	})
	t.Run("cyc", func(t *testing.T) {
		obj := lossTiny(t, 4, 3, 6)
		obj.Config.CycThresh = 1e9 // keep every point: the filter is not differentiable
		rng := rand.New(rand.NewPCG(8, 8))
		pairs := []FramePair{{0, 1}, {1, 1}, {2, 0}}
		pixels := make([][]float32, len(pairs))
		for k, pr := range pairs {
			pixels[k] = obj.DrawCyclePixels(rng, obj.Frames[pr.S], 5, 3)
		}
		_, kept := obj.cycleMine(pairs, pixels)
		fdCheck(t, "cyc", obj, true, 1e-3, 5e-2, func(g *LossGrads) float64 {
			l, _, _ := obj.cycleFinish(kept, 1, g)
			return float64(l)
		})
	})
	t.Run("priors", func(t *testing.T) {
		obj := lossTiny(t, 5, 2, 8)
		fdCheck(t, "norm", obj, false, 1e-3, 1e-2, func(g *LossGrads) float64 { return float64(obj.NormLoss(1, g)) })
		fdCheck(t, "angle", obj, false, 1e-3, 1e-2, func(g *LossGrads) float64 { return float64(obj.AngleLoss(1, g)) })
	})
}

// refinedBBFixed re-evaluates a refined-BB loss with the pairs, points and
// weights of base held fixed (for finite differences).
func (o *Objective) refinedBBFixed(base *BBResult, g *LossGrads) float64 {
	c, p := o.C, o.Geom.Tokens()
	var sum float64
	for _, st := range base.Pairs {
		n := len(st.Index)
		src, tgt := make([]float32, n*c), make([]float32, n*c)
		for k := range st.Index {
			for ch := 0; ch < c; ch++ {
				src[k*c+ch] = o.Feat[st.Pair.S][ch*p+st.Index[k]]
				tgt[k*c+ch] = o.Feat[st.Pair.T][ch*p+st.Target[k]]
			}
		}
		nce := newBBNCE(src, tgt, n, c, o.Feat[st.Pair.S], o.Norm[st.Pair.S], o.Feat[st.Pair.T], o.Norm[st.Pair.T], p, o.Config.CLTemp)
		dl := make([]float32, n)
		for k, w := range st.Weight {
			sum += (float64(nce.lst[k]) + float64(nce.lts[k])) * float64(w) / (2 * o.Config.RefinedBBDiv)
			dl[k] = float32(float64(w) / (2 * o.Config.RefinedBBDiv))
		}
		if g != nil {
			dsrc, dtgt := nce.backward(dl, g.Feat[st.Pair.S], g.Feat[st.Pair.T])
			for k := range st.Index {
				for ch := 0; ch < c; ch++ {
					g.Feat[st.Pair.S][ch*p+st.Index[k]] += dsrc[k*c+ch]
					g.Feat[st.Pair.T][ch*p+st.Target[k]] += dtgt[k*c+ch]
				}
			}
		}
	}
	return sum
}

// TestBBForegroundMatchesGridSample compares the mask lookup with
// nn.GridSampleForward (align_corners=False, zero padding) on random masks
// and points, including points on and outside the edges.
func TestBBForegroundMatchesGridSample(t *testing.T) {
	rng := rand.New(rand.NewPCG(11, 3))
	const w, h = 31, 17
	m := fgmask.New(1, h, w)
	plane := make([]float32, w*h)
	for i := range m.Data {
		if rng.IntN(5) == 0 {
			m.Data[i], plane[i] = 1, 255
		}
	}
	var xy []float32
	for i := 0; i < 2000; i++ {
		var x, y float32
		if i%2 == 0 {
			x, y = float32(rng.IntN(w+3)-1), float32(rng.IntN(h+3)-1)
		} else {
			x, y = float32(rng.Float64()*(w+2)-1), float32(rng.Float64()*(h+2)-1)
		}
		xy = append(xy, x, y)
	}
	got := BBForeground(m, 0, xy)
	n := len(got)
	grid := make([]float32, 2*n)
	for i := 0; i < n; i++ {
		grid[2*i] = float32(xy[2*i]/w)*2 - 1
		grid[2*i+1] = float32(xy[2*i+1]/h)*2 - 1
	}
	out := make([]float32, n)
	nn.GridSampleForward(out, plane, grid, 1, 1, h, w, 1, n, nn.GridSampleOptions{AlignCorners: false, Padding: nn.GridPadZeros})
	for i := range got {
		if got[i] != (out[i] > 0) {
			t.Errorf("point (%g, %g): fg %v, grid_sample gives %g", xy[2*i], xy[2*i+1], got[i], out[i])
		}
	}
}

// TestMutualNNMatchesBruteForce compares the blocked best-buddy search with
// the full affinity matrix, with more tokens than one row block.
func TestMutualNNMatchesBruteForce(t *testing.T) {
	rng := rand.New(rand.NewPCG(12, 4))
	const c, p = 5, 600
	src, tgt := make([]float32, c*p), make([]float32, c*p)
	for i := range src {
		src[i], tgt[i] = float32(rng.NormFloat64()), float32(rng.NormFloat64())
	}
	ns, nt := make([]float32, p), make([]float32, p)
	for j := 0; j < p; j++ {
		var a, b float64
		for ch := 0; ch < c; ch++ {
			a += float64(src[ch*p+j]) * float64(src[ch*p+j])
			b += float64(tgt[ch*p+j]) * float64(tgt[ch*p+j])
		}
		ns[j], nt[j] = float32(math.Sqrt(a)), float32(math.Sqrt(b))
	}
	nnIdx, best, bb := mutualNN(src, ns, tgt, nt, c, p)
	aff := func(a, b int) float64 {
		var d float64
		for ch := 0; ch < c; ch++ {
			d += float64(src[ch*p+a]) * float64(tgt[ch*p+b])
		}
		return d / (float64(ns[a]) * float64(nt[b]))
	}
	colArg := make([]int, p)
	for b := 0; b < p; b++ {
		for a := 1; a < p; a++ {
			if aff(a, b) > aff(colArg[b], b) {
				colArg[b] = a
			}
		}
	}
	count := 0
	for a := 0; a < p; a++ {
		bi := 0
		for b := 1; b < p; b++ {
			if aff(a, b) > aff(a, bi) {
				bi = b
			}
		}
		if int(nnIdx[a]) != bi || math.Abs(float64(best[a])-aff(a, bi)) > 1e-5 {
			t.Fatalf("token %d: nearest %d (%g), want %d (%g)", a, nnIdx[a], best[a], bi, aff(a, bi))
		}
		if bb[a] != (colArg[bi] == a) {
			t.Fatalf("token %d: best buddy %v, want %v", a, bb[a], colArg[bi] == a)
		}
		if bb[a] {
			count++
		}
	}
	t.Logf("%d best buddies among %d tokens", count, p)
}

// TestDrawFramePairs checks the selector draws: distinct pairs never match,
// every ordered pair appears, and one frame is an error for the DINO-BB
// loss only.
func TestDrawFramePairs(t *testing.T) {
	rng := rand.New(rand.NewPCG(1, 2))
	seen := map[FramePair]int{}
	for i := 0; i < 3000; i++ {
		ps, err := DrawFramePairs(rng, 3, 4, true)
		if err != nil {
			t.Fatal(err)
		}
		for _, p := range ps {
			if p.S == p.T {
				t.Fatalf("distinct draw gave %v", p)
			}
			seen[p]++
		}
	}
	if len(seen) != 6 {
		t.Errorf("distinct draws cover %d ordered pairs, want 6: %v", len(seen), seen)
	}
	for p, n := range seen {
		if math.Abs(float64(n)-2000) > 200 {
			t.Errorf("pair %v drawn %d times, want ≈2000", p, n)
		}
	}
	if _, err := DrawFramePairs(rng, 1, 4, true); err == nil || !strings.Contains(err.Error(), "one frame") {
		t.Errorf("one-frame distinct draw: err %v", err)
	}
	ps, err := DrawFramePairs(rng, 1, 4, false)
	if err != nil || len(ps) != 4 || ps[0] != (FramePair{}) {
		t.Errorf("one-frame draw with repeats: %v, %v", ps, err)
	}
}

// TestDrawCyclePixels checks the cycle pixel draws: distinct, on the right
// side of the mask, capped by the class sizes, and uniform.
func TestDrawCyclePixels(t *testing.T) {
	obj := lossTiny(t, 9, 2, 4)
	rng := rand.New(rand.NewPCG(3, 3))
	nfg := 0
	for _, v := range obj.Masks.Frame(1) {
		if v != 0 {
			nfg++
		}
	}
	hits := map[[2]float32]int{}
	const draws = 400
	for d := 0; d < draws; d++ {
		px := obj.DrawCyclePixels(rng, 1, 20, 7)
		if len(px) != 2*27 {
			t.Fatalf("%d pixels, want 27", len(px)/2)
		}
		seen := map[[2]float32]bool{}
		for i := 0; i < len(px); i += 2 {
			k := [2]float32{px[i], px[i+1]}
			if seen[k] {
				t.Fatalf("pixel %v drawn twice", k)
			}
			seen[k] = true
			hits[k]++
			if fg := obj.Masks.At(1, int(px[i]), int(px[i+1])); fg != (i/2 < 20) {
				t.Fatalf("pixel %d (%v) has fg %v", i/2, k, fg)
			}
		}
	}
	// Each fg pixel is drawn with probability 20/nfg per draw.
	var fgHits []int
	for k, n := range hits {
		if obj.Masks.At(1, int(k[0]), int(k[1])) {
			fgHits = append(fgHits, n)
		}
	}
	sort.Ints(fgHits)
	mean := float64(draws*20) / float64(nfg)
	if len(fgHits) < nfg*9/10 || math.Abs(float64(fgHits[len(fgHits)/2])-mean) > 0.3*mean {
		t.Errorf("fg pixels: %d of %d drawn, median %d hits, want ≈ %.1f", len(fgHits), nfg, fgHits[len(fgHits)/2], mean)
	}
	// A class smaller than its quota gives all of it.
	m := fgmask.New(1, 10, 10)
	m.Data[17], m.Data[42] = 1, 1
	o2 := &Objective{Masks: m}
	px := o2.DrawCyclePixels(rng, 0, 179, 77)
	if len(px) != 2*(2+77) || !m.At(0, int(px[0]), int(px[1])) || !m.At(0, int(px[2]), int(px[3])) {
		t.Errorf("tiny mask: %d pixels %v", len(px)/2, px[:4])
	}
}

// TestRandomObjective runs Total with random draws on a tiny problem
// before and after the switch iteration, checks that the late losses are
// off before it, that the gradient of the total is the λ-weighted sum of
// the separate losses' gradients for the same draws, and that an
// impossible cycle threshold gives a zero cycle loss with a reason instead
// of looping.
func TestRandomObjective(t *testing.T) {
	obj := lossTiny(t, 10, 3, 6)
	batch := &FlowBatch{Frames: obj.Frames}
	rng := rand.New(rand.NewPCG(4, 4))
	for i := 0; i < 20; i++ {
		batch.Points = append(batch.Points, FlowPoint{X: float32(3 + 36*rng.Float64()), Y: float32(3 + 29*rng.Float64()),
			Src: rng.IntN(3), Tgt: rng.IntN(3), LX: float32(rng.Float64() - 0.5), LY: float32(rng.Float64() - 0.5)})
	}
	bb := BBLists{{0, 1}: {Source: []float32{7, 7, 14, 21}, Target: []float32{21, 14, 7, 14}, Cos: []float32{0.9, 0.8}, R: []float32{0.1, 0.5}}}
	obj.Config.CycAfter, obj.Config.RefinedBBAfter = 100, 100

	early, err := obj.Total(99, batch, bb, rand.New(rand.NewPCG(1, 1)), nil)
	if err != nil {
		t.Fatal(err)
	}
	if early.CycleOn || early.RefinedBBOn || early.Cycle != 0 || early.RefinedBB != 0 {
		t.Errorf("before the switch: %+v", early)
	}
	g := obj.NewGrads()
	late, err := obj.Total(100, batch, bb, rand.New(rand.NewPCG(1, 1)), g)
	if err != nil {
		t.Fatal(err)
	}
	if !late.CycleOn || !late.RefinedBBOn || late.RefinedBB <= 0 {
		t.Errorf("after the switch: %+v", late)
	}
	t.Logf("iteration 99: %+v", *early)
	t.Logf("iteration 100: %+v", *late)
	if late.Total != obj.Config.Weighted(100, *late) {
		t.Errorf("total %g, Weighted gives %g", late.Total, obj.Config.Weighted(100, *late))
	}
	if early.Flow != late.Flow || early.DinoBB == 0 {
		t.Errorf("flow %g vs %g, dino-bb %g", early.Flow, late.Flow, early.DinoBB)
	}

	// Impossible threshold: bounded re-draws, zero loss, a reason.
	obj.Config.CycThresh = -1
	r, err := obj.RandomCycleLoss(rand.New(rand.NewPCG(2, 2)), 1, nil)
	if err != nil {
		t.Fatal(err)
	}
	if r.Loss != 0 || r.Reason == "" || r.Draws != 1+obj.Config.CycRetries {
		t.Errorf("impossible threshold: loss %g after %d draws, reason %q", r.Loss, r.Draws, r.Reason)
	}

	// One frame: the DINO-BB loss cannot draw distinct frames.
	one := lossTiny(t, 10, 1, 6)
	_, err = one.Total(0, &FlowBatch{Frames: one.Frames}, nil, rand.New(rand.NewPCG(1, 1)), nil)
	if err == nil || !strings.Contains(err.Error(), "one frame") {
		t.Errorf("one frame: err %v", err)
	}
}

// TestFlowLossMatchesPerQueryHead checks the batched head path of the
// losses (grouping by target frame, one GEMM per group, per-worker refiner
// gradients) against Head.Forward/Backward run query by query.
func TestFlowLossMatchesPerQueryHead(t *testing.T) {
	obj := lossTiny(t, 21, 3, 7)
	rng := rand.New(rand.NewPCG(21, 1))
	var pts []FlowPoint
	for i := 0; i < 40; i++ {
		pts = append(pts, FlowPoint{X: float32(-2 + 45*rng.Float64()), Y: float32(-2 + 38*rng.Float64()), Src: rng.IntN(3), Tgt: rng.IntN(3),
			LX: float32(rng.Float64()*1.6 - 0.8), LY: float32(rng.Float64()*1.6 - 0.8)})
	}
	g := obj.NewGrads()
	loss, pred := obj.FlowLoss(pts, 0.7, g)

	want := obj.NewGrads()
	ws := NewHeadWorkspace(obj.Geom, obj.C)
	var sum float64
	n := float64(2 * len(pts))
	for i, pt := range pts {
		xn, yn := obj.Head.Forward(ws, obj.Feat[pt.Src], obj.Feat[pt.Tgt], obj.Norm[pt.Tgt], float64(pt.X), float64(pt.Y))
		if math.Abs(float64(xn-pred[2*i])) > 1e-6 || math.Abs(float64(yn-pred[2*i+1])) > 1e-6 {
			t.Errorf("point %d: batched (%g, %g), per query (%g, %g)", i, pred[2*i], pred[2*i+1], xn, yn)
		}
		ex, ey := float64(xn)-float64(pt.LX), float64(yn)-float64(pt.LY)
		sum += huber(ex, 1.0/32) + huber(ey, 1.0/32)
		obj.Head.Backward(ws, float32(0.7*huberGrad(ex, 1.0/32)/n), float32(0.7*huberGrad(ey, 1.0/32)/n),
			want.Feat[pt.Src], want.Feat[pt.Tgt], want.Head)
	}
	lossRel(t, "flow loss", loss, float32(sum/n), 1e-6)
	headRelMax(t, "dL/dfeatures", flat(g.Feat), flat(want.Feat), 1e-5, 1e-5)
	for k, p := range g.Head.Params() {
		if p.Name != "cnn_refiner.2.bias" {
			headRelMax(t, "dL/d"+p.Name, p.Data, want.Head.Params()[k].Data, 1e-5, 1e-5)
		}
	}
}
