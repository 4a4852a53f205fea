package bestbuddies

import (
	"math"
	"math/rand/v2"
	"testing"
)

// randomCHW returns a [C, N] map; quantised maps have many exact ties.
func randomCHW(rng *rand.Rand, C, N int, quantised bool) []float32 {
	x := make([]float32, C*N)
	for i := range x {
		if quantised {
			x[i] = float32(rng.IntN(3) - 1)
		} else {
			x[i] = float32(rng.NormFloat64())
		}
	}
	return x
}

func samePairs(t *testing.T, what string, got, want *Pairs) {
	t.Helper()
	if got.Len() != want.Len() {
		t.Fatalf("%s: %d pairs, want %d", what, got.Len(), want.Len())
	}
	for i := range want.SourceTok {
		if got.SourceTok[i] != want.SourceTok[i] || got.TargetTok[i] != want.TargetTok[i] {
			t.Fatalf("%s: pair %d is %d→%d, want %d→%d", what, i, got.SourceTok[i], got.TargetTok[i], want.SourceTok[i], want.TargetTok[i])
		}
		if got.Source[i] != want.Source[i] || got.Target[i] != want.Target[i] {
			t.Fatalf("%s: pair %d coordinates %v→%v, want %v→%v", what, i, got.Source[i], got.Target[i], want.Source[i], want.Target[i])
		}
		if math.Abs(float64(got.Cos[i]-want.Cos[i])) > 1e-5 {
			t.Fatalf("%s: pair %d cosine %v, want %v", what, i, got.Cos[i], want.Cos[i])
		}
	}
}

// TestMutualNNStreamingVsBrute compares the block-streamed search (both
// directions from one product) with the full-matrix specification, on
// random and on heavily tied (quantised, zero-norm) features, for several
// block sizes and unequal frame sizes.
func TestMutualNNStreamingVsBrute(t *testing.T) {
	rng := rand.New(rand.NewPCG(11, 12))
	for trial := 0; trial < 24; trial++ {
		quant := trial%2 == 1
		C := 1 + rng.IntN(12)
		gh, gw := 3+rng.IntN(8), 3+rng.IntN(9)
		grid := DefaultGrid(gh, gw)
		N := grid.N()
		a := NewFrame(randomCHW(rng, C, N, quant), C, N)
		b := NewFrame(randomCHW(rng, C, N, quant), C, N)
		if quant && N > 4 {
			// A zero token (cosine 0 by the clamp) and duplicated tokens.
			for c := 0; c < C; c++ {
				a.X[c] = 0
				a.X[2*C+c] = a.X[3*C+c]
				b.X[C+c] = a.X[3*C+c]
				b.X[4*C+c] = a.X[3*C+c]
			}
			a.Norm[0] = 0
			a.Norm[2] = a.Norm[3]
			b.Norm[1], b.Norm[4] = a.Norm[3], a.Norm[3]
		}
		wantST := mutualNNBrute(a, b, grid)
		wantTS := mutualNNBrute(b, a, grid)
		for _, block := range []int{1, 5, N} {
			st, ts := MutualNN(a, b, grid, block)
			samePairs(t, "s→t", st, wantST)
			samePairs(t, "t→s", ts, wantTS)
		}
	}
}

// TestMutualNNTies pins torch.argmax's first-index rule on a hand-made case.
func TestMutualNNTies(t *testing.T) {
	grid := DefaultGrid(1, 3)
	// Source tokens 0 and 1 are identical; target tokens 1 and 2 are
	// identical copies of them. Row argmax of 0 and 1 is target 1 (first of
	// the tie); column argmax of target 1 is source 0. So only 0↔1 pairs,
	// and source 2 (orthogonal) pairs with target 0.
	chw := func(tokens [][2]float32) []float32 { // C = 2, N = 3
		out := make([]float32, 6)
		for k, v := range tokens {
			out[k], out[3+k] = v[0], v[1]
		}
		return out
	}
	a := NewFrame(chw([][2]float32{{1, 0}, {1, 0}, {0, 1}}), 2, 3)
	b := NewFrame(chw([][2]float32{{0, 1}, {1, 0}, {1, 0}}), 2, 3)
	st, ts := MutualNN(a, b, grid, 1)
	if st.Len() != 2 || st.SourceTok[0] != 0 || st.TargetTok[0] != 1 || st.SourceTok[1] != 2 || st.TargetTok[1] != 0 {
		t.Fatalf("s→t pairs %v→%v, want [0 2]→[1 0]", st.SourceTok, st.TargetTok)
	}
	if st.Source[0] != [2]float32{7, 7} || st.Target[0] != [2]float32{14, 7} {
		t.Errorf("coordinates %v→%v, want (7,7)→(14,7)", st.Source[0], st.Target[0])
	}
	// The mirror lists the pairs in raster order of frame t.
	if ts.SourceTok[0] != 0 || ts.TargetTok[0] != 2 || ts.SourceTok[1] != 1 || ts.TargetTok[1] != 0 {
		t.Errorf("t→s pairs %v→%v, want [0 1]→[2 0]", ts.SourceTok, ts.TargetTok)
	}
}

// TestProjectedFullRank checks the reduced search with a basis of full rank
// (D = C): it must then find exactly the exhaustive pairs.
func TestProjectedFullRank(t *testing.T) {
	rng := rand.New(rand.NewPCG(21, 22))
	C, gh, gw := 12, 9, 11
	grid := DefaultGrid(gh, gw)
	N := grid.N()
	a := NewFrame(randomCHW(rng, C, N, false), C, N)
	b := NewFrame(randomCHW(rng, C, N, false), C, N)
	sample := append(append([]float32(nil), a.X...), b.X...)
	basis, err := PCABasis(sample, 2*N, C, C, 7)
	if err != nil {
		t.Fatal(err)
	}
	basis.Project(a)
	basis.Project(b)
	// Orthonormal basis: projected unit tokens keep (almost) unit length.
	for k := 0; k < N; k++ {
		var s float64
		for _, v := range a.P[k*C : (k+1)*C] {
			s += float64(v) * float64(v)
		}
		if math.Abs(s-1) > 1e-4 {
			t.Fatalf("token %d: projected squared norm %v, want 1", k, s)
		}
	}
	want, wantTS := MutualNN(a, b, grid, 0)
	var w projWork
	got, gotTS := w.mutualProjected(a, b, 3, grid, 17)
	samePairs(t, "projected s→t", got, want)
	samePairs(t, "projected t→s", gotTS, wantTS)

	// The reduced NMS with every token as candidate equals the exact one.
	exact, reduced := want.Select(allTrue(want.Len())), want.Select(allTrue(want.Len()))
	AmbiguityRatio(a, b, exact, grid, NMS{TopK: 40}, 0)
	ambiguityProjected(a, b, reduced, grid, NMS{TopK: 40}, 0, N)
	for i := range exact.R {
		// Same candidates; only the dot products' rounding may differ.
		for j := 0; j < 2; j++ {
			if math.Abs(float64(exact.PeakAffs[i][j]-reduced.PeakAffs[i][j])) > 1e-5 {
				t.Fatalf("pair %d: reduced NMS peaks %v, exact %v", i, reduced.PeakAffs[i], exact.PeakAffs[i])
			}
		}
	}
}

func allTrue(n int) []bool {
	b := make([]bool, n)
	for i := range b {
		b[i] = true
	}
	return b
}
