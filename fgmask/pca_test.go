package fgmask

import (
	"errors"
	"math"
	"math/rand/v2"
	"slices"
	"strings"
	"testing"

	"gonum.org/v1/gonum/mat"
)

// sliceSource serves in-memory [C, gh, gw] maps, handing out its own
// storage as *dinotracker.Features does for in-memory features.
type sliceSource struct {
	frames [][]float32
	err    error // returned for frame errAt
	errAt  int
	calls  int
}

func (s *sliceSource) Frame(t int, dst []float32) ([]float32, error) {
	s.calls++
	if s.err != nil && t == s.errAt {
		return nil, s.err
	}
	return s.frames[t], nil
}

// blobFeatures builds T frames of C×gh×gw features: background tokens near
// one random direction, tokens inside blob(t, i, j) near another, both
// sharing a common component (as DINO tokens do), plus noise. sign scales
// every value.
func blobFeatures(T, C, gh, gw int, sign float32, blob func(t, i, j int) bool) *sliceSource {
	rng := rand.New(rand.NewPCG(1, 2))
	common, bg, fg := make([]float32, C), make([]float32, C), make([]float32, C)
	for c := 0; c < C; c++ {
		common[c] = float32(rng.NormFloat64())
		bg[c] = float32(rng.NormFloat64())
		fg[c] = float32(rng.NormFloat64())
	}
	src := &sliceSource{}
	for t := 0; t < T; t++ {
		f := make([]float32, C*gh*gw)
		for i := 0; i < gh; i++ {
			for j := 0; j < gw; j++ {
				base := bg
				if blob(t, i, j) {
					base = fg
				}
				scale := float32(1 + 0.5*rng.Float64()) // norms vary; normalisation removes it
				for c := 0; c < C; c++ {
					f[(c*gh+i)*gw+j] = sign * scale * (2*common[c] + base[c] + 0.15*float32(rng.NormFloat64()))
				}
			}
		}
		src.frames = append(src.frames, f)
	}
	return src
}

// expectMask upsamples the token predicate to outH×outW with the nearest rule.
func expectMask(T, gh, gw, outH, outW int, blob func(t, i, j int) bool) []uint8 {
	rows, cols := nearestTable(gh, outH), nearestTable(gw, outW)
	out := make([]uint8, T*outH*outW)
	for t := 0; t < T; t++ {
		for y, i := range rows {
			for x, j := range cols {
				if blob(t, i, j) {
					out[(t*outH+y)*outW+x] = 1
				}
			}
		}
	}
	return out
}

func TestFromFeaturesBlobBothSigns(t *testing.T) {
	const T, C, gh, gw, outH, outW = 4, 24, 12, 15, 40, 53
	small := func(t, i, j int) bool { return i >= 4 && i < 8 && j >= 3+t && j < 8+t }
	// Covers 72% of each frame but not its outer ring: the foreground is
	// the majority, so only the border rule gets it right.
	large := func(t, i, j int) bool { return i >= 1 && i < gh-1 && j >= 1 && j < gw-1 }
	for _, tc := range []struct {
		name string
		blob func(t, i, j int) bool
	}{{"small moving blob", small}, {"large blob", large}} {
		want := expectMask(T, gh, gw, outH, outW, tc.blob)
		// Negating the features negates the projections exactly, so the
		// two signs below present the orientation rule with both ends.
		pPos, err := projectFirstPC(blobFeatures(T, C, gh, gw, 1, tc.blob), T, C, gh*gw)
		if err != nil {
			t.Fatal(err)
		}
		pNeg, err := projectFirstPC(blobFeatures(T, C, gh, gw, -1, tc.blob), T, C, gh*gw)
		if err != nil {
			t.Fatal(err)
		}
		for i := range pPos {
			if pPos[i] != -pNeg[i] {
				t.Fatalf("projections of negated features are not negated at %d: %v vs %v", i, pPos[i], pNeg[i])
			}
		}
		for _, sign := range []float32{1, -1} {
			src := blobFeatures(T, C, gh, gw, sign, tc.blob)
			orig := make([][]float32, T)
			for i, f := range src.frames {
				orig[i] = slices.Clone(f)
			}
			m, err := FromFeatures(src, T, C, gh, gw, outH, outW, PCAOptions{})
			if err != nil {
				t.Fatal(err)
			}
			if m.T != T || m.H != outH || m.W != outW {
				t.Fatalf("size %d×%d×%d", m.T, m.H, m.W)
			}
			if d := diffCount(m.Data, want); d != 0 {
				t.Errorf("%s, sign %v: %d pixels differ from the blob", tc.name, sign, d)
			}
			if src.calls != 2*T {
				t.Errorf("Frame called %d times, want %d (two passes)", src.calls, 2*T)
			}
			for i := range orig {
				if !slices.Equal(orig[i], src.frames[i]) {
					t.Fatalf("frame %d of the source was modified", i)
				}
			}
			// Flip gives the other side.
			fl, err := FromFeatures(src, T, C, gh, gw, outH, outW, PCAOptions{Flip: true})
			if err != nil {
				t.Fatal(err)
			}
			if d := diffCount(fl.Data, want); d != len(want) {
				t.Errorf("%s, sign %v: Flip is not the complement (%d of %d differ)", tc.name, sign, d, len(want))
			}
		}
	}
}

