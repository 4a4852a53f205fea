package traj

import (
	"context"
	"math"
	"testing"

	"dinotracker/flow"
	"dinotracker/internal/golden"
)

// goldenFlows builds a MemFlows from flow_pairs [T,T,2,H,W]: pair [a,b] is
// the flow from frame a to frame b.
func goldenFlows(t *testing.T, c *golden.Case) (*MemFlows, [][]*flow.Field, int, int, int) {
	fp, shape := c.F32(t, "flow_pairs")
	T, H, W := int(c.Number(0, "config", "T")), int(c.Number(0, "config", "H")), int(c.Number(0, "config", "W"))
	if len(shape) != 5 || shape[0] != T || shape[1] != T || shape[2] != 2 || shape[3] != H || shape[4] != W {
		t.Fatalf("flow_pairs shape %v, config T=%d H=%d W=%d", shape, T, H, W)
	}
	pairs := make([][]*flow.Field, T)
	for a := range T {
		pairs[a] = make([]*flow.Field, T)
		for b := range T {
			if a == b {
				continue
			}
			off := (a*T + b) * 2 * H * W
			pairs[a][b] = &flow.Field{W: W, H: H, U: fp[off : off+H*W], V: fp[off+H*W : off+2*H*W]}
		}
	}
	m := &MemFlows{Fwd: make([]*flow.Field, T-1), Bwd: make([]*flow.Field, T-1)}
	for i := 0; i+1 < T; i++ {
		m.Fwd[i], m.Bwd[i] = pairs[i][i+1], pairs[i+1][i]
	}
	m.DirectFunc = func(from, to int) (*flow.Field, error) {
		if from == to || from < 0 || to < 0 || from >= T || to >= T {
			t.Errorf("direct flow %d→%d requested", from, to)
		}
		if d := from - to; d == 1 || d == -1 {
			t.Errorf("adjacent direct flow %d→%d requested; Chain should reuse Forward/Backward", from, to)
		}
		return pairs[from][to], nil
	}
	return m, pairs, T, H, W
}

func TestTrajectoriesGolden(t *testing.T) {
	golden.ForEach(t, "trajectories", func(t *testing.T, c *golden.Case) {
		flows, pairs, T, H, W := goldenFlows(t, c)
		thr := float32(c.Number(1.5, "config", "threshold"))
		dthr := float32(c.Number(2.5, "config", "direct_flow_threshold"))
		minLen := int(c.Number(2, "config", "min_trajectory_length"))
		ctx := context.Background()

		// Consistency masks [T+1,H,W]: exact.
		wantM, shape := c.F32(t, "consistency_masks")
		if len(shape) != 3 || shape[0] != T+1 {
			t.Fatalf("consistency_masks shape %v", shape)
		}
		masks, err := ConsistencyMasks(ctx, flows, T, W, H, thr)
		if err != nil {
			t.Fatal(err)
		}
		bad, trues := 0, 0
		for i := 0; i <= T; i++ {
			for p := 0; p < W*H; p++ {
				got := i < T && masks[i][p]
				want := wantM[i*W*H+p] != 0
				if want {
					trues++
				}
				if got != want {
					if bad < 5 {
						t.Errorf("consistency mask %d pixel (%d,%d): got %v want %v", i, p%W, p/W, got, want)
					}
					bad++
				}
			}
		}
		t.Logf("consistency masks: %d mismatches, %d true of %d", bad, trues, (T+1)*W*H)

		// Direct-flow masks [T,T,H,W]: exact.
		wantD, _ := c.F32(t, "direct_flow_masks")
		bad, trues = 0, 0
		for s := range T {
			for u := range T {
				var got []bool
				if u > s {
					if got, err = DirectMask(pairs[s][u], pairs[u][s], thr, nil); err != nil {
						t.Fatal(err)
					}
				}
				for p := 0; p < W*H; p++ {
					g := got != nil && got[p]
					w := wantD[((s*T+u)*H*W)+p] > 0.2
					if w {
						trues++
					}
					if g != w {
						if bad < 5 {
							t.Errorf("direct mask %d→%d pixel (%d,%d): got %v want %v", s, u, p%W, p/W, g, w)
						}
						bad++
					}
				}
			}
		}
		t.Logf("direct-flow masks: %d mismatches, %d true", bad, trues)

		tol := 1e-4
		for _, tc := range []struct {
			name   string
			direct bool
		}{{"trajectories_direct_filter", true}, {"trajectories_no_direct_filter", false}} {
			t.Run(tc.name, func(t *testing.T) {
				want, shape := c.F32(t, tc.name)
				opt := Options{Threshold: thr, DirectThreshold: dthr, UseDirect: tc.direct, MinLength: minLen}
				calls := 0
				set, err := Chain(ctx, flows, T, W, H, opt, func(done, total int) {
					calls++
					if done > total {
						t.Errorf("progress %d/%d", done, total)
					}
				})
				if err != nil {
					t.Fatal(err)
				}
				if err := set.Validate(); err != nil {
					t.Fatal(err)
				}
				if set.N() != shape[0] || shape[1] != T {
					t.Fatalf("got %d trajectories, want %d (shape %v)", set.N(), shape[0], shape)
				}
				got := set.Dense()
				nanBad, maxd, inexact, valid := 0, 0.0, 0, 0
				for i := range want {
					g, w := float64(got[i]), float64(want[i])
					if math.IsNaN(g) != math.IsNaN(w) {
						if nanBad < 5 {
							t.Errorf("trajectory %d frame %d coord %d: got %v want %v", i/(2*T), i/2%T, i%2, g, w)
						}
						nanBad++
						continue
					}
					if !math.IsNaN(g) {
						valid++
						if g != w {
							inexact++
						}
						maxd = max(maxd, math.Abs(g-w))
					}
				}
				if maxd > tol {
					t.Errorf("max |Δ| %.3g px exceeds %.3g", maxd, tol)
				}
				starts, _ := c.F32(t, "start_frame_"+tc.name[len("trajectories_"):])
				for i, st := range starts {
					if int32(st) != set.Start[i] {
						t.Fatalf("trajectory %d starts at %d, want %v", i, set.Start[i], st)
					}
				}
				t.Logf("N=%d (want %d), NaN-pattern mismatches %d, max |Δ| %.3g px, %d of %d coordinates not bit-identical, %d progress calls", set.N(), shape[0], nanBad, maxd, inexact, valid, calls)
			})
		}
	})
}
