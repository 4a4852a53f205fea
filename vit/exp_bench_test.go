package vit

import (
	"math/rand/v2"
	"testing"
)

// BenchmarkExpLanes measures the fused attention's softmax exponentiation
// of one tile (8108 keys × 32 query lanes) per op, reported per element.
func BenchmarkExpLanes(b *testing.B) {
	const rows, n = 8108, 32
	r := rand.New(rand.NewPCG(1, 2))
	src := make([]float32, rows*n)
	for i := range src {
		src[i] = float32(r.NormFloat64() * 3)
	}
	s := make([]float32, rows*n)
	shift := make([]float32, n)
	sums := make([]float32, n)
	for b.Loop() {
		copy(s, src)
		expLanes(s, rows, n, shift, sums)
	}
	b.ReportMetric(float64(b.Elapsed().Nanoseconds())/float64(b.N*rows*n), "ns/elem")
}
