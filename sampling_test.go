package dinotracker

import (
	"errors"
	"math"
	"math/rand/v2"
	"slices"
	"strings"
	"testing"
	"time"

	"dinotracker/traj"
)

// samplerSet builds n trajectories of a T-frame video with random spans of
// at least minLen frames. Trajectory i at frame t sits at
// (x0 + i mod 1000, (i/1000)·100 + t) so a position identifies both.
func samplerSet(rng *rand.Rand, T, n, minLen int, x0 float32) *traj.Set {
	s := traj.NewSet(T)
	for i := 0; i < n; i++ {
		l := minLen + rng.IntN(T-minLen+1)
		st := rng.IntN(T - l + 1)
		xy := make([]float32, 0, 2*l)
		for t := st; t < st+l; t++ {
			xy = append(xy, x0+float32(i%1000), float32((i/1000)*100+t))
		}
		s.Append(st, xy)
	}
	return s
}

// samplerID recovers (trajectory, frame) from a position of samplerSet.
func samplerID(x, y, x0 float32) (id, t int) {
	return int(x-x0) + 1000*(int(y)/100), int(y) % 100
}

// TestFlowSamplerInvariants checks every batch: frames_set_t is the sorted
// union of the frames used, fg points come first and from the fg set, each
// set uses ≤ NumFrames frames and distinct trajectories, source ≠ target,
// the positions and labels are the trajectory's.
func TestFlowSamplerInvariants(t *testing.T) {
	rng := rand.New(rand.NewPCG(1, 1))
	const T, w, h = 12, 854, 476
	fg, bg := samplerSet(rng, T, 3000, 1, 0), samplerSet(rng, T, 400, 1, 2000)
	cfg := DefaultSamplerConfig()
	s, err := NewFlowSampler(fg, bg, w, h, cfg, 7)
	if err != nil {
		t.Fatal(err)
	}
	for it := 0; it < 50; it++ {
		b, err := s.Sample()
		if err != nil {
			t.Fatal(err)
		}
		if b.NumFG != 256 || len(b.Points) > 512 || len(b.Points) < 256+2 {
			t.Fatalf("batch %d: %d fg of %d points", it, b.NumFG, len(b.Points))
		}
		if !slices.IsSorted(b.Frames) || len(slices.Compact(slices.Clone(b.Frames))) != len(b.Frames) || len(b.Frames) > 8 {
			t.Fatalf("frames_set_t %v", b.Frames)
		}
		usedAll := map[int]bool{}
		for part, pts := range [][]FlowPoint{b.Points[:b.NumFG], b.Points[b.NumFG:]} {
			set, x0 := fg, float32(0)
			if part == 1 {
				set, x0 = bg, 2000
			}
			frames, ids := map[int]bool{}, map[int]bool{}
			for _, p := range pts {
				if p.Src == p.Tgt {
					t.Fatalf("point with source = target frame %d", p.Src)
				}
				f1, f2 := b.Frames[p.Src], b.Frames[p.Tgt]
				frames[f1], frames[f2] = true, true
				usedAll[f1], usedAll[f2] = true, true
				id, ft := samplerID(p.X, p.Y, x0)
				id2, ft2 := samplerID(p.TX, p.TY, x0)
				if id != id2 || ft != f1 || ft2 != f2 || id >= set.N() {
					t.Fatalf("part %d: point (%g,%g)@%d → (%g,%g)@%d is not one trajectory", part, p.X, p.Y, f1, p.TX, p.TY, f2)
				}
				if ids[id] {
					t.Fatalf("part %d: trajectory %d drawn twice", part, id)
				}
				ids[id] = true
				if _, _, ok := set.At(id, f1); !ok {
					t.Fatalf("trajectory %d not valid at %d", id, f1)
				}
				if p.LX != rangeNorm(p.TX, w) || p.LY != rangeNorm(p.TY, h) {
					t.Fatalf("label (%g, %g) for (%g, %g)", p.LX, p.LY, p.TX, p.TY)
				}
			}
			if len(frames) > cfg.NumFrames {
				t.Fatalf("part %d uses %d frames", part, len(frames))
			}
		}
		if len(usedAll) != len(b.Frames) {
			t.Fatalf("frames_set_t %v but %d frames used", b.Frames, len(usedAll))
		}
	}
}

