package prefault

import "testing"

// TestFloatsKeepsContents checks that populating leaves every value as it
// was, for a buffer above the threshold (also at an unaligned start) and
// one below it.
func TestFloatsKeepsContents(t *testing.T) {
	for _, n := range []int{MinBytes/4 + 1234, 1000} {
		b := make([]float32, n+1)
		for i := range b {
			b[i] = float32(i % 977)
		}
		Floats(b[1:])
		for i, v := range b {
			if v != float32(i%977) {
				t.Fatalf("n=%d: b[%d] = %v after Floats, want %v", n, i, v, float32(i%977))
			}
		}
	}
}
