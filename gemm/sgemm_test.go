package gemm

import (
	"math"
	"math/rand/v2"
	"testing"
)

// testKernels is every kernel this build and CPU can run: the Go definition
// and each assembly kernel.
func testKernels() []microKernel {
	return append([]microKernel{genericKernel}, assemblyKernels()...)
}

// TestKernelMatchesGeneric compares each assembly micro-kernel with its Go
// definition, including kc = 0, odd kc (the unrolled loop's tail) and odd
// ldc. Kernels accumulate in the same order with fused multiply-adds, so
// the assembly kernels also agree with each other bit for bit.
func TestKernelMatchesGeneric(t *testing.T) {
	r := rand.New(rand.NewPCG(7, 8))
	for _, kern := range assemblyKernels() {
		mr, nr := kern.mr, kern.nr
		for _, tc := range []struct {
			k   int
			set bool
		}{{0, false}, {1, false}, {2, false}, {5, false}, {256, false}, {0, true}, {1, true}, {5, true}, {256, true}} {
			k := tc.k
			a := randSlice(r, max(1, k*mr))
			b := randSlice(r, max(1, k*nr))
			ldc := nr + 3
			c1 := randSlice(r, mr*ldc)
			c2 := append([]float32(nil), c1...)
			kern.fn(k, a, b, c1, ldc, tc.set)
			kernelGeneric(mr, nr, k, a, b, c2, ldc, tc.set)
			for i := range c1 {
				if d := math.Abs(float64(c1[i] - c2[i])); d > 1e-4*(1+math.Sqrt(float64(k))) {
					t.Fatalf("%s k=%d: c[%d] %v vs %v", kern.name, k, i, c1[i], c2[i])
				}
			}
			// Entries outside the mr×nr tile (the ldc padding) are untouched.
			for i := 0; i < mr; i++ {
				for j := nr; j < ldc; j++ {
					if c1[i*ldc+j] != c2[i*ldc+j] {
						t.Fatalf("%s k=%d wrote c[%d][%d] outside its tile", kern.name, k, i, j)
					}
				}
			}
		}
	}
	t.Logf("kernel in use: %s; assembly kernels on this CPU: %d", Kernel(), len(assemblyKernels()))
}

// TestKernelsAgreeBitForBit runs the packed Sgemm with every assembly kernel
// on the same shapes and requires identical results, so that a model trained
// on an AVX-512 machine resumes identically on an AVX2 one.
func TestKernelsAgreeBitForBit(t *testing.T) {
	ks := assemblyKernels()
	if len(ks) < 2 {
		t.Skipf("%d assembly kernels on this CPU; nothing to compare", len(ks))
	}
	r := rand.New(rand.NewPCG(11, 12))
	m, n, k := 2*mc+13, 300, 2*kc+41
	a := randSlice(r, m*k)
	b := randSlice(r, k*n)
	var first []float32
	for _, kern := range ks {
		c := make([]float32, m*n)
		sgemm(&kern, false, false, m, n, k, 0.7, a, k, b, n, 0, c, n)
		if first == nil {
			first = c
			continue
		}
		for i := range c {
			if c[i] != first[i] {
				t.Fatalf("%s vs %s: c[%d] = %v vs %v", kern.name, ks[0].name, i, c[i], first[i])
			}
		}
	}
}

// TestSgemmBlockEdges crosses every blocking boundary (mc, kc, nc and each
// kernel's tile) with the packed Sgemm directly, against the float64 loop.
func TestSgemmBlockEdges(t *testing.T) {
	if testing.Short() {
		t.Skip("slow reference loop")
	}
	r := rand.New(rand.NewPCG(9, 10))
	for _, kern := range testKernels() {
		m, n, k := mc+kern.mr+1, nc+kern.nr+3, kc+7
		for _, tr := range [][2]bool{{false, false}, {true, true}, {false, true}, {true, false}} {
			ar, ac := m, k
			if tr[0] {
				ar, ac = k, m
			}
			br, bc := k, n
			if tr[1] {
				br, bc = n, k
			}
			a := randSlice(r, ar*ac)
			b := randSlice(r, br*bc)
			c := randSlice(r, m*n)
			want := append([]float32(nil), c...)
			sgemm(&kern, tr[0], tr[1], m, n, k, 1.5, a, ac, b, bc, 0.5, c, n)
			MatMulRef(tr[0], tr[1], m, n, k, 1.5, a, ac, b, bc, 0.5, want, n)
			for i := range c {
				if d := math.Abs(float64(c[i] - want[i])); d > 2e-3 {
					t.Fatalf("%s trans %v: c[%d] = %v want %v", kern.name, tr, i, c[i], want[i])
				}
			}
		}
	}
}

