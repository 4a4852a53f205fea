package gemm

import (
	"math"
	"math/rand/v2"
	"testing"
)

// TestKernelMatchesGeneric compares the micro-kernel in use (assembly where
// available) with its Go definition, including kc = 0 and odd ldc.
func TestKernelMatchesGeneric(t *testing.T) {
	r := rand.New(rand.NewPCG(7, 8))
	for _, k := range []int{0, 1, 5, 256} {
		a := randSlice(r, max(1, k*mr))
		b := randSlice(r, max(1, k*nr))
		ldc := nr + 3
		c1 := randSlice(r, mr*ldc)
		c2 := append([]float32(nil), c1...)
		kernel6x16(k, a, b, c1, ldc)
		kernel6x16Generic(k, a, b, c2, ldc)
		for i := range c1 {
			if d := math.Abs(float64(c1[i] - c2[i])); d > 1e-4*(1+math.Sqrt(float64(k))) {
				t.Fatalf("k=%d: c[%d] %v vs %v", k, i, c1[i], c2[i])
			}
		}
	}
	t.Logf("assembly kernel in use: %v", hasFMA)
}

// TestSgemmBlockEdges crosses every blocking boundary (mc, kc, nc and the
// 6×16 tile) with the packed Sgemm directly, against the float64 loop.
func TestSgemmBlockEdges(t *testing.T) {
	if testing.Short() {
		t.Skip("slow reference loop")
	}
	r := rand.New(rand.NewPCG(9, 10))
	m, n, k := mc+mr+1, nc+nr+3, kc+7
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
		sgemm(tr[0], tr[1], m, n, k, 1.5, a, ac, b, bc, 0.5, c, n)
		MatMulRef(tr[0], tr[1], m, n, k, 1.5, a, ac, b, bc, 0.5, want, n)
		for i := range c {
			if d := math.Abs(float64(c[i] - want[i])); d > 2e-3 {
				t.Fatalf("trans %v: c[%d] = %v want %v", tr, i, c[i], want[i])
			}
		}
	}
}
