package dinotracker

import (
	"context"
	"fmt"
	"math"
	"math/rand/v2"
	"reflect"
	"slices"
	"testing"

	"dinotracker/cuda"
	"dinotracker/internal/golden"
)

// TestOcclusionGolden runs the inference engine on the occlusion cases'
// given refined features and compares trajectories, similarities, anchors,
// back-projections, medians, thresholds and the occlusion flags with
// upstream's ModelInference.infer.
func TestOcclusionGolden(t *testing.T) {
	golden.ForEach(t, "occlusion", func(t *testing.T, c *golden.Case) {
		feat, fs := c.F32(t, "features")
		T, C, gh, gw := fs[0], fs[1], fs[2], fs[3]
		H := int(c.Number(float64((gh-1)*7+14), "config", "H"))
		W := int(c.Number(float64((gw-1)*7+14), "config", "W"))
		g := NewHeadGeometry(W, H)
		if g.GH != gh || g.GW != gw {
			t.Fatalf("geometry %d×%d gives a %d×%d grid, features are %d×%d", W, H, g.GH, g.GW, gh, gw)
		}
		frames := make(memFrames, T)
		for k := range frames {
			frames[k] = feat[k*C*gh*gw : (k+1)*C*gh*gw]
		}
		head := &Head{Refiner: *headRefiner(t, c, "head_param/")}
		tc, err := newTrackCore(context.Background(), g, C, T, head, frames)
		if err != nil {
			t.Fatal(err)
		}
		qv, qs := c.F32(t, "queries_xyt_px")
		n := qs[0]
		queries := make([]coreQuery, n)
		for i := range queries {
			queries[i] = coreQuery{X: float64(qv[3*i]), Y: float64(qv[3*i+1]), T: int(math.Round(float64(qv[3*i+2])))}
		}
		occ := DefaultOcclusion()
		occ.AnchorCos = c.Number(occ.AnchorCos, "config", "anchor_cos_thr")
		occ.Cos = c.Number(occ.Cos, "config", "cos_thr")
		res, err := tc.run(context.Background(), queries, occ, true, nil)
		if err != nil {
			t.Fatal(err)
		}
		pxTol := 2e-3
		wantTraj, _ := c.F32(t, "trajectories_xyt")
		var gotTraj, wantXY []float32
		for i := 0; i < n; i++ {
			for k := 0; k < T; k++ {
				gotTraj = append(gotTraj, res.traj[i][k][0], res.traj[i][k][1])
				wantXY = append(wantXY, wantTraj[(i*T+k)*3], wantTraj[(i*T+k)*3+1])
			}
		}
		golden.Close(t, "trajectories", gotTraj, wantXY, pxTol)
		wantCos, _ := c.F32(t, "cos_sims")
		golden.Close(t, "cos_sims", flatRows(res.cos), wantCos, 1e-5)
		wantAnchor := headBools(t, c, "anchor_mask")
		wantOcc := headBools(t, c, "occluded")
		wantBP, _ := c.F32(t, "anchor_backproj_px")
		wantMed, _ := c.F32(t, "median_dist")
		wantThr, _ := c.F32(t, "threshold")
		var gotBP, wantBPv []float32
		nOcc := 0
		for i := 0; i < n; i++ {
			for a := 0; a < T; a++ {
				if res.anchors[i][a] != wantAnchor[i*T+a] {
					t.Errorf("query %d frame %d: anchor %v, want %v (cos %g)", i, a, res.anchors[i][a], wantAnchor[i*T+a], res.cos[i][a])
				}
				if res.occluded[i][a] != wantOcc[i*T+a] {
					t.Errorf("query %d frame %d: occluded %v, want %v", i, a, res.occluded[i][a], wantOcc[i*T+a])
				}
				if wantOcc[i*T+a] {
					nOcc++
				}
				if res.occluded[i][a] != (res.conf[i][a] < ConfidenceThreshold) {
					t.Errorf("query %d frame %d: confidence %g disagrees with occluded=%v", i, a, res.conf[i][a], res.occluded[i][a])
				}
				if !wantAnchor[i*T+a] || res.backproj[i][a] == nil {
					continue
				}
				for k := 0; k < T; k++ {
					o := ((i*T+a)*T + k) * 2
					gotBP = append(gotBP, res.backproj[i][a][k][0], res.backproj[i][a][k][1])
					wantBPv = append(wantBPv, wantBP[o], wantBP[o+1])
				}
			}
		}
		golden.Close(t, "anchor_backproj_px", gotBP, wantBPv, pxTol)
		golden.Close(t, "median_dist", flatRows(res.median), wantMed, 4e-3)
		golden.Close(t, "threshold", res.thr, wantThr, 4e-3)
		if nOcc == 0 || nOcc == n*T {
			t.Errorf("the case has %d occluded of %d; the test needs both kinds", nOcc, n*T)
		}
	})
}

