package nn

import "testing"

// TestTranspose8 checks transpose8 (the AVX2 kernel where there is one)
// against its definition, for lengths around whole 8-blocks and padded
// strides, with guard values that must stay untouched.
func TestTranspose8(t *testing.T) {
	for _, n := range []int{1, 7, 8, 9, 16, 61, 256} {
		srcStride, dstStride := n+3, 32
		src := make([]float32, 8*srcStride)
		for i := range src {
			src[i] = float32(i) + 0.5
		}
		dst := make([]float32, (n-1)*dstStride+8) // the last group has no stride after it
		for i := range dst {
			dst[i] = -1
		}
		transpose8(dst, dstStride, src, srcStride, n)
		for p := 0; p < n; p++ {
			for q := 0; q < dstStride && p*dstStride+q < len(dst); q++ {
				want := float32(-1)
				if q < 8 {
					want = src[q*srcStride+p]
				}
				if got := dst[p*dstStride+q]; got != want {
					t.Fatalf("n=%d: dst[%d][%d] = %v, want %v", n, p, q, got, want)
				}
			}
		}
	}
}
