package bestbuddies

import (
	"context"
	"fmt"
	"testing"

	"dinotracker/internal/golden"
	"dinotracker/traj"
)

// memSource is an in-memory FeatureSource over a [T, C, gh, gw] stack.
type memSource struct {
	data []float32
	n    int // C·gh·gw
}

func (m memSource) Frame(t int, dst []float32) ([]float32, error) {
	if t < 0 || (t+1)*m.n > len(m.data) {
		return nil, fmt.Errorf("frame %d out of range", t)
	}
	return m.data[t*m.n : (t+1)*m.n], nil
}

func flat2(v [][2]float32) []float32 {
	out := make([]float32, 0, 2*len(v))
	for _, x := range v {
		out = append(out, x[0], x[1])
	}
	return out
}

// exactEqual fails unless got and want hold bit-for-bit the same values.
func exactEqual(t *testing.T, what string, got, want []float32) {
	t.Helper()
	if len(got) != len(want) {
		t.Errorf("%s: %d values, want %d", what, len(got), len(want))
		return
	}
	bad := 0
	for i := range want {
		if got[i] != want[i] {
			if bad < 5 {
				t.Errorf("%s[%d] = %v, want %v", what, i, got[i], want[i])
			}
			bad++
		}
	}
	if bad > 0 {
		t.Errorf("%s: %d of %d values differ", what, bad, len(want))
	}
}

// sameSet fails unless the (x, y) rows of got and want form the same set
// (order aside), so a failure says whether only the order is wrong.
func sameSet(t *testing.T, what string, got, want []float32) {
	t.Helper()
	set := map[[2]float32]int{}
	for i := 0; i+1 < len(want); i += 2 {
		set[[2]float32{want[i], want[i+1]}]++
	}
	for i := 0; i+1 < len(got); i += 2 {
		set[[2]float32{got[i], got[i+1]}]--
	}
	for k, v := range set {
		if v != 0 {
			t.Errorf("%s: point %v count differs by %d (set mismatch)", what, k, -v)
			return
		}
	}
}

