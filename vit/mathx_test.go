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

// TestLaneKernels compares the AVX2 lane kernels of the fused attention
// (when the CPU has them) with their Go loops: per-lane max, and
// exp(x − shift) with per-lane sums, on row counts around the unrolling,
// with a clamped value and guard values past the rows.
func TestLaneKernels(t *testing.T) {
	if !useAVX2 {
		t.Skip("no AVX2/FMA kernel in this build or on this CPU")
	}
	saved := useAVX512
	defer func() { useAVX512 = saved }()
	var outs [][]float32
	for _, wide := range []bool{false, true} {
		if wide && !saved {
			continue
		}
		useAVX512 = wide
		outs = append(outs, testLaneKernels(t))
	}
	// The AVX-512 kernels run the AVX2 ones' instructions on wider
	// registers: the same bits.
	if len(outs) == 2 {
		for i := range outs[0] {
			if math.Float32bits(outs[0][i]) != math.Float32bits(outs[1][i]) {
				t.Fatalf("value %d: AVX-512 %v, AVX2 %v", i, outs[1][i], outs[0][i])
			}
		}
	}
}

// testLaneKernels runs the checks with the kernels selected and returns
// every value and sum they produced.
func testLaneKernels(t *testing.T) []float32 {
	t.Helper()
	var all []float32
	const w = 32
	for _, rows := range []int{1, 2, 7, 252} {
		x := make([]float32, rows*w+5)
		for i := range x {
			x[i] = float32(math.Sin(float64(i)*0.7)*20 - 5)
		}
		x[rows*w/2] = -1e9 // clamped at −87
		shift := make([]float32, w)
		mxAsm, mxGo := make([]float32, w), make([]float32, w)
		for l := range shift {
			mxAsm[l], mxGo[l] = float32(math.Inf(-1)), float32(math.Inf(-1))
		}
		maxLanes(x, rows, w, mxAsm)
		for r := 0; r < rows; r++ {
			for l := 0; l < w; l++ {
				mxGo[l] = max(mxGo[l], x[r*w+l])
			}
		}
		for l := range shift {
			if mxAsm[l] != mxGo[l] {
				t.Fatalf("rows=%d lane %d: max %v, Go %v", rows, l, mxAsm[l], mxGo[l])
			}
			shift[l] = mxGo[l]
		}
		got := append([]float32(nil), x...)
		sums := make([]float32, w)
		expLanes(got, rows, w, shift, sums)
		ref := append([]float32(nil), x...)
		refSums := make([]float32, w)
		for r := 0; r < rows; r++ {
			for l := 0; l < w; l++ {
				e := expNeg(ref[r*w+l] - shift[l])
				ref[r*w+l] = e
				refSums[l] += e
			}
		}
		for i := range got {
			if i >= rows*w {
				if got[i] != x[i] {
					t.Fatalf("rows=%d: guard %d changed", rows, i)
				}
				continue
			}
			if d := math.Abs(float64(got[i] - ref[i])); d > 2e-7*math.Max(1, float64(ref[i])) {
				t.Fatalf("rows=%d i=%d: %v vs %v", rows, i, got[i], ref[i])
			}
		}
		for l := range sums {
			if d := math.Abs(float64(sums[l] - refSums[l])); d > 1e-6*float64(refSums[l]) {
				t.Fatalf("rows=%d lane %d: sum %v vs %v", rows, l, sums[l], refSums[l])
			}
		}
		all = append(append(append(all, mxAsm...), got...), sums...)
	}
	return all
}
