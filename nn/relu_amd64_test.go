//go:build amd64 && !noasm

package nn

import (
	"math"
	"testing"
)

// TestReluMaskKernels checks the AVX-512 ReLU-mask kernels bit for bit
// against the Go loops: signs, ±0, NaN, infinities, lengths around whole
// 64-value words.
func TestReluMaskKernels(t *testing.T) {
	if !reluAVX512 {
		t.Skip("no AVX-512 on this CPU")
	}
	defer func() { reluAVX512 = true }()
	r := newRand(41)
	for _, n := range []int{1, 63, 64, 65, 200, 64 * 37, 64*4096 + 17} {
		act := randSlice(r, n, -1, 1)
		g := randSlice(r, n, -1, 1)
		for i := 0; i < n; i += 7 {
			switch i % 5 {
			case 0:
				act[i] = float32(math.NaN())
			case 1:
				act[i] = float32(math.Copysign(0, -1))
			case 2:
				act[i] = 0
			case 3:
				act[i] = float32(math.Inf(-1))
			case 4:
				act[i] = float32(math.Inf(1))
			}
		}
		var acts [2][]float32
		var masks [2][]uint64
		var gs [2][]float32
		for k, wide := range []bool{false, true} {
			reluAVX512 = wide
			acts[k] = append([]float32(nil), act...)
			masks[k] = make([]uint64, (n+63)/64)
			reluForwardMask(acts[k], masks[k])
			gs[k] = append([]float32(nil), g...)
			reluMaskBits(gs[k], masks[k])
		}
		for i := range act {
			if math.Float32bits(acts[0][i]) != math.Float32bits(acts[1][i]) {
				t.Fatalf("n=%d: act[%d] = %v (AVX-512), %v (Go) from %v", n, i, acts[1][i], acts[0][i], act[i])
			}
			if math.Float32bits(gs[0][i]) != math.Float32bits(gs[1][i]) {
				t.Fatalf("n=%d: g[%d] = %v (AVX-512), %v (Go)", n, i, gs[1][i], gs[0][i])
			}
		}
		for w := range masks[0] {
			if masks[0][w] != masks[1][w] {
				t.Fatalf("n=%d: mask word %d = %#x (AVX-512), %#x (Go)", n, w, masks[1][w], masks[0][w])
			}
		}
	}
}
