package vit

import (
	"math"
	"testing"
)

// TestExpNeg checks the softmax exponential against math.Exp on a dense
// sweep of [−87, 0] and its cut-off below.
func TestExpNeg(t *testing.T) {
	worst := 0.0
	for i := 0; i <= 2_000_000; i++ {
		x := float32(-87 * float64(i) / 2_000_000)
		got, want := float64(expNeg(x)), math.Exp(float64(x))
		if rel := math.Abs(got-want) / want; rel > worst {
			worst = rel
		}
	}
	if worst > 3e-7 {
		t.Fatalf("max relative error %.3g, want ≤ 3e-7", worst)
	}
	if expNeg(-88) != expNeg(-87) || expNeg(-1e30) != expNeg(-87) || expNeg(-87) > 2e-38 {
		t.Fatal("values below −87 must clamp to e^−87")
	}
	if expNeg(0) != 1 {
		t.Fatalf("exp(0) = %v", expNeg(0))
	}
	t.Logf("max relative error %.3g", worst)
}

func TestGELUIsErf(t *testing.T) {
	// GELU(1) = 0.5·(1+erf(1/√2)) = 0.8413447460685429; tanh form gives 0.8411919906.
	if d := math.Abs(float64(geluErf(1)) - 0.8413447460685429); d > 1e-7 {
		t.Fatalf("GELU(1) = %v", geluErf(1))
	}
}

// TestExpRowsKernels compares the AVX2 softmax kernels (when the CPU has
// them) with the pure-Go loops on lengths around the vector width, with
// guard values after each row.
func TestExpRowsKernels(t *testing.T) {
	if !useAVX2 {
		t.Skip("no AVX2/FMA kernel in this build or on this CPU")
	}
	for _, n := range []int{1, 7, 8, 9, 15, 16, 17, 33, 255, 256, 257, 1000, 8108} {
		row := make([]float32, n+3)
		for i := range row {
			row[i] = float32(math.Sin(float64(i)*0.7)*20 - 5)
		}
		row[n/2] = -1e9 // clamped
		ref := append([]float32(nil), row...)
		got := append([]float32(nil), row...)
		sr := expRowGeneric(ref[:n])
		sg := expRow(got[:n])
		if math.Abs(sr-sg) > 1e-6*sr {
			t.Fatalf("n=%d: sum %v vs %v", n, sg, sr)
		}
		for i := range got {
			if i >= n {
				if got[i] != row[i] {
					t.Fatalf("n=%d: guard %d changed", n, i)
				}
				continue
			}
			if d := math.Abs(float64(got[i] - ref[i])); d > 2e-7*math.Max(1, float64(ref[i])) {
				t.Fatalf("n=%d i=%d: %v vs %v", n, i, got[i], ref[i])
			}
		}
	}
}
