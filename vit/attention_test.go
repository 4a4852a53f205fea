package vit

import (
	"math"
	"math/rand/v2"
	"testing"
)

// TestAttentionFusedMatchesTiled compares the fused attention with the
// two-GEMM tiled attention (scores per tile, exp, multiply by v) on token
// counts around every block edge (the kernel's MR, the key block, the query
// tile) and head dimensions that are and are not multiples of MR.
func TestAttentionFusedMatchesTiled(t *testing.T) {
	cases := []struct {
		T, heads, hd int
		growing      bool // keys' norms grow with their index: every key block raises the max
	}{
		{1, 1, 8, false}, {5, 2, 20, false}, {13, 3, 64, false}, {130, 2, 64, false}, {253, 1, 24, false},
		{300, 2, 64, false}, {517, 6, 64, false}, {1100, 2, 16, true},
	}
	for _, tc := range cases {
		r := rand.New(rand.NewPCG(uint64(tc.T), uint64(tc.hd)))
		D := tc.heads * tc.hd
		m := &Model{Config: Config{Dim: D, Heads: tc.heads}}
		ws := &workspace{qkv: make([]float32, tc.T*3*D)}
		for i := range ws.qkv {
			ws.qkv[i] = float32(r.NormFloat64() * 2)
			if tc.growing && i%(3*D) >= D && i%(3*D) < 2*D {
				ws.qkv[i] = 0.5 + float32(i/(3*D))/50 // k: all positive, growing
			}
		}
		ws.attn = make([]float32, tc.T*D)
		m.attention(ws, tc.T)
		want := append([]float32(nil), ws.attn...)
		clear(ws.attn)
		m.attentionFused(ws, tc.T)
		var worst float64
		for i, v := range ws.attn {
			d := math.Abs(float64(v - want[i]))
			worst = max(worst, d)
			if d > 2e-5*(1+math.Abs(float64(want[i]))) || math.IsNaN(float64(v)) {
				t.Fatalf("T=%d heads=%d hd=%d: out[%d] = %v, tiled %v", tc.T, tc.heads, tc.hd, i, v, want[i])
			}
		}
		t.Logf("T=%d heads=%d hd=%d: max |Δ| %.2g", tc.T, tc.heads, tc.hd, worst)
		// A second call reuses the workspace's buffers.
		m.attentionFused(ws, tc.T)
		for i, v := range ws.attn {
			if d := math.Abs(float64(v - want[i])); d > 2e-5*(1+math.Abs(float64(want[i]))) {
				t.Fatalf("second call: out[%d] = %v, tiled %v", i, v, want[i])
			}
		}
	}
}
