package bestbuddies

import (
	"context"
	"errors"
	"math"
	"math/rand/v2"
	"path/filepath"
	"testing"
)

func TestFramePairs(t *testing.T) {
	if got := len(FramePairs(10, ExhaustiveOptions())); got != 45 {
		t.Errorf("exhaustive: %d pairs, want 45", got)
	}
	for _, T := range []int{2, 5, 17, 50, 200} {
		for _, P := range []int{1, 4, 8, 16} {
			opt := DefaultOptions()
			opt.Partners = P
			pairs := FramePairs(T, opt)
			deg := make([]int, T)
			seen := map[[2]int]bool{}
			for _, p := range pairs {
				if p[0] >= p[1] || p[0] < 0 || p[1] >= T || seen[p] {
					t.Fatalf("T=%d P=%d: bad or repeated pair %v", T, P, p)
				}
				seen[p] = true
				deg[p[0]]++
				deg[p[1]]++
			}
			if len(pairs) > T*P {
				t.Errorf("T=%d P=%d: %d pairs exceed the budget T·Partners", T, P, len(pairs))
			}
			for s, d := range deg {
				if d < min(P, T-1) {
					t.Errorf("T=%d P=%d: frame %d has %d partners", T, P, s, d)
				}
			}
			if T > 2 && P < T-1 && !seen[[2]int{0, 1}] {
				t.Errorf("T=%d P=%d: stride-1 pair missing", T, P)
			}
			again := FramePairs(T, opt)
			for i := range again {
				if again[i] != pairs[i] {
					t.Fatalf("FramePairs is not deterministic")
				}
			}
		}
	}
}

// smallVideo returns features of a small video with DINO-like structure:
// each token is a point of a smooth rank-4 field (shifted per frame) mapped
// into C channels, plus 5 % isotropic noise, so a few principal directions
// carry most of the energy.
func smallVideo(rng *rand.Rand, T, C, gh, gw int) []float32 {
	const rank = 4
	H, W := gh+8, gw+8
	field := make([]float64, rank*H*W)
	for r := 0; r < rank; r++ {
		// A sum of random plane waves: smooth over the token grid.
		for w := 0; w < 6; w++ {
			fy, fx, ph := rng.Float64()*0.8, rng.Float64()*0.8, rng.Float64()*6.3
			for i := 0; i < H; i++ {
				for j := 0; j < W; j++ {
					field[(r*H+i)*W+j] += math.Sin(fy*float64(i) + fx*float64(j) + ph)
				}
			}
		}
	}
	mix := make([]float64, C*rank)
	for i := range mix {
		mix[i] = rng.NormFloat64()
	}
	out := make([]float32, T*C*gh*gw)
	for f := 0; f < T; f++ {
		dy, dx := rng.IntN(8), rng.IntN(8)
		for i := 0; i < gh; i++ {
			for j := 0; j < gw; j++ {
				for c := 0; c < C; c++ {
					var v float64
					for r := 0; r < rank; r++ {
						v += mix[c*rank+r] * field[(r*H+i+dy)*W+j+dx]
					}
					out[((f*C+c)*gh+i)*gw+j] = float32(v + 0.05*3*rng.NormFloat64())
				}
			}
		}
	}
	return out
}

func sameResult(t *testing.T, got, want *Result) {
	t.Helper()
	if len(got.Pairs) != len(want.Pairs) {
		t.Fatalf("%d frame pairs, want %d", len(got.Pairs), len(want.Pairs))
	}
	for k, w := range want.Pairs {
		g := got.Pairs[k]
		if g == nil {
			t.Fatalf("pair %v missing", k)
		}
		samePairs(t, "result", g, w)
		if g.Raw != w.Raw || len(g.R) != len(w.R) || len(g.PeakAffs) != len(w.PeakAffs) {
			t.Fatalf("pair %v: raw %d, %d r, %d peaks; want %d, %d, %d", k, g.Raw, len(g.R), len(g.PeakAffs), w.Raw, len(w.R), len(w.PeakAffs))
		}
		for i := range w.R {
			if g.R[i] != w.R[i] || g.PeakAffs[i] != w.PeakAffs[i] {
				t.Fatalf("pair %v/%d: r %v peaks %v, want %v %v", k, i, g.R[i], g.PeakAffs[i], w.R[i], w.PeakAffs[i])
			}
		}
	}
}

