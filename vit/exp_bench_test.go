package vit

import (
	"math/rand/v2"
	"testing"
)

// BenchmarkExpRows measures the softmax exponentiation of one attention
// tile (64 rows × 8108 scores) per op, reported per element.
func BenchmarkExpRows(b *testing.B) {
	const rows, n = attnTile, 8108
	r := rand.New(rand.NewPCG(1, 2))
	src := make([]float32, rows*n)
	for i := range src {
		src[i] = float32(r.NormFloat64() * 3)
	}
	s := make([]float32, rows*n)
	sums := make([]float64, rows)
	for b.Loop() {
		copy(s, src)
		expRows(s, sums, rows, n)
	}
	b.ReportMetric(float64(b.Elapsed().Nanoseconds())/float64(b.N*rows*n), "ns/elem")
}