// TestMatMulPacked checks the packed-A product against MatMul (bit for bit:
// same kernel, same accumulation order) for both splits, transposes, beta
// and ragged edges, with a packer that gathers B one row at a time through
// ScatterSlivers.
func TestMatMulPacked(t *testing.T) {
	r := rand.New(rand.NewPCG(13, 14))
	shapes := []struct{ m, n, k int }{
		{1, 1, 1}, {5, 7, 3}, {13, 40, 300}, {64, 75, 9}, {200, 33, 513}, {24, 3000, 70}, {2*mc + 5, 2*nc + 17, kc + 1},
	}
	for _, sh := range shapes {
		for _, transA := range []bool{false, true} {
			for _, transB := range []bool{false, true} {
				for _, beta := range []float32{0, 1, 0.5} {
					m, n, k := sh.m, sh.n, sh.k
					a := randSlice(r, m*k)
					b := randSlice(r, k*n)
					lda, ldb := k, n
					if transA {
						lda = m
					}
					if transB {
						ldb = k
					}
					ldc := n + 2
					c0 := randSlice(r, m*ldc)
					want := append([]float32(nil), c0...)
					got := append([]float32(nil), c0...)
					MatMulKernel(transA, transB, m, n, k, 0.75, a, lda, b, ldb, beta, want, ldc)
					var pa PackedA
					pa.Pack(transA, m, k, 0.75, a, lda)
					packer := MatrixB(transB, b, ldb)
					if !transB {
						// Row-at-a-time packer: gathers row pc+p of B, then scatters it.
						packer = func(dst, scratch []float32, pc, jc, kcb, ncb, nr int) {
							for p := 0; p < kcb; p++ {
								row := scratch[:ncb]
								copy(row, b[(pc+p)*ldb+jc:(pc+p)*ldb+jc+ncb])
								ScatterSlivers(dst, row, p, kcb, ncb, nr)
							}
						}
					}
					MatMulPacked(&pa, n, packer, beta, got, ldc)
					serial := append([]float32(nil), c0...)
					MatMulPackedSerial(&pa, n, packer, beta, serial, ldc)
					// The same kernel in the same summation order, whatever
					// the backend and m, on the workers or not: the same bits.
					for i := range got {
						if math.Float32bits(got[i]) != math.Float32bits(want[i]) {
							t.Fatalf("%dx%dx%d transA=%v transB=%v beta=%v: c[%d] = %v, MatMulKernel %v", m, n, k, transA, transB, beta, i, got[i], want[i])
						}
						if math.Float32bits(serial[i]) != math.Float32bits(want[i]) {
							t.Fatalf("%dx%dx%d transA=%v transB=%v beta=%v: MatMulPackedSerial c[%d] = %v, MatMulKernel %v", m, n, k, transA, transB, beta, i, serial[i], want[i])
						}
					}
				}
			}
		}
	}
}

// TestMatMulKernelRowsIndependent checks that MatMulKernel's rows do not
// depend on how many rows share the product (the track engine relies on
// it): each row alone, and any slice of rows, gives the bits of the whole.
func TestMatMulKernelRowsIndependent(t *testing.T) {
	r := rand.New(rand.NewPCG(15, 16))
	const m, n, k = 29, 70, 300
	a := randSlice(r, m*k)
	b := randSlice(r, k*n)
	all := make([]float32, m*n)
	MatMulKernel(false, false, m, n, k, 1, a, k, b, n, 0, all, n)
	for _, rows := range [][2]int{{0, 1}, {5, 7}, {3, 15}, {28, 29}, {0, 29}} {
		lo, hi := rows[0], rows[1]
		part := make([]float32, (hi-lo)*n)
		MatMulKernel(false, false, hi-lo, n, k, 1, a[lo*k:], k, b, n, 0, part, n)
		for i := range part {
			if math.Float32bits(part[i]) != math.Float32bits(all[lo*n+i]) {
				t.Fatalf("rows [%d,%d): c[%d] = %v, %v in the whole product", lo, hi, i, part[i], all[lo*n+i])
			}
		}
	}
}
