package rowconv

import (
	"math"
	"math/rand/v2"
	"testing"
)

// TestAcc3MatchesGo checks the kernel bit for bit against the Go loop for
// every length up to 70 and unaligned offsets, including NaN and infinity.
func TestAcc3MatchesGo(t *testing.T) {
	r := rand.New(rand.NewPCG(1, 2))
	for n := 0; n <= 70; n++ {
		for off := 0; off < 3; off++ {
			buf := make([]float32, 4*(n+3))
			for i := range buf {
				buf[i] = float32(r.NormFloat64() * 10)
			}
			if n > 5 {
				buf[off+3] = float32(math.NaN())
				buf[n+off+4] = float32(math.Inf(1))
			}
			d := buf[off : off+n]
			a, b, c := buf[n+3+off:], buf[2*(n+3)+off:], buf[3*(n+3):]
			want := append([]float32(nil), d...)
			acc3Go(want, a, b, c, 0.3, -1.7, 2.9)
			got := append([]float32(nil), d...)
			Acc3(got, a, b, c, 0.3, -1.7, 2.9)
			for j := range want {
				if math.Float32bits(got[j]) != math.Float32bits(want[j]) {
					t.Fatalf("n=%d off=%d j=%d: %v, want %v", n, off, j, got[j], want[j])
				}
			}
		}
	}
}

func BenchmarkAcc3(b *testing.B) {
	d, a, bb, c := make([]float32, 121), make([]float32, 121), make([]float32, 121), make([]float32, 121)
	b.Run("kernel", func(b *testing.B) {
		for b.Loop() {
			Acc3(d, a, bb, c, 1, 2, 3)
		}
	})
	b.Run("go", func(b *testing.B) {
		for b.Loop() {
			acc3Go(d, a, bb, c, 1, 2, 3)
		}
	})
}
