package corr

import (
	"dinotracker/gemm"
	"fmt"
	"math"
	"math/rand/v2"
	"testing"
)

func randVec(r *rand.Rand, n int) []float32 {
	v := make([]float32, n)
	for i := range v {
		v[i] = float32(r.NormFloat64())
	}
	return v
}

// sizes covers one query, odd sizes, C not a multiple of 4, both the
// direct (n ≤ 2) and the GEMM path, and maps wide enough (p > 2048) to be
// split across workers.
var sizes = [][3]int{{1, 1, 1}, {1, 3, 7}, {2, 5, 13}, {3, 17, 33}, {7, 33, 55}, {16, 64, 135}, {1, 1024, 67}, {1, 9, 2500}, {3, 8, 2500}}

// cosTol: cosines are in [-1, 1]; float32 accumulation over C ≤ 1024 terms
// errs by about √C·ε₃₂·(Σ|q f|)/(‖q‖‖f‖) ≈ 4e-6, so 1e-5 absolute.
const cosTol = 1e-5

// withZeros zeroes query 0 (when n > 1) and token 0 (when p > 1) so the
// Eps floor is exercised, and scales token p−1 down so that its norm
// product falls under Eps without being zero.
func withZeros(q, feat []float32, n, c, p int) {
	if n > 1 {
		clear(q[:c])
	}
	if p > 1 {
		for ch := 0; ch < c; ch++ {
			feat[ch*p] = 0
		}
		for ch := 0; ch < c; ch++ {
			feat[ch*p+p-1] *= 1e-9
		}
	}
}

func TestCosineMatchesRef(t *testing.T) {
	r := rand.New(rand.NewPCG(1, 2))
	for _, sz := range sizes {
		n, c, p := sz[0], sz[1], sz[2]
		for _, relu := range []bool{false, true} {
			t.Run(fmt.Sprintf("n=%d,c=%d,p=%d,relu=%v", n, c, p, relu), func(t *testing.T) {
				q, feat := randVec(r, n*c), randVec(r, c*p)
				withZeros(q, feat, n, c, p)
				norm := make([]float32, p)
				Norms(norm, feat, c, p)
				want := make([]float32, n*p)
				CosineRef(want, q, n, c, feat, p, relu)
				for _, impl := range []struct {
					name string
					fn   func(dst, q []float32, n, c int, feat, featNorm []float32, p int, relu bool)
				}{{"Cosine", Cosine}, {"CosineSerial", CosineSerial}} {
					// Guard band: 3 NaN sentinels after the output.
					got := make([]float32, n*p+3)
					for i := range got {
						got[i] = float32(math.NaN())
					}
					impl.fn(got, q, n, c, feat, norm, p, relu)
					for i := range want {
						if d := math.Abs(float64(got[i] - want[i])); !(d <= cosTol) {
							t.Fatalf("%s[%d] = %g, want %g", impl.name, i, got[i], want[i])
						}
					}
					for i := n * p; i < len(got); i++ {
						if !math.IsNaN(float64(got[i])) {
							t.Fatalf("%s wrote past its output at %d", impl.name, i)
						}
					}
				}
			})
		}
	}
}

func TestNorms(t *testing.T) {
	r := rand.New(rand.NewPCG(3, 4))
	for _, cp := range [][2]int{{1, 1}, {3, 300}, {1024, 67}, {5, 513}} {
		c, p := cp[0], cp[1]
		feat := randVec(r, c*p)
		got := make([]float32, p)
		Norms(got, feat, c, p)
		for j := 0; j < p; j++ {
			var s float64
			for ch := 0; ch < c; ch++ {
				s += float64(feat[ch*p+j]) * float64(feat[ch*p+j])
			}
			if w := math.Sqrt(s); math.Abs(float64(got[j])-w) > 1e-6*w {
				t.Fatalf("c=%d p=%d: norm[%d] = %g, want %g", c, p, j, got[j], w)
			}
		}
	}
}