// TestBestBuddiesGolden runs the three upstream preprocessing_dino_bb steps
// (extract, of_filter, compute_dino_bb_nms) step by step and through Compute
// on the golden case's random smooth features and synthetic trajectories,
// with the case's suggested tolerances: coordinates, the closest-trajectory
// indices and the kept flags exactly; cosines and peak affinities to 1e-5;
// r before and after symmetrisation to 1e-4.
func TestBestBuddiesGolden(t *testing.T) {
	golden.ForEach(t, "best_buddies", func(t *testing.T, c *golden.Case) {
		T := int(c.Number(0, "config", "T"))
		C := int(c.Number(0, "config", "C"))
		hw, ok := c.Ints("config", "grid_hw")
		if !ok || T == 0 || C == 0 {
			t.Fatal("case.json config lacks T, C or grid_hw")
		}
		n := NMS{
			TopK:    int(c.Number(400, "config", "nms_topk")),
			BoxHalf: float32(c.Number(30, "config", "box_half_size_px")),
			IoU:     c.Number(0.2, "config", "iou_threshold"),
		}
		grid := DefaultGrid(hw[0], hw[1])
		N := grid.N()
		feats, shape := c.F32(t, "features")
		if len(feats) != T*C*N {
			t.Fatalf("features shape %v, want [%d,%d,%d,%d]", shape, T, C, hw[0], hw[1])
		}
		dense, tshape := c.F32(t, "trajectories")
		trajs, err := traj.FromDense(dense, tshape[0], tshape[1])
		if err != nil {
			t.Fatal(err)
		}

		closest := ClosestTrajectories(trajs, grid)
		wantIdx, _ := c.F64(t, "closest_traj_idx")
		bad := 0
		for f := 0; f < T; f++ {
			for k := 0; k < N; k++ {
				if int64(closest[f][k]) != int64(wantIdx[f*N+k]) {
					if bad < 5 {
						t.Errorf("closest_traj_idx[%d][%d] = %d, want %d", f, k, closest[f][k], int64(wantIdx[f*N+k]))
					}
					bad++
				}
			}
		}
		if bad > 0 {
			t.Fatalf("closest_traj_idx: %d of %d differ", bad, T*N)
		}

		frames := make([]*Frame, T)
		for f := range frames {
			frames[f] = NewFrame(feats[f*C*N:(f+1)*C*N], C, N)
		}
		final := map[[2]int]*Pairs{}
		for s := 0; s < T; s++ {
			for u := s + 1; u < T; u++ {
				st, ts := MutualNN(frames[s], frames[u], grid, 1000) // several blocks
				for _, d := range []struct {
					p    *Pairs
					a, b int
				}{{st, s, u}, {ts, u, s}} {
					key := fmt.Sprintf("%d_%d", d.a, d.b)
					wantS, _ := c.F32(t, "raw/"+key+"/source_coords")
					wantT, _ := c.F32(t, "raw/"+key+"/target_coords")
					wantC, _ := c.F32(t, "raw/"+key+"/cos_sims")
					sameSet(t, "raw "+key+" source", flat2(d.p.Source), wantS)
					exactEqual(t, "raw "+key+" source_coords", flat2(d.p.Source), wantS)
					exactEqual(t, "raw "+key+" target_coords", flat2(d.p.Target), wantT)
					golden.Close(t, "raw "+key+" cos_sims", d.p.Cos, wantC, 1e-5)

					keep := FilterByFlow(d.p, d.a, d.b, closest, trajs, grid)
					wantK := c.Tensor(t, "filter/"+key+"/kept").Raw
					if len(keep) != len(wantK) {
						t.Fatalf("kept %s: %d flags, want %d", key, len(keep), len(wantK))
					}
					nk := 0
					for i := range keep {
						if keep[i] != (wantK[i] != 0) {
							t.Fatalf("kept %s[%d] = %v, want %v", key, i, keep[i], wantK[i] != 0)
						}
						if keep[i] {
							nk++
						}
					}
					t.Logf("%s: %d mutual NN, %d kept", key, d.p.Len(), nk)
					final[[2]int{d.a, d.b}] = d.p.Select(keep)
				}
				fst, fts := final[[2]int{s, u}], final[[2]int{u, s}]
				AmbiguityRatio(frames[s], frames[u], fst, grid, n, 300)
				AmbiguityRatio(frames[u], frames[s], fts, grid, n, 0)
				for _, d := range []struct {
					p    *Pairs
					a, b int
				}{{fst, s, u}, {fts, u, s}} {
					key := fmt.Sprintf("%d_%d", d.a, d.b)
					want, _ := c.F32(t, "final/"+key+"/r_unsym")
					golden.Close(t, "final "+key+" r_unsym", d.p.R, want, 1e-4)
				}
				if err := Symmetrize(fst, fts); err != nil {
					t.Fatal(err)
				}
			}
		}
		checkFinal := func(what string, get func(s, u int) *Pairs) {
			for s := 0; s < T; s++ {
				for u := 0; u < T; u++ {
					if s == u {
						continue
					}
					key := fmt.Sprintf("%d_%d", s, u)
					p := get(s, u)
					if p == nil {
						t.Fatalf("%s: pair %s missing", what, key)
					}
					wantS, _ := c.F32(t, "final/"+key+"/source_coords")
					wantT, _ := c.F32(t, "final/"+key+"/target_coords")
					wantC, _ := c.F32(t, "final/"+key+"/cos_sims")
					wantP, _ := c.F32(t, "final/"+key+"/peak_affs")
					wantR, _ := c.F32(t, "final/"+key+"/r")
					exactEqual(t, what+" "+key+" source_coords", flat2(p.Source), wantS)
					exactEqual(t, what+" "+key+" target_coords", flat2(p.Target), wantT)
					golden.Close(t, what+" "+key+" cos_sims", p.Cos, wantC, 1e-5)
					golden.Close(t, what+" "+key+" peak_affs", flat2(p.PeakAffs), wantP, 1e-5)
					golden.Close(t, what+" "+key+" r", p.R, wantR, 1e-4)
				}
			}
		}
		checkFinal("steps", func(s, u int) *Pairs { return final[[2]int{s, u}] })

		opt := ExhaustiveOptions()
		opt.NMS = n
		var calls int
		res, err := Compute(context.Background(), memSource{feats, C * N}, T, C, hw[0], hw[1], trajs, opt,
			func(done, total int) { calls++ })
		if err != nil {
			t.Fatal(err)
		}
		if calls != T*(T-1)/2 {
			t.Errorf("progress called %d times, want %d", calls, T*(T-1)/2)
		}
		checkFinal("Compute", res.Get)
	})
}