func flatRows(r [][]float32) []float32 {
	var o []float32
	for _, v := range r {
		o = append(o, v...)
	}
	return o
}

// TestHeadRowMatchesFullHead checks the windowed head against the full
// head (refiner on the whole map, global softmax, window) on random cost
// volumes, for gentle and extreme refiners (the latter push the window's
// mass below 1e-8 and take the fallback).
func TestHeadRowMatchesFullHead(t *testing.T) {
	for _, tcase := range []struct {
		name  string
		scale float32
	}{{"smooth", 0}, {"gentle", 1}, {"sharp", 40}, {"extreme", 400}} {
		t.Run(tcase.name, func(t *testing.T) {
			rng := rand.New(rand.NewPCG(7, uint64(tcase.scale)))
			g := NewHeadGeometry(420, 238)
			head := NewHead(rng)
			if tcase.scale == 0 {
				// Positive kernels: a well-conditioned refiner, where the
				// window alone must decide.
				for _, w := range [][]float32{head.Refiner.W0, head.Refiner.W2} {
					for i := range w {
						w[i] = 0.5 + 0.5*rng.Float32()
					}
				}
			}
			for i := range head.Refiner.B2 {
				head.Refiner.B2[i] *= tcase.scale
			}
			for i := range head.Refiner.W2 {
				head.Refiner.W2[i] = head.Refiner.W2[i]*tcase.scale + 0.02
			}
			tc := &trackCore{g: g, c: 1, p: g.Tokens(), head: head}
			tc.prepareHead()
			w := tc.newWork()
			ws := NewHeadWorkspace(g, 1)
			cost := make([]float32, g.Tokens())
			fallbacks, windowedRows := 0, 0
			for trial := 0; trial < 60; trial++ {
				for j := range cost {
					cost[j] = max(0, rng.Float32()*1.4-0.5)
				}
				// a peak near a border or corner now and then
				peak := rng.IntN(len(cost))
				if trial%5 == 0 {
					peak = 0
				}
				cost[peak] = 1
				x, y, windowed := tc.headRow(w, cost)
				if windowed {
					windowedRows++
				}
				copy(ws.Cost, cost)
				head.forwardCost(ws)
				if ws.Win.Fallback {
					fallbacks++
				}
				if d := math.Hypot(x-ws.Win.X, y-ws.Win.Y); d > 1e-4 {
					t.Fatalf("trial %d: windowed head (%.6f, %.6f), full head (%.6f, %.6f), fallback %v", trial, x, y, ws.Win.X, ws.Win.Y, ws.Win.Fallback)
				}
			}
			t.Logf("%d of 60 rows took the uniform fallback, %d were decided by the window alone", fallbacks, windowedRows)
			if tcase.scale == 0 && windowedRows == 0 {
				t.Error("the well-conditioned refiner never took the windowed path: the test does not exercise it")
			}
		})
	}
}