// TestNormsExactOrder checks Norms bit for bit against the documented
// arithmetic (groups of four float32 squares, summed in float64), so the
// assembly kernel and the Go loop give the same values, and NormsCols on
// split ranges against Norms.
func TestNormsExactOrder(t *testing.T) {
	r := rand.New(rand.NewPCG(5, 6))
	for _, cp := range [][2]int{{4, 8}, {7, 300}, {1024, 67}, {9, 513}, {8, 1}} {
		c, p := cp[0], cp[1]
		feat := randVec(r, c*p)
		got := make([]float32, p)
		Norms(got, feat, c, p)
		for j := 0; j < p; j++ {
			var s float64
			ch := 0
			for ; ch+4 <= c; ch += 4 {
				v0, v1, v2, v3 := feat[ch*p+j], feat[(ch+1)*p+j], feat[(ch+2)*p+j], feat[(ch+3)*p+j]
				q := v0 * v0
				q += v1 * v1
				q += v2 * v2
				q += v3 * v3
				s += float64(q)
			}
			for ; ch < c; ch++ {
				s += float64(feat[ch*p+j]) * float64(feat[ch*p+j])
			}
			if w := float32(math.Sqrt(s)); got[j] != w {
				t.Fatalf("c=%d p=%d: norm[%d] = %g, want %g bit for bit", c, p, j, got[j], w)
			}
		}
		split := make([]float32, p)
		for _, cut := range []int{0, min(3, p), p / 2, p} {
			clear(split)
			NormsCols(split, feat, c, p, 0, cut)
			NormsCols(split, feat, c, p, cut, p)
			for j := range split {
				if split[j] != got[j] {
					t.Fatalf("c=%d p=%d cut %d: NormsCols gives %g at %d, Norms %g", c, p, cut, split[j], j, got[j])
				}
			}
		}
	}
}

// TestCosineEpsPath checks the clamp against hand-computed values: tiny
// vectors whose norm product is below Eps give ⟨q, f⟩/Eps, zero vectors 0.
func TestCosineEpsPath(t *testing.T) {
	q := []float32{3e-5, 4e-5} // ‖q‖ = 5e-5
	feat := []float32{         // c=2, p=3: token 0 = (1e-4, 0), token 1 = 0, token 2 = (0.6, 0.8)
		1e-4, 0, 0.6,
		0, 0, 0.8,
	}
	norm := make([]float32, 3)
	Norms(norm, feat, 2, 3)
	got := make([]float32, 3)
	Cosine(got, q, 1, 2, feat, norm, 3, false)
	want := []float64{3e-9 / 1e-8, 0, 1} // 5e-5·1e-4 = 5e-9 < Eps → 3e-9/1e-8
	for j := range want {
		if math.Abs(float64(got[j])-want[j]) > 1e-6 {
			t.Errorf("S[%d] = %g, want %g", j, got[j], want[j])
		}
	}
}

// cos64 is the float64 loss L = Σ ds·act(S) used for finite differences.
func cos64(q, feat []float64, n, c, p int, ds []float32, relu bool) float64 {
	var l float64
	for i := 0; i < n; i++ {
		var qq float64
		for ch := 0; ch < c; ch++ {
			qq += q[i*c+ch] * q[i*c+ch]
		}
		for j := 0; j < p; j++ {
			var d, ff float64
			for ch := 0; ch < c; ch++ {
				d += q[i*c+ch] * feat[ch*p+j]
				ff += feat[ch*p+j] * feat[ch*p+j]
			}
			s := d / math.Max(math.Sqrt(qq)*math.Sqrt(ff), 1e-8)
			if relu && s < 0 {
				s = 0
			}
			l += float64(ds[i*p+j]) * s
		}
	}
	return l
}

func to64(v []float32) []float64 {
	o := make([]float64, len(v))
	for i, x := range v {
		o[i] = float64(x)
	}
	return o
}