// TestComputeCheckpoint runs Compute, interrupts a second run after a few
// pairs, resumes it from its checkpoint and checks the results agree, then
// checks Save/Load and that a checkpoint made with other options is refused.
func TestComputeCheckpoint(t *testing.T) {
	rng := rand.New(rand.NewPCG(41, 42))
	T, C, gh, gw := 6, 8, 9, 11
	feats := smallVideo(rng, T, C, gh, gw)
	src := memSource{feats, C * gh * gw}
	trajs := randomTrajs(rng, 60, T, 80, 70, 0)
	opt := ExhaustiveOptions()
	opt.NMS.TopK = 30
	want, err := Compute(context.Background(), src, T, C, gh, gw, trajs, opt, nil)
	if err != nil {
		t.Fatal(err)
	}
	if len(want.Pairs) != T*(T-1) {
		t.Fatalf("%d ordered pairs, want %d", len(want.Pairs), T*(T-1))
	}

	dir := t.TempDir()
	opt.Checkpoint = filepath.Join(dir, "bb.safetensors")
	ctx, cancel := context.WithCancel(context.Background())
	_, err = Compute(ctx, src, T, C, gh, gw, trajs, opt, func(done, total int) {
		if done == 4 {
			cancel()
		}
	})
	if !errors.Is(err, context.Canceled) {
		t.Fatalf("cancelled Compute returned %v", err)
	}
	part, err := Load(opt.Checkpoint)
	if err != nil {
		t.Fatal(err)
	}
	if len(part.Pairs) != 8 {
		t.Fatalf("checkpoint holds %d ordered pairs, want 8", len(part.Pairs))
	}
	var resumed []int
	got, err := Compute(context.Background(), src, T, C, gh, gw, trajs, opt, func(done, total int) { resumed = append(resumed, done) })
	if err != nil {
		t.Fatal(err)
	}
	if len(resumed) != 11 || resumed[0] != 5 {
		t.Errorf("resumed run reported %v, want 5…15", resumed)
	}
	sameResult(t, got, want)
	loaded, err := Load(opt.Checkpoint)
	if err != nil {
		t.Fatal(err)
	}
	sameResult(t, loaded, want)
	if loaded.Config != want.Config || loaded.Grid != want.Grid || loaded.T != T || !loaded.Filtered {
		t.Errorf("loaded header %+v differs", loaded)
	}

	other := opt
	other.NMS.TopK = 31
	if _, err := Compute(context.Background(), src, T, C, gh, gw, trajs, other, nil); err == nil {
		t.Error("a checkpoint made with other options was resumed")
	}
}

// TestComputeBounded checks the bounded mode end to end on a small video:
// searched pairs are a subset of FramePairs, every found pair is a true
// mutual pair of its frames' restricted candidate graph and the cosines are
// exact; with ProjDim = 0 the searched pairs equal Exhaustive's.
func TestComputeBounded(t *testing.T) {
	rng := rand.New(rand.NewPCG(51, 52))
	T, C, gh, gw := 9, 16, 12, 14
	feats := smallVideo(rng, T, C, gh, gw)
	src := memSource{feats, C * gh * gw}
	ex, err := Compute(context.Background(), src, T, C, gh, gw, nil, ExhaustiveOptions(), nil)
	if err != nil {
		t.Fatal(err)
	}
	opt := DefaultOptions()
	opt.Partners = 3
	opt.ProjDim = 0
	exact, err := Compute(context.Background(), src, T, C, gh, gw, nil, opt, nil)
	if err != nil {
		t.Fatal(err)
	}
	if want := 2 * len(FramePairs(T, opt)); len(exact.Pairs) != want {
		t.Fatalf("%d ordered pairs, want %d", len(exact.Pairs), want)
	}
	for k, p := range exact.Pairs {
		samePairs(t, "bounded exact", p, ex.Pairs[k])
	}
	opt.ProjDim = 6
	opt.Candidates = 4
	red, err := Compute(context.Background(), src, T, C, gh, gw, nil, opt, nil)
	if err != nil {
		t.Fatal(err)
	}
	rec := recallOf(red, ex)
	t.Logf("bounded (3 partners, D=6 of C=16, 4 candidates): %s", rec)
	if rec.pairRecall < 0.9 || rec.precision < 0.9 {
		t.Errorf("reduced search recall %.3f precision %.3f on searched pairs, want ≥ 0.9", rec.pairRecall, rec.precision)
	}
}
