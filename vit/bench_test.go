package vit

import (
	"context"
	"fmt"
	"math/rand/v2"
	"testing"

	"dinotracker/gemm"
)

// vitFLOPs counts the multiply-adds (×2) of a forward pass through depth
// blocks at T tokens: patch embedding, qkv, q·kᵀ, p·v, proj, fc1, fc2.
func vitFLOPs(c Config, T, npatch, depth int) float64 {
	D, H := float64(c.Dim), float64(c.MLPHidden)
	K := float64(c.InChans * c.PatchSize * c.PatchSize)
	t := float64(T)
	per := 2*t*D*3*D + 2*t*t*D*2 + 2*t*D*D + 2*t*D*H*2
	return 2*float64(npatch)*K*D + float64(depth)*per
}

// BenchmarkViTSmallStride7 runs one ViT-S/14 forward (12 blocks, random
// weights) on a 476×854 frame at stride 7 (67×121 = 8107 patch tokens), the
// tracker's working size, and reports GFLOP/s beside the GEMM backend name.
func BenchmarkViTSmallStride7(b *testing.B) {
	m, err := NewRandom(Config{Dim: 384, Depth: 12, Heads: 6}, 1)
	if err != nil {
		b.Fatal(err)
	}
	h, w := 476, 854
	img := make([]float32, 3*h*w)
	r := rand.New(rand.NewPCG(1, 1))
	for i := range img {
		img[i] = float32(r.NormFloat64())
	}
	gh, gw := m.GridSize(h, w, 7)
	flop := vitFLOPs(m.Config, 1+gh*gw, gh*gw, 12)
	b.Run(fmt.Sprintf("%s/%dx%d", gemm.Backend(), h, w), func(b *testing.B) {
		for b.Loop() {
			if _, err := m.Run(context.Background(), img, h, w, Request{Stride: 7, Blocks: []int{11}}); err != nil {
				b.Fatal(err)
			}
		}
		b.ReportMetric(flop*float64(b.N)/b.Elapsed().Seconds()/1e9, "GFLOP/s")
	})
}