// TestCosineBackwardFiniteDiff checks CosineBackwardRef against central
// differences of a float64 forward, entry by entry, including a zero query
// (eps path, gradient ⟨·⟩/Eps) and a tiny token. Inputs are random
// Gaussians, so no cosine sits within 1e-6 of the ReLU kink.
func TestCosineBackwardFiniteDiff(t *testing.T) {
	r := rand.New(rand.NewPCG(5, 6))
	for _, relu := range []bool{false, true} {
		n, c, p := 2, 5, 7
		q, feat := randVec(r, n*c), randVec(r, c*p)
		for ch := 0; ch < c; ch++ {
			feat[ch*p+p-1] *= 1e-5 // ‖f‖ ≈ 2e-5: product ≈ 5e-5, not clamped
		}
		if !relu {
			// A zero query sits in the clamped region (S = ⟨q, f⟩/Eps); with
			// the ReLU it would sit on the kink, so only without.
			clear(q[:c])
		}
		ds := randVec(r, n*p)
		dq := make([]float32, n*c)
		df := make([]float32, c*p)
		CosineBackwardRef(dq, df, ds, q, n, c, feat, p, relu)
		q64, f64 := to64(q), to64(feat)
		check := func(what string, x []float64, g []float32) {
			for k := range x {
				old := x[k]
				h := 1e-6 * math.Max(1, math.Abs(old))
				if (what == "feat" && k%p == p-1) || (what == "q" && !relu && k < c) {
					h = 1e-12 // stay inside the tiny / clamped regime
				}
				x[k] = old + h
				lp := cos64(q64, f64, n, c, p, ds, relu)
				x[k] = old - h
				lm := cos64(q64, f64, n, c, p, ds, relu)
				x[k] = old
				fd := (lp - lm) / (2 * h)
				if math.Abs(fd-float64(g[k])) > 1e-4*math.Max(1, math.Abs(fd)) {
					t.Errorf("relu=%v d%s[%d] = %g, finite difference %g", relu, what, k, g[k], fd)
				}
			}
		}
		check("q", q64, dq)
		check("feat", f64, df)
	}
}

func TestCosineBackwardMatchesRef(t *testing.T) {
	r := rand.New(rand.NewPCG(7, 8))
	for _, sz := range sizes {
		n, c, p := sz[0], sz[1], sz[2]
		for _, relu := range []bool{false, true} {
			t.Run(fmt.Sprintf("n=%d,c=%d,p=%d,relu=%v", n, c, p, relu), func(t *testing.T) {
				q, feat := randVec(r, n*c), randVec(r, c*p)
				withZeros(q, feat, n, c, p)
				ds := randVec(r, n*p)
				norm := make([]float32, p)
				Norms(norm, feat, c, p)
				s := make([]float32, n*p)
				Cosine(s, q, n, c, feat, norm, p, relu)
				wq := make([]float32, n*c)
				wf := make([]float32, c*p)
				CosineBackwardRef(wq, wf, ds, q, n, c, feat, p, relu)
				for _, serial := range []bool{false, true} {
					// Start from ones to check accumulation.
					gq := make([]float32, n*c)
					gf := make([]float32, c*p)
					for i := range gq {
						gq[i] = 1
					}
					for i := range gf {
						gf[i] = 1
					}
					if serial {
						CosineBackwardSerial(gq, gf, ds, s, q, n, c, feat, norm, p, relu, nil)
					} else {
						CosineBackward(gq, gf, ds, s, q, n, c, feat, norm, p, relu, make([]float32, BackwardWorkLen(n, p)))
					}
					for i := range gq {
						gq[i]--
					}
					for i := range gf {
						gf[i]--
					}
					relClose(t, fmt.Sprintf("dq serial=%v", serial), gq, wq, 1e-4)
					relClose(t, fmt.Sprintf("dfeat serial=%v", serial), gf, wf, 1e-4)
				}
			})
		}
	}
}

// relClose requires |got − want| ≤ tol·max|want| elementwise.
func relClose(t *testing.T, what string, got, want []float32, tol float64) {
	t.Helper()
	var m float64
	for _, w := range want {
		m = math.Max(m, math.Abs(float64(w)))
	}
	// The eps path scales gradients by 1/Eps; judge it relative to its own max.
	for i := range want {
		if d := math.Abs(float64(got[i] - want[i])); !(d <= tol*m+1e-5) {
			t.Fatalf("%s[%d] = %g, want %g (max|want| %g)", what, i, got[i], want[i], m)
		}
	}
}

func TestCosineNoAlloc(t *testing.T) {
	r := rand.New(rand.NewPCG(9, 10))
	c, p := 64, 300
	q, feat := randVec(r, c), randVec(r, c*p)
	norm := make([]float32, p)
	Norms(norm, feat, c, p)
	s := make([]float32, p)
	ds := randVec(r, p)
	gq, gf := make([]float32, c), make([]float32, c*p)
	work := make([]float32, BackwardWorkLen(1, p))
	if a := testing.AllocsPerRun(10, func() {
		CosineSerial(s, q, 1, c, feat, norm, p, true)
		CosineBackwardSerial(gq, gf, ds, s, q, 1, c, feat, norm, p, true, work)
	}); a != 0 {
		t.Errorf("serial single-query path allocates %v times per run", a)
	}
}

