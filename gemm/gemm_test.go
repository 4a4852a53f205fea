package gemm

import (
	"fmt"
	"math"
	"math/rand/v2"
	"testing"
)

func randSlice(r *rand.Rand, n int) []float32 {
	x := make([]float32, n)
	for i := range x {
		x[i] = float32(r.NormFloat64())
	}
	return x
}

// TestMatMulShapes checks every transpose combination, padded leading
// dimensions, beta handling and odd sizes against the float64 reference loop,
// with guard values after each row that must stay untouched.
func TestMatMulShapes(t *testing.T) {
	r := rand.New(rand.NewPCG(1, 2))
	sizes := [][3]int{{1, 1, 1}, {3, 5, 7}, {17, 9, 33}, {64, 48, 16}, {130, 70, 65}, {5, 1, 300}, {2, 3, 0},
		{300, 200, 100}, {20, 1000, 200}} // the last two are large enough to be split across goroutines
	for _, s := range sizes {
		m, n, k := s[0], s[1], s[2]
		for _, ta := range []bool{false, true} {
			for _, tb := range []bool{false, true} {
				for _, beta := range []float32{0, 1, -0.5} {
					name := fmt.Sprintf("m%d_n%d_k%d_ta%v_tb%v_beta%v", m, n, k, ta, tb, beta)
					ar, ac := m, k
					if ta {
						ar, ac = k, m
					}
					br, bc := k, n
					if tb {
						br, bc = n, k
					}
					lda, ldb, ldc := ac+3, bc+1, n+2
					a := randSlice(r, max(1, ar*lda))
					b := randSlice(r, max(1, br*ldb))
					c := randSlice(r, m*ldc)
					want := append([]float32(nil), c...)
					ck := append([]float32(nil), c...)
					MatMul(ta, tb, m, n, k, 0.75, a, lda, b, ldb, beta, c, ldc)
					MatMulKernel(ta, tb, m, n, k, 0.75, a, lda, b, ldb, beta, ck, ldc)
					MatMulRef(ta, tb, m, n, k, 0.75, a, lda, b, ldb, beta, want, ldc)
					for _, got := range [][]float32{c, ck} {
						checkAgainstRef(t, name, got, want, m, n, k, ldc)
					}
				}
			}
		}
	}
}

// checkAgainstRef compares C with the float64 reference loop's, and the
// guard columns past n with their old values.
func checkAgainstRef(t *testing.T, name string, c, want []float32, m, n, k, ldc int) {
	t.Helper()
	for i := 0; i < m; i++ {
		for j := 0; j < ldc; j++ {
			g, w := c[i*ldc+j], want[i*ldc+j]
			if j >= n {
				if g != w {
					t.Fatalf("%s: guard C[%d,%d] changed", name, i, j)
				}
				continue
			}
			if d := math.Abs(float64(g - w)); d > 1e-4*(1+math.Sqrt(float64(k))) {
				t.Fatalf("%s: C[%d,%d]=%v want %v", name, i, j, g, w)
			}
		}
	}
}

func TestMatMulPanicsOnShortSlice(t *testing.T) {
	defer func() {
		if recover() == nil {
			t.Fatal("no panic for a too-short A")
		}
	}()
	MatMul(false, false, 4, 4, 4, 1, make([]float32, 15), 4, make([]float32, 16), 4, 0, make([]float32, 16), 4)
}

// BenchmarkSgemm measures the GEMM backend in GFLOP/s on square sizes and on
// the ViT shapes at 476×854, stride 7 (8108 tokens), once per assembly
// kernel this CPU runs (the first is the default).
func BenchmarkSgemm(b *testing.B) {
	shapes := []struct {
		name    string
		m, n, k int
		tb      bool
	}{
		{"square1024", 1024, 1024, 1024, false},
		{"square2048", 2048, 2048, 2048, false},
		{"vitS_qkv_8108x1152x384", 8108, 1152, 384, true},
		{"vitS_fc1_8108x1536x384", 8108, 1536, 384, true},
		{"vitS_fc2_8108x384x1536", 8108, 384, 1536, true},
		{"vitS_scores_256x8108x64", 256, 8108, 64, true},
		{"vitL_qkv_8108x3072x1024", 8108, 3072, 1024, true},
		{"vitL_fc2_8108x1024x4096", 8108, 1024, 4096, true},
		// Delta-DINO's convolutions as GEMMs (im2col form): the 64→128
		// layer's forward on 16384 output pixels and its weight gradient,
		// and the 256→1024 layer's forward on its 60×107 outputs.
		{"conv1fwd_128x16384x1600", 128, 16384, 1600, false},
		{"conv1dw_128x1600x16384", 128, 1600, 16384, true},
		{"conv3fwd_1024x6420x6400", 1024, 6420, 6400, false},
	}
	kernels := []*microKernel{bestKernel}
	if Backend() == "go" {
		kernels = nil
		for _, k := range assemblyKernels() {
			kernels = append(kernels, &k)
		}
		if len(kernels) == 0 {
			kernels = []*microKernel{nil}
		}
	}
	defer func(k *microKernel) { bestKernel = k }(bestKernel)
	r := rand.New(rand.NewPCG(3, 4))
	for _, kern := range kernels {
		bestKernel = kern
		for _, s := range shapes {
			b.Run(Backend()+"/"+Kernel()+"/"+s.name, func(b *testing.B) {
				a := randSlice(r, s.m*s.k)
				bb := randSlice(r, s.k*s.n)
				c := make([]float32, s.m*s.n)
				ldb := s.n
				if s.tb {
					ldb = s.k
				}
				b.ResetTimer()
				for b.Loop() {
					MatMul(false, s.tb, s.m, s.n, s.k, 1, a, s.k, bb, ldb, 0, c, s.n)
				}
				flop := 2 * float64(s.m) * float64(s.n) * float64(s.k)
				b.ReportMetric(flop*float64(b.N)/b.Elapsed().Seconds()/1e9, "GFLOP/s")
			})
		}
	}
}

// TestScatterBlocks checks the build's scatterBlocks (assembly where it
// has one) against the portable loop, value for value, with the gaps
// between blocks untouched.
func TestScatterBlocks(t *testing.T) {
	for _, nr := range []int{16, 32, 8} {
		for _, blocks := range []int{0, 1, 3, 17} {
			stride := nr*5 + 3
			src := make([]float32, blocks*nr)
			for i := range src {
				src[i] = float32(i) + 0.25
			}
			n := blocks*stride + nr
			got, want := make([]float32, n), make([]float32, n)
			for i := range got {
				got[i], want[i] = -1, -1
			}
			scatterBlocks(got, src, blocks, stride, nr, src)
			scatterBlocksGo(want, src, blocks, stride, nr)
			for i := range got {
				if got[i] != want[i] {
					t.Fatalf("nr %d blocks %d: dst[%d] = %v, want %v", nr, blocks, i, got[i], want[i])
				}
			}
			for s := 0; s < blocks; s++ {
				if got[s*stride] != src[s*nr] || got[s*stride+nr-1] != src[s*nr+nr-1] || got[s*stride+nr] != -1 {
					t.Fatalf("nr %d blocks %d: block %d misplaced", nr, blocks, s)
				}
			}
		}
	}
}
