package bestbuddies

import (
	"math"
	"math/rand/v2"
	"testing"

	"dinotracker/traj"
)

// randomTrajs builds n trajectories over T frames: random contiguous spans,
// positions uniform in the image, clustered, on a coarse lattice (exact
// duplicates, hence ties) or far outside the image, with a few NaN holes.
func randomTrajs(rng *rand.Rand, n, T int, W, H float32, kind int) *traj.Set {
	s := traj.NewSet(T)
	for i := 0; i < n; i++ {
		st := rng.IntN(T)
		l := 1 + rng.IntN(T-st)
		xy := make([]float32, 2*l)
		for k := 0; k < l; k++ {
			var x, y float32
			switch kind {
			case 0:
				x, y = rng.Float32()*(W-1), rng.Float32()*(H-1)
			case 1: // two tight clusters
				cx := float32(100)
				if rng.IntN(2) == 0 {
					cx = W - 50
				}
				x, y = cx+float32(rng.NormFloat64()*3), H/2+float32(rng.NormFloat64()*3)
			case 2: // lattice: many exact duplicates and equidistant points
				x, y = float32(7*rng.IntN(8)+3), float32(7*rng.IntN(5)+3)
			case 3: // far outside and on a line
				x, y = -500+rng.Float32()*3000, -200
			}
			if rng.IntN(50) == 0 {
				x = float32(math.NaN())
			}
			xy[2*k], xy[2*k+1] = x, y
		}
		s.Append(st, xy)
	}
	return s
}

// TestClosestTrajectoriesVsBrute compares the grid search with the
// brute-force definition, including the first-index rule on exact ties,
// frames where no trajectory is valid and centres far from every point.
func TestClosestTrajectoriesVsBrute(t *testing.T) {
	rng := rand.New(rand.NewPCG(31, 32))
	grid := DefaultGrid(12, 20) // centres span 7…140 × 7…84
	for kind := 0; kind < 4; kind++ {
		for _, n := range []int{1, 2, 7, 300, 3000} {
			T := 4
			s := randomTrajs(rng, n, T, 160, 100, kind)
			got := ClosestTrajectories(s, grid)
			for f := 0; f < T; f++ {
				for k := 0; k < grid.N(); k++ {
					x, y := grid.Centre(k)
					if want := closestBrute(s, f, x, y); got[f][k] != want {
						t.Fatalf("kind %d n %d frame %d token %d: got %d, want %d", kind, n, f, k, got[f][k], want)
					}
				}
			}
		}
	}
	if ClosestTrajectories(nil, grid) != nil || ClosestTrajectories(traj.NewSet(3), grid) != nil {
		t.Error("no trajectories should give nil")
	}
}

// TestFilterByFlowHandMade: a pair is kept only when neither endpoint's
// nearest trajectory reaches the other frame.
func TestFilterByFlowHandMade(t *testing.T) {
	grid := DefaultGrid(5, 5) // centres 7…35
	s := traj.NewSet(3)
	s.Append(0, []float32{7, 7, 14, 7, 21, 7}) // 0: near token 0 at every frame
	s.Append(0, []float32{35, 35})             // 1: near token 24, frame 0 only
	s.Append(2, []float32{35, 35})             // 2: near token 24, frame 2 only
	s.Append(1, []float32{20, 20, 20, 20})     // 3: frames 1–2, middle
	closest := ClosestTrajectories(s, grid)
	p := &Pairs{}
	p.add(grid, 24, 24, 0.9) // frame 0 → 2: nearest are 1 (invalid at 2) and 2 (invalid at 0): kept
	p.add(grid, 0, 24, 0.8)  // nearest of source is 0, valid at 2: dropped
	p.add(grid, 24, 12, 0.7) // nearest of target at 2 is 3, invalid at 0: kept
	keep := FilterByFlow(p, 0, 2, closest, s, grid)
	if want := []bool{true, false, true}; keep[0] != want[0] || keep[1] != want[1] || keep[2] != want[2] {
		t.Errorf("kept %v, want %v", keep, want)
	}
	all := FilterByFlow(p, 0, 2, nil, nil, grid)
	if !all[0] || !all[1] || !all[2] {
		t.Error("without trajectories every pair is kept")
	}
}