func BenchmarkCosine(b *testing.B) {
	const c, gh, gw = 1024, 67, 121
	p := gh * gw
	r := rand.New(rand.NewPCG(11, 12))
	feat := randVec(r, c*p)
	norm := make([]float32, p)
	Norms(norm, feat, c, p)
	for _, n := range []int{1, 16, 128} {
		q := randVec(r, n*c)
		dst := make([]float32, n*p)
		flops := 2 * float64(n) * float64(c) * float64(p)
		shape := fmt.Sprintf("Q=%d,C=%d,%dx%d", n, c, gh, gw)
		b.Run("naive/"+shape, func(b *testing.B) {
			if n > 16 && testing.Short() {
				b.Skip("slow reference loop")
			}
			for b.Loop() {
				CosineRef(dst, q, n, c, feat, p, true)
			}
			b.ReportMetric(flops*float64(b.N)/b.Elapsed().Seconds()/1e9, "GFLOP/s")
		})
		b.Run("gemm/"+shape, func(b *testing.B) {
			for b.Loop() {
				Cosine(dst, q, n, c, feat, norm, p, true)
			}
			b.ReportMetric(flops*float64(b.N)/b.Elapsed().Seconds()/1e9, "GFLOP/s")
		})
		b.Run("backward/"+shape, func(b *testing.B) {
			ds := randVec(r, n*p)
			gq, gf := make([]float32, n*c), make([]float32, c*p)
			work := make([]float32, BackwardWorkLen(n, p))
			Cosine(dst, q, n, c, feat, norm, p, true)
			for b.Loop() {
				CosineBackward(gq, gf, ds, dst, q, n, c, feat, norm, p, true, work)
			}
			b.ReportMetric(2*flops*float64(b.N)/b.Elapsed().Seconds()/1e9, "GFLOP/s")
		})
	}
	b.Run("norms/C=1024,67x121", func(b *testing.B) {
		for b.Loop() {
			Norms(norm, feat, c, p)
		}
	})
}

// TestScaleRowKernelMatchesGo checks scaleRow's kernel bit for bit against
// its Go loop: signs, −0, NaN, infinities and norms under Eps.
func TestScaleRowKernelMatchesGo(t *testing.T) {
	r := rand.New(rand.NewPCG(9, 9))
	for _, relu := range []bool{false, true} {
		for n := 0; n <= 67; n++ {
			row := make([]float32, n)
			fn := make([]float32, n)
			for j := range row {
				row[j] = float32(r.NormFloat64())
				fn[j] = float32(r.ExpFloat64())
				switch r.IntN(12) {
				case 0:
					row[j] = float32(math.NaN())
				case 1:
					row[j] = float32(math.Copysign(0, -1))
				case 2:
					fn[j] = 1e-12
				case 3:
					fn[j] = float32(math.NaN())
				case 4:
					row[j] = float32(math.Inf(-1))
				}
			}
			qn := float32(0.5 + r.Float64())
			want := append([]float32(nil), row...)
			scaleGo(want, fn, qn, relu)
			got := append([]float32(nil), row...)
			done := scaleAsm(got, fn, qn, relu)
			scaleGo(got[done:], fn[done:], qn, relu)
			for j := range want {
				if math.Float32bits(got[j]) != math.Float32bits(want[j]) {
					t.Fatalf("relu=%v n=%d j=%d: %v (%#x), want %v (%#x)", relu, n, j, got[j], math.Float32bits(got[j]), want[j], math.Float32bits(want[j]))
				}
			}
		}
	}
}