func TestFromFeaturesDeterministic(t *testing.T) {
	blob := func(t, i, j int) bool { return (i-5)*(i-5)+(j-6)*(j-6) < 10 }
	src := blobFeatures(3, 70, 11, 13, 1, blob) // C > 64 exercises Lanczos restarts
	a, err := FromFeatures(src, 3, 70, 11, 13, 11, 13, PCAOptions{Threshold: 0.5})
	if err != nil {
		t.Fatal(err)
	}
	b, err := FromFeatures(src, 3, 70, 11, 13, 11, 13, PCAOptions{Threshold: 0.5})
	if err != nil {
		t.Fatal(err)
	}
	if !slices.Equal(a.Data, b.Data) {
		t.Fatal("two runs differ")
	}
	if d := diffCount(a.Data, expectMask(3, 11, 13, 11, 13, blob)); d != 0 {
		t.Fatalf("%d tokens differ from the blob", d)
	}
}

// TestProjectFirstPCMatchesDense compares the streamed covariance and
// Lanczos solve with a dense float64 PCA (gonum EigenSym) of the same tokens.
func TestProjectFirstPCMatchesDense(t *testing.T) {
	const T, C, gh, gw = 3, 20, 6, 7
	P := gh * gw
	rng := rand.New(rand.NewPCG(7, 8))
	src := &sliceSource{}
	for range T {
		f := make([]float32, C*P)
		for i := range f {
			f[i] = float32(rng.NormFloat64() + 0.7*float64(i%C)/C)
		}
		src.frames = append(src.frames, f)
	}
	got, err := projectFirstPC(src, T, C, P)
	if err != nil {
		t.Fatal(err)
	}
	// Dense reference.
	N := T * P
	X := mat.NewDense(N, C, nil)
	for tt, f := range src.frames {
		for p := 0; p < P; p++ {
			var s float64
			for c := 0; c < C; c++ {
				s += float64(f[c*P+p]) * float64(f[c*P+p])
			}
			s = math.Sqrt(s)
			for c := 0; c < C; c++ {
				X.Set(tt*P+p, c, float64(f[c*P+p])/s)
			}
		}
	}
	mean := make([]float64, C)
	for r := 0; r < N; r++ {
		for c := 0; c < C; c++ {
			mean[c] += X.At(r, c) / float64(N)
		}
	}
	Xc := mat.DenseCopyOf(X)
	for r := 0; r < N; r++ {
		for c := 0; c < C; c++ {
			Xc.Set(r, c, X.At(r, c)-mean[c])
		}
	}
	var cov mat.SymDense
	cov.SymOuterK(1/float64(N), Xc.T())
	var es mat.EigenSym
	if !es.Factorize(&cov, true) {
		t.Fatal("EigenSym failed")
	}
	var vecs mat.Dense
	es.VectorsTo(&vecs)
	v := vecs.ColView(C - 1) // ascending order: the last is the largest
	var want mat.VecDense
	want.MulVec(X, v)
	var dotGW float64
	for i := range got {
		dotGW += float64(got[i]) * want.AtVec(i)
	}
	sign := 1.0
	if dotGW < 0 {
		sign = -1
	}
	var maxErr float64
	for i := range got {
		maxErr = max(maxErr, math.Abs(float64(got[i])-sign*want.AtVec(i)))
	}
	if maxErr > 1e-5 {
		t.Fatalf("projections differ from the dense PCA by up to %g", maxErr)
	}
}

func TestTopEigenvector(t *testing.T) {
	rng := rand.New(rand.NewPCG(3, 4))
	for _, n := range []int{1, 2, 5, 64, 150} {
		// A = B Bᵀ with a modest gap at the top.
		b := make([]float64, n*n)
		for i := range b {
			b[i] = rng.NormFloat64()
		}
		a := make([]float64, n*n)
		B := mat.NewDense(n, n, b)
		var A mat.Dense
		A.Mul(B, B.T())
		for i := 0; i < n; i++ {
			for j := 0; j < n; j++ {
				a[i*n+j] = 0.5 * (A.At(i, j) + A.At(j, i))
			}
		}
		v := topEigenvector(a, n)
		var es mat.EigenSym
		if !es.Factorize(mat.NewSymDense(n, slices.Clone(a)), true) {
			t.Fatal("EigenSym failed")
		}
		var vecs mat.Dense
		es.VectorsTo(&vecs)
		var d float64
		for i := 0; i < n; i++ {
			d += v[i] * vecs.At(i, n-1)
		}
		if math.Abs(math.Abs(d)-1) > 1e-8 {
			t.Errorf("n=%d: |cos| to the dense eigenvector = %.12f", n, math.Abs(d))
		}
		// Canonical sign: the largest-magnitude entry is positive.
		big := 0
		for i := range v {
			if math.Abs(v[i]) > math.Abs(v[big]) {
				big = i
			}
		}
		if v[big] < 0 {
			t.Errorf("n=%d: sign not canonical", n)
		}
	}
	// Zero matrix: any unit vector, without failing.
	v := topEigenvector(make([]float64, 9), 3)
	if math.Abs(dot(v, v)-1) > 1e-12 {
		t.Error("zero matrix: not a unit vector")
	}
}

