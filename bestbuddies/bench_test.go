package bestbuddies

import (
	"fmt"
	"math/rand/v2"
	"testing"
)

// benchFrames returns two random frames at the reference's size: 67×121 =
// 8107 tokens of C channels.
func benchFrames(C int) (a, b *Frame, grid Grid) {
	rng := rand.New(rand.NewPCG(1, 2))
	grid = DefaultGrid(67, 121)
	N := grid.N()
	return NewFrame(randomCHW(rng, C, N, false), C, N), NewFrame(randomCHW(rng, C, N, false), C, N), grid
}

// BenchmarkMutualNN times one unordered frame pair (both directions) at
// the reference's size, 8107×8107 tokens of 1024 channels:
//
//	go test ./bestbuddies -run x -bench MutualNN -benchtime 1x
//
// exact is the Exhaustive search (one 8107×8107×1024 GEMM, 134.6 GFLOP);
// D=64 and D=128 are the bounded reduced search with 8 candidates per token
// (random features; the PCA fit is not timed).
func BenchmarkMutualNN(b *testing.B) {
	a, c, grid := benchFrames(1024)
	b.Run("exact/8107x8107x1024", func(b *testing.B) {
		var w mnnWork
		for b.Loop() {
			w.mutualExact(a, c, grid, 0)
		}
		b.ReportMetric(2*8107*8107*1024/1e9*float64(b.N)/b.Elapsed().Seconds(), "GFLOP/s")
	})
	for _, D := range []int{64, 128} {
		b.Run(fmt.Sprintf("D=%d/8107x8107x1024", D), func(b *testing.B) {
			basis, err := PCABasis(a.X[:4096*1024], 4096, 1024, D, 1)
			if err != nil {
				b.Fatal(err)
			}
			basis.Project(a)
			basis.Project(c)
			var w projWork
			b.ResetTimer()
			for b.Loop() {
				w.mutualProjected(a, c, 8, grid, 0)
			}
		})
	}
}

// BenchmarkAmbiguityRatio times the NMS step for 2000 kept pairs in one
// direction (exact: a 2000×8107×1024 GEMM plus top-400 and NMS per pair;
// D=64, D=128: reduced ranking plus 500 exact rescoring dot products per
// pair).
func BenchmarkAmbiguityRatio(b *testing.B) {
	a, c, grid := benchFrames(1024)
	p := &Pairs{}
	rng := rand.New(rand.NewPCG(3, 4))
	for i := 0; i < 2000; i++ {
		p.add(grid, int32(rng.IntN(grid.N())), int32(rng.IntN(grid.N())), 0)
	}
	b.Run("exact/2000", func(b *testing.B) {
		for b.Loop() {
			AmbiguityRatio(a, c, p, grid, DefaultNMS(), 0)
		}
	})
	for _, D := range []int{64, 128} {
		b.Run(fmt.Sprintf("D=%d/2000", D), func(b *testing.B) {
			basis, err := PCABasis(a.X[:4096*1024], 4096, 1024, D, 1)
			if err != nil {
				b.Fatal(err)
			}
			basis.Project(a)
			basis.Project(c)
			b.ResetTimer()
			for b.Loop() {
				ambiguityProjected(a, c, p, grid, DefaultNMS(), 0, nmsExtra)
			}
		})
	}
}

// BenchmarkClosestTrajectories times the grid-bucketed nearest-trajectory
// search for 1 M trajectories over 8 frames at 854×476 (8 × 8107 centres).
func BenchmarkClosestTrajectories(b *testing.B) {
	rng := rand.New(rand.NewPCG(5, 6))
	s := randomTrajs(rng, 1_000_000, 8, 854, 476, 0)
	grid := DefaultGrid(67, 121)
	for b.Loop() {
		ClosestTrajectories(s, grid)
	}
}