// TestColumnMaxAndScaleRowNorm checks ColumnMax (kernel and Go loop) bit
// for bit against the plain strict-greater loop, ties and NaN included,
// and ScaleRowNorm against ScaleRow with the query's norm.
func TestColumnMaxAndScaleRowNorm(t *testing.T) {
	r := rand.New(rand.NewPCG(21, 22))
	for _, n := range []int{1, 7, 8, 9, 100, 1027} {
		colMax, colArg := make([]float32, n), make([]int32, n)
		wantMax, wantArg := make([]float32, n), make([]int32, n)
		for j := range colMax {
			colMax[j], wantMax[j] = float32(math.Inf(-1)), float32(math.Inf(-1))
		}
		for i := int32(0); i < 20; i++ {
			row := make([]float32, n)
			for j := range row {
				row[j] = float32(r.IntN(9)) // many ties
			}
			if i%3 == 1 {
				row[r.IntN(n)] = float32(math.NaN())
			}
			ColumnMax(colMax, colArg, row, i)
			for j, v := range row {
				if v > wantMax[j] {
					wantMax[j], wantArg[j] = v, i
				}
			}
		}
		for j := range colMax {
			if math.Float32bits(colMax[j]) != math.Float32bits(wantMax[j]) || colArg[j] != wantArg[j] {
				t.Fatalf("n=%d column %d: (%v, %d), want (%v, %d)", n, j, colMax[j], colArg[j], wantMax[j], wantArg[j])
			}
		}
		q := randVec(r, 16)
		fn := randVec(r, n)
		for j := range fn {
			fn[j] = float32(math.Abs(float64(fn[j])))
		}
		fn[0] = 0 // the Eps clamp
		a, b := randVec(r, n), make([]float32, n)
		copy(b, a)
		ScaleRow(a, q, fn, false)
		ScaleRowNorm(b, vecNorm(q), fn, false)
		for j := range a {
			if math.Float32bits(a[j]) != math.Float32bits(b[j]) {
				t.Fatalf("n=%d: ScaleRowNorm[%d] = %v, ScaleRow %v", n, j, b[j], a[j])
			}
		}
	}
}

// TestDotsAndNorms checks the fused pass bit for bit against
// gemm.MatMulKernel and NormsCols: 1 to FusedRows rows, blocks with and
// without a tail of fewer than 16 tokens and beyond one chunk, one and
// several k panels, with and without the norms.
func TestDotsAndNorms(t *testing.T) {
	r := rand.New(rand.NewPCG(23, 24))
	ran := false
	for _, c := range []int{4, 256, 260, 1024} {
		const p = 1500
		feat := randVec(r, c*p)
		for _, m := range []int{1, 2, 3, FusedRows} {
			q := randVec(r, m*c)
			for _, blk := range [][2]int{{0, 16}, {5, 517}, {100, 1500}, {1490, 1500}} {
				j0, j1 := blk[0], blk[1]
				ldd := j1 - j0 + 3
				dots, norm := make([]float32, m*ldd), make([]float32, p)
				if !DotsAndNorms(dots, ldd, norm, q, m, c, feat, p, j0, j1) {
					continue
				}
				ran = true
				wantDots, wantNorm := make([]float32, m*ldd), make([]float32, p)
				gemm.MatMulKernel(false, false, m, j1-j0, c, 1, q, c, feat[j0:], p, 0, wantDots, ldd)
				NormsCols(wantNorm, feat, c, p, j0, j1)
				for i := 0; i < m; i++ {
					for j := 0; j < j1-j0; j++ {
						if g, w := dots[i*ldd+j], wantDots[i*ldd+j]; math.Float32bits(g) != math.Float32bits(w) {
							t.Fatalf("c=%d m=%d [%d,%d): dot (%d, %d) = %v, MatMulKernel %v", c, m, j0, j1, i, j, g, w)
						}
					}
				}
				for j := j0; j < j1; j++ {
					if math.Float32bits(norm[j]) != math.Float32bits(wantNorm[j]) {
						t.Fatalf("c=%d m=%d [%d,%d): norm %d = %v, NormsCols %v", c, m, j0, j1, j, norm[j], wantNorm[j])
					}
				}
				// Without norms: the same products.
				dots2 := make([]float32, m*ldd)
				if !DotsAndNorms(dots2, ldd, nil, q, m, c, feat, p, j0, j1) {
					t.Fatal("DotsAndNorms without norms did not run")
				}
				for i := range dots2 {
					if math.Float32bits(dots2[i]) != math.Float32bits(dots[i]) {
						t.Fatalf("c=%d m=%d [%d,%d): without norms, dot %d = %v, with them %v", c, m, j0, j1, i, dots2[i], dots[i])
					}
				}
			}
		}
	}
	if !ran {
		t.Skip("no fused kernel in this build or CPU")
	}
}