func TestChooseHigh(t *testing.T) {
	const T, gh, gw = 1, 4, 4
	// low: the centre 2×2 (border 0) vs high: the ring (border 12).
	ring := make([]uint8, 16)
	centre := make([]uint8, 16)
	for i := 0; i < 4; i++ {
		for j := 0; j < 4; j++ {
			if i == 0 || j == 0 || i == 3 || j == 3 {
				ring[i*4+j] = 1
			} else {
				centre[i*4+j] = 1
			}
		}
	}
	if chooseHigh(centre, ring, T, gh, gw) {
		t.Error("chose the ring over the centre")
	}
	if !chooseHigh(ring, centre, T, gh, gw) {
		t.Error("chose the ring over the centre (swapped)")
	}
	// Equal border scores: the smaller set wins; then low.
	a := []uint8{1, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0}
	b := []uint8{0, 0, 0, 1, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0}
	if chooseHigh(a, b, T, gh, gw) {
		t.Error("full tie should keep low")
	}
	// Every token on the border (gh = 2): scores √n, the minority wins.
	big := []uint8{1, 1, 1, 0, 0, 0, 0, 0}
	smallSet := []uint8{0, 0, 0, 0, 0, 0, 1, 1}
	if !chooseHigh(big, smallSet, 1, 2, 4) {
		t.Error("expected the minority when all tokens touch the border")
	}
}

func TestFromFeaturesErrors(t *testing.T) {
	blob := func(t, i, j int) bool { return i == 2 && j == 2 }
	good := func() *sliceSource { return blobFeatures(2, 4, 5, 5, 1, blob) }
	check := func(name string, err error, want string) {
		t.Helper()
		if err == nil {
			t.Errorf("%s: no error", name)
			return
		}
		if !strings.Contains(err.Error(), want) {
			t.Errorf("%s: %q does not mention %q", name, err, want)
		}
		t.Logf("%s: %v", name, err)
	}
	_, err := FromFeatures(nil, 2, 4, 5, 5, 10, 10, PCAOptions{})
	check("nil", err, "nil feature source")
	_, err = FromFeatures(good(), 0, 4, 5, 5, 10, 10, PCAOptions{})
	check("T=0", err, "T=0")
	_, err = FromFeatures(good(), 2, 4, 5, 5, 10, 0, PCAOptions{})
	check("outW=0", err, "output 10×0")
	_, err = FromFeatures(good(), 2, 4, 5, 5, 10, 10, PCAOptions{Threshold: 1.5})
	check("threshold", err, "threshold 1.5")
	_, err = FromFeatures(good(), 2, 4, 5, 5, 10, 10, PCAOptions{Threshold: -0.1})
	check("negative threshold", err, "threshold -0.1")

	src := good()
	src.err, src.errAt = errors.New("disk on fire"), 1
	_, err = FromFeatures(src, 2, 4, 5, 5, 10, 10, PCAOptions{})
	check("frame error", err, "frame 1: disk on fire")
	if !errors.Is(err, src.err) {
		t.Error("Frame error not wrapped")
	}

	src = good()
	src.frames[1] = src.frames[1][:10]
	_, err = FromFeatures(src, 2, 4, 5, 5, 10, 10, PCAOptions{})
	check("short frame", err, "frame 1 hold 10 values")

	src = good()
	src.frames[0][7] = float32(math.NaN())
	_, err = FromFeatures(src, 2, 4, 5, 5, 10, 10, PCAOptions{})
	check("NaN", err, "non-finite")

	src = good()
	for _, f := range src.frames {
		for c := 0; c < 4; c++ {
			for p := 0; p < 25; p++ {
				f[c*25+p] = float32(c + 1)
			}
		}
	}
	_, err = FromFeatures(src, 2, 4, 5, 5, 10, 10, PCAOptions{})
	check("constant", err, "constant")
}

// BenchmarkFromFeatures runs the PCA on two frames of ViT-L-sized features
// (1024 channels on the 67×121 grid of 476×854 frames).
func BenchmarkFromFeatures(b *testing.B) {
	const T, C, gh, gw = 2, 1024, 67, 121
	src := blobFeatures(T, C, gh, gw, 1, func(t, i, j int) bool { return i > 20 && i < 40 && j > 50 && j < 80 })
	b.ResetTimer()
	for range b.N {
		if _, err := FromFeatures(src, T, C, gh, gw, 476, 854, PCAOptions{}); err != nil {
			b.Fatal(err)
		}
	}
}