// TestFlowSamplerDistribution compares the indexed draw with a brute-force
// scan: the picks are exactly among the trajectories valid in ≥ 2 of the
// frames, uniformly; frame pairs are uniform ordered pairs of the valid
// frames; the random frames are uniform.
func TestFlowSamplerDistribution(t *testing.T) {
	rng := rand.New(rand.NewPCG(2, 2))
	const T = 9
	set := samplerSet(rng, T, 300, 1, 0)
	x := newTrajIndex("test", set)
	frames := []int{1, 4, 5, 8}
	qual := map[int32]bool{}
	for i := 0; i < set.N(); i++ {
		n := 0
		for _, f := range frames {
			if _, _, ok := set.At(i, f); ok {
				n++
			}
		}
		if n >= 2 {
			qual[int32(i)] = true
		}
	}
	hits := map[int32]int{}
	const draws, k = 4000, 10
	for d := 0; d < draws; d++ {
		picks, ok := x.draw(rng, frames, k)
		if !ok || len(picks) != min(k, len(qual)) {
			t.Fatalf("draw: %d picks, ok %v (%d qualify)", len(picks), ok, len(qual))
		}
		seen := map[int32]bool{}
		for _, p := range picks {
			if !qual[p] || seen[p] {
				t.Fatalf("pick %d: qualifies %v, repeated %v", p, qual[p], seen[p])
			}
			seen[p] = true
			hits[p]++
		}
	}
	mean := float64(draws*k) / float64(len(qual))
	var chi2 float64
	for id := range qual {
		d := float64(hits[id]) - mean
		chi2 += d * d / mean
	}
	// χ² with len(qual)−1 degrees of freedom: mean ν, sd √(2ν).
	nu := float64(len(qual) - 1)
	if chi2 > nu+5*math.Sqrt(2*nu) {
		t.Errorf("pick counts over %d qualifying trajectories: χ² %.1f for %v degrees of freedom", len(qual), chi2, nu)
	}
	t.Logf("%d qualifying, χ² %.1f (ν %v)", len(qual), chi2, nu)
	// All of them when k exceeds the count.
	if picks, _ := x.draw(rng, frames, 10000); len(picks) != len(qual) {
		t.Errorf("large k: %d picks, want %d", len(picks), len(qual))
	}

	// Frame pairs and frames, with full-length trajectories only.
	full := traj.NewSet(T)
	for i := 0; i < 50; i++ {
		xy := make([]float32, 0, 2*T)
		for f := 0; f < T; f++ {
			xy = append(xy, float32(i), float32(f))
		}
		full.Append(0, xy)
	}
	cfg := SamplerConfig{BatchSize: 100, FGRatio: 0.5, NumFrames: 4, MaxDraws: 10}
	s, err := NewFlowSampler(full, full, 100, 100, cfg, 3)
	if err != nil {
		t.Fatal(err)
	}
	pairCount, frameCount := map[[2]int]int{}, make([]int, T)
	const iters = 600
	for it := 0; it < iters; it++ {
		b, err := s.Sample()
		if err != nil {
			t.Fatal(err)
		}
		fgFrames := map[int]bool{}
		for _, p := range b.Points[:b.NumFG] {
			pairCount[[2]int{b.Frames[p.Src], b.Frames[p.Tgt]}]++
			fgFrames[b.Frames[p.Src]], fgFrames[b.Frames[p.Tgt]] = true, true
		}
		for f := range fgFrames {
			frameCount[f]++
		}
	}
	// Each frame is among the 4 with probability 4/T (all 4 are used with
	// 50 full trajectories, almost surely).
	for f, n := range frameCount {
		if want := float64(iters) * 4 / T; math.Abs(float64(n)-want) > 5*math.Sqrt(want) {
			t.Errorf("frame %d drawn %d times, want ≈ %.0f", f, n, want)
		}
	}
	// Ordered pairs (a, b), a ≠ b: each with probability 1/(T(T−1)).
	if len(pairCount) != T*(T-1) {
		t.Errorf("%d distinct ordered frame pairs, want %d", len(pairCount), T*(T-1))
	}
	wantPair := float64(iters*50) / float64(T*(T-1))
	for p, n := range pairCount {
		if math.Abs(float64(n)-wantPair) > 6*math.Sqrt(wantPair) {
			t.Errorf("pair %v drawn %d times, want ≈ %.0f", p, n, wantPair)
		}
	}
}