// BenchmarkTrackPaperSize times the engine at the paper's feature size
// (67×121 tokens, 1024 channels) on T frames that all resemble each other
// (so every frame is an anchor: the occlusion step's worst case). It
// reports ms per query per frame for tracking alone and seconds per query
// for the whole run with the occlusion step.
func BenchmarkTrackPaperSize(b *testing.B) {
	const T, C, N = 8, 1024, 64
	g := NewHeadGeometry(854, 476)
	p := g.Tokens()
	rng := rand.New(rand.NewPCG(1, 2))
	base := make([]float32, C*p)
	for i := range base {
		base[i] = float32(rng.NormFloat64())
	}
	frames := make(memFrames, T)
	for k := range frames {
		f := make([]float32, C*p)
		for i := range f {
			f[i] = base[i] + 0.3*float32(rng.NormFloat64())
		}
		frames[k] = f
	}
	// A well-conditioned refiner (positive kernels), and PyTorch's default
	// init, whose kernel sums near 0 the normalisation turns into large
	// gains of both signs. The engine computes every logit either way; the
	// window decides alone unless it holds less than 1e-6 of the mass.
	smooth := NewHead(rng)
	for _, w := range [][]float32{smooth.Refiner.W0, smooth.Refiner.W2} {
		for i := range w {
			w[i] = 0.5 + 0.5*rng.Float32()
		}
	}
	for i := range smooth.Refiner.B0 {
		smooth.Refiner.B0[i] = 0.1 * float32(rng.NormFloat64())
	}
	sharp := NewHead(rng)
	qs := make([]coreQuery, N)
	for i := range qs {
		qs[i] = coreQuery{X: 7 + rng.Float64()*840, Y: 7 + rng.Float64()*462, T: i % T}
	}
	type benchCase struct {
		name string
		head *Head
		gpu  bool
	}
	cases := []benchCase{{"smooth", smooth, false}, {"init", sharp, false}}
	if cuda.Available() == nil {
		// -tags cuda with a device: the same runs with the head on the GPU.
		cases = append(cases, benchCase{"cuda", sharp, true})
	}
	for _, hc := range cases {
		tc, err := newTrackCore(context.Background(), g, C, T, hc.head, frames)
		if err != nil {
			b.Fatal(err)
		}
		if hc.gpu {
			sess, err := cuda.NewSession(frames, C, g.GH, g.GW, g.Grid())
			if err != nil {
				b.Fatal(err)
			}
			defer sess.Close()
			r := &hc.head.Refiner
			if err := sess.SetRefiner(tc.k.W0[:], r.B0, tc.k.W2[:], r.B2[0]); err != nil {
				b.Fatal(err)
			}
			tc.gpu = sess
		}
		for _, skip := range []bool{true, false} {
			name := hc.name + "/occlusion"
			if skip {
				name = hc.name + "/track"
			}
			b.Run(name, func(b *testing.B) {
				occ := DefaultOcclusion()
				occ.Skip = skip
				anchors := 0
				for b.Loop() {
					res, err := tc.run(context.Background(), qs, occ, false, nil)
					if err != nil {
						b.Fatal(err)
					}
					anchors = 0
					for i := range res.anchors {
						for _, a := range res.anchors[i] {
							if a {
								anchors++
							}
						}
					}
				}
				per := b.Elapsed().Seconds() / float64(b.N)
				if skip {
					b.ReportMetric(1000*per/float64(N*T), "ms/query/frame")
				} else {
					b.ReportMetric(per/float64(N), "s/query")
					b.ReportMetric(float64(anchors)/float64(N), "anchors/query")
				}
			})
		}
	}
	// A few queries, with a fresh engine per run as each Track call makes
	// one (so every frame's token norms are computed each time): bound by
	// reading the frames rather than by the head.
	for _, nq := range []int{1, 4} {
		b.Run(fmt.Sprintf("init/track-%dq", nq), func(b *testing.B) {
			occ := DefaultOcclusion()
			occ.Skip = true
			for b.Loop() {
				tc, err := newTrackCore(context.Background(), g, C, T, sharp, frames)
				if err != nil {
					b.Fatal(err)
				}
				if _, err := tc.run(context.Background(), qs[:nq], occ, false, nil); err != nil {
					b.Fatal(err)
				}
			}
			b.ReportMetric(1000*b.Elapsed().Seconds()/float64(b.N*nq*T), "ms/query/frame")
		})
	}
}

// TestChooseAnchors checks the anchor subset of OcclusionSettings.MaxAnchors:
// every anchor without a limit or under it; else exactly the limit, the
// query frame always, only anchor frames, spread over the list.
func TestChooseAnchors(t *testing.T) {
	anchors := make([]bool, 40)
	var list []int
	for f := range anchors {
		if f%3 != 1 {
			anchors[f] = true
			list = append(list, f)
		}
	}
	for _, limit := range []int{0, -1, len(list), len(list) + 5} {
		if got := chooseAnchors(anchors, 6, limit); !slices.Equal(got, anchors) {
			t.Errorf("limit %d: %v, want every anchor", limit, got)
		}
	}
	for _, tq := range []int{0, 6, 39} {
		for _, limit := range []int{1, 2, 3, 8, len(list) - 1} {
			got := chooseAnchors(anchors, tq, limit)
			n := 0
			for f, c := range got {
				if c {
					n++
					if !anchors[f] {
						t.Fatalf("tq %d limit %d: frame %d chosen but not an anchor", tq, limit, f)
					}
				}
			}
			if n != limit || !got[tq] {
				t.Fatalf("tq %d limit %d: %d chosen (query frame %v), want %d with it", tq, limit, n, got[tq], limit)
			}
			if limit >= 3 && (!got[list[0]] || !got[list[len(list)-1]]) {
				t.Fatalf("tq %d limit %d: the first and last anchors are not both chosen: %v", tq, limit, got)
			}
		}
	}
}

// TestMaxAnchors checks the engine with OcclusionSettings.MaxAnchors: a
// limit at or above the anchor count changes nothing; a small one
// back-projects into that many anchors only, keeps every anchor visible
// and medians over the chosen ones.
func TestMaxAnchors(t *testing.T) {
	const W, H, C, T = 84, 56, 8, 7
	g := NewHeadGeometry(W, H)
	rng := rand.New(rand.NewPCG(21, 22))
	base := make([]float32, C*g.Tokens())
	for i := range base {
		base[i] = float32(rng.NormFloat64())
	}
	frames := make(memFrames, T)
	for k := range frames {
		f := make([]float32, len(base))
		for i := range f {
			f[i] = base[i] + 0.2*float32(rng.NormFloat64())
		}
		frames[k] = f
	}
	head := NewHead(rng)
	tc, err := newTrackCore(context.Background(), g, C, T, head, frames)
	if err != nil {
		t.Fatal(err)
	}
	qs := []coreQuery{{X: 30, Y: 20, T: 2}, {X: 60.5, Y: 33, T: 5}}
	ctx := context.Background()
	exact, err := tc.run(ctx, qs, DefaultOcclusion(), true, nil)
	if err != nil {
		t.Fatal(err)
	}
	occ := DefaultOcclusion()
	occ.MaxAnchors = T
	same, err := tc.run(ctx, qs, occ, true, nil)
	if err != nil {
		t.Fatal(err)
	}
	if !reflect.DeepEqual(exact.occluded, same.occluded) || !reflect.DeepEqual(exact.median, same.median) {
		t.Fatal("MaxAnchors = T changed the result")
	}
	occ.MaxAnchors = 2
	few, err := tc.run(ctx, qs, occ, true, nil)
	if err != nil {
		t.Fatal(err)
	}
	for i, q := range qs {
		na := 0
		for f := 0; f < T; f++ {
			if exact.anchors[i][f] {
				na++
			}
		}
		if na <= 2 {
			t.Fatalf("query %d has %d anchors: the test needs more", i, na)
		}
		var used []int
		for a, bp := range few.backproj[i] {
			if bp != nil {
				used = append(used, a)
			}
		}
		if len(used) != 2 || !slices.Contains(used, q.T) {
			t.Fatalf("query %d: back-projected into frames %v, want 2 including the query frame %d", i, used, q.T)
		}
		for f := 0; f < T; f++ {
			if few.anchors[i][f] && few.occluded[i][f] {
				t.Fatalf("query %d: anchor frame %d flagged occluded", i, f)
			}
			// The lower median of two distances is the smaller one.
			var d [2]float64
			for k, a := range used {
				p, ta := few.backproj[i][a][f], few.traj[i][a]
				d[k] = math.Hypot(float64(p[0]-ta[0]), float64(p[1]-ta[1]))
			}
			if want := float32(min(d[0], d[1])); math.Abs(float64(few.median[i][f]-want)) > 1e-4 {
				t.Fatalf("query %d frame %d: median %v, want %v", i, f, few.median[i][f], want)
			}
		}
	}
}