// TestFlowSamplerDeterminism checks that a seed fixes the batches and that
// the generator state round-trips through MarshalBinary.
func TestFlowSamplerDeterminism(t *testing.T) {
	rng := rand.New(rand.NewPCG(3, 3))
	fg, bg := samplerSet(rng, 20, 2000, 1, 0), samplerSet(rng, 20, 2000, 1, 2000)
	cfg := DefaultSamplerConfig()
	run := func(s *FlowSampler, n int) []*FlowBatch {
		var out []*FlowBatch
		for i := 0; i < n; i++ {
			b, err := s.Sample()
			if err != nil {
				t.Fatal(err)
			}
			out = append(out, b)
		}
		return out
	}
	same := func(a, b *FlowBatch) bool {
		return slices.Equal(a.Frames, b.Frames) && slices.Equal(a.Points, b.Points) && a.NumFG == b.NumFG
	}
	s1, _ := NewFlowSampler(fg, bg, 854, 476, cfg, 42)
	s2, _ := NewFlowSampler(fg, bg, 854, 476, cfg, 42)
	s3, _ := NewFlowSampler(fg, bg, 854, 476, cfg, 43)
	a, b, c := run(s1, 3), run(s2, 3), run(s3, 3)
	for i := range a {
		if !same(a[i], b[i]) {
			t.Fatalf("batch %d differs between two samplers with seed 42", i)
		}
		if same(a[i], c[i]) {
			t.Fatalf("batch %d equal for seeds 42 and 43", i)
		}
	}
	state, err := s1.MarshalBinary()
	if err != nil {
		t.Fatal(err)
	}
	next := run(s1, 2)
	s4, _ := NewFlowSampler(fg, bg, 854, 476, cfg, 1)
	if err := s4.UnmarshalBinary(state); err != nil {
		t.Fatal(err)
	}
	resumed := run(s4, 2)
	for i := range next {
		if !same(next[i], resumed[i]) {
			t.Fatalf("batch %d after restoring the state differs", i)
		}
	}
	if err := s4.UnmarshalBinary([]byte("junk")); err == nil {
		t.Error("junk state accepted")
	}
}

// TestFlowSamplerErrors covers the cases where upstream would loop forever
// or crash: one frame, a static video (no trajectory spans two frames), an
// empty background set, and trajectories too sparse for random frame draws.
func TestFlowSamplerErrors(t *testing.T) {
	rng := rand.New(rand.NewPCG(4, 4))
	cfg := DefaultSamplerConfig()
	one := samplerSet(rng, 1, 10, 1, 0)
	if _, err := NewFlowSampler(one, one, 854, 476, cfg, 1); !errors.Is(err, ErrTooFewFrames) {
		t.Errorf("one frame: %v", err)
	}
	static := samplerSet(rng, 8, 500, 1, 0)
	for i := range static.Len {
		static.Len[i] = 1
	}
	static = samplerRebuild(static)
	good := samplerSet(rng, 8, 500, 2, 0)
	_, err := NewFlowSampler(static, good, 854, 476, cfg, 1)
	if !errors.Is(err, ErrNoTrainingPairs) || !strings.Contains(err.Error(), "static") || !strings.Contains(err.Error(), "foreground") {
		t.Errorf("static video: %v", err)
	}
	t.Log(err)
	_, err = NewFlowSampler(good, traj.NewSet(8), 854, 476, cfg, 1)
	if !errors.Is(err, ErrNoTrainingPairs) || !strings.Contains(err.Error(), "background") {
		t.Errorf("empty background: %v", err)
	}
	// An empty set is fine when it supplies no points.
	if _, err := NewFlowSampler(good, traj.NewSet(8), 854, 476, SamplerConfig{BatchSize: 10, FGRatio: 1, NumFrames: 4, MaxDraws: 5}, 1); err != nil {
		t.Errorf("all-fg batch with an empty background: %v", err)
	}
	// Two two-frame trajectories in a 60-frame video: 4 random frames
	// rarely hold both frames of either.
	sparse := traj.NewSet(60)
	sparse.Append(10, []float32{1, 1, 2, 2})
	sparse.Append(40, []float32{3, 3, 4, 4})
	s, err := NewFlowSampler(sparse, sparse, 854, 476, SamplerConfig{BatchSize: 512, FGRatio: 0.5, NumFrames: 4, MaxDraws: 20}, 1)
	if err != nil {
		t.Fatal(err)
	}
	_, err = s.Sample()
	if !errors.Is(err, ErrNoTrainingPairs) || !strings.Contains(err.Error(), "span any 2 of 4 random frames") {
		t.Errorf("sparse trajectories: %v", err)
	}
	t.Log(err)
	if _, err := NewFlowSampler(good, good, 854, 476, SamplerConfig{}, 1); err == nil {
		t.Error("zero configuration accepted")
	}
}

// samplerRebuild re-packs a Set whose lengths were shortened in place.
func samplerRebuild(s *traj.Set) *traj.Set {
	o := traj.NewSet(s.T)
	for i := 0; i < s.N(); i++ {
		xy := s.XY[2*s.Off[i] : 2*s.Off[i]+2*int64(s.Len[i])]
		o.Append(int(s.Start[i]), xy)
	}
	return o
}

// TestFlowSamplerLarge checks that sampling from a million trajectories
// costs no scan per batch.
func TestFlowSamplerLarge(t *testing.T) {
	if testing.Short() {
		t.Skip("large sampler test")
	}
	rng := rand.New(rand.NewPCG(5, 5))
	const T = 100
	set := &traj.Set{T: T, Off: make([]int64, 1, 1_000_001)}
	for i := 0; i < 1_000_000; i++ {
		l := 1 + rng.IntN(12)
		st := rng.IntN(T - l + 1)
		set.Start = append(set.Start, int32(st))
		set.Len = append(set.Len, int32(l))
		set.Off = append(set.Off, set.Off[i]+int64(l))
	}
	set.XY = make([]float32, 2*set.Off[len(set.Off)-1])
	t0 := time.Now()
	s, err := NewFlowSampler(set, set, 854, 476, DefaultSamplerConfig(), 1)
	if err != nil {
		t.Fatal(err)
	}
	build := time.Since(t0)
	t0 = time.Now()
	const n = 200
	for i := 0; i < n; i++ {
		if _, err := s.Sample(); err != nil {
			t.Fatal(err)
		}
	}
	per := time.Since(t0) / n
	t.Logf("1M trajectories over %d frames: index %v, %v per batch", T, build, per)
	if per > 20*time.Millisecond {
		t.Errorf("%v per batch", per)
	}
}

// BenchmarkFlowSampler measures one batch from 1M trajectories.
func BenchmarkFlowSampler(b *testing.B) {
	rng := rand.New(rand.NewPCG(6, 6))
	set := &traj.Set{T: 200, Off: []int64{0}}
	for i := 0; i < 1_000_000; i++ {
		l := 1 + rng.IntN(30)
		st := rng.IntN(200 - l + 1)
		set.Start = append(set.Start, int32(st))
		set.Len = append(set.Len, int32(l))
		set.Off = append(set.Off, set.Off[i]+int64(l))
	}
	set.XY = make([]float32, 2*set.Off[len(set.Off)-1])
	s, err := NewFlowSampler(set, set, 854, 476, DefaultSamplerConfig(), 1)
	if err != nil {
		b.Fatal(err)
	}
	for b.Loop() {
		if _, err := s.Sample(); err != nil {
			b.Fatal(err)
		}
	}
}
