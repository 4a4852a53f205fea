//go:build amd64 && !noasm

package nn

import (
	"math"
	"testing"
)

// TestReduceKernels checks the AVX2 float64 reductions bit for bit
// against the Go loops (lengths around whole 16-value blocks, large and
// tiny values, infinity, NaN), and against plain float64 sums within
// rounding.
func TestReduceKernels(t *testing.T) {
	if !reduceAVX2 {
		t.Skip("no AVX2 on this CPU")
	}
	defer func() { reduceAVX2 = true }()
	r := newRand(43)
	same := func(a, b float64) bool { return math.Float64bits(a) == math.Float64bits(b) || (a != a && b != b) }
	for _, n := range []int{0, 1, 15, 16, 17, 100, 16 * 1000, 16*4096 + 5} {
		for trial := 0; trial < 4; trial++ {
			x := randSlice(r, n, -3, 5)
			dy := randSlice(r, n, -1, 1)
			switch {
			case trial == 1:
				for i := 5; i < n; i += 97 {
					x[i] *= 1e6
				}
			case trial == 2 && n > 20:
				x[n/2] = float32(math.Inf(1))
			case trial == 3 && n > 20:
				x[3] = float32(math.NaN())
			}
			mu := 0.37
			reduceAVX2 = true
			s1, q1 := sum64(x), sqDev64(x, mu)
			a1, b1 := dyDev64(dy, x, mu)
			reduceAVX2 = false
			s0, q0 := sum64(x), sqDev64(x, mu)
			a0, b0 := dyDev64(dy, x, mu)
			if !same(s1, s0) || !same(q1, q0) || !same(a1, a0) || !same(b1, b0) {
				t.Fatalf("n=%d trial %d: kernel (%v %v %v %v), Go (%v %v %v %v)", n, trial, s1, q1, a1, b1, s0, q0, a0, b0)
			}
			if trial == 0 {
				var rs, ra float64
				for i := range dy {
					rs += float64(x[i])
					ra += float64(dy[i])
				}
				if math.Abs(s1-rs) > 1e-9*math.Max(1, math.Abs(rs)) || math.Abs(a1-ra) > 1e-9*math.Max(1, math.Abs(ra)) {
					t.Fatalf("n=%d: sums %v, %v; plain float64 %v, %v", n, s1, a1, rs, ra)
				}
			}
		}
	}
}

// TestBatchNormKernels checks BatchNorm's train forward and backward with
// the AVX2 elementwise kernels bit for bit against the Go loops, in place
// and not, accumulating and not, with odd plane sizes (kernel tails).
func TestBatchNormKernels(t *testing.T) {
	if !reduceAVX2 {
		t.Skip("no AVX2 on this CPU")
	}
	defer func() { reduceAVX2 = true }()
	r := newRand(47)
	const n, c, hw = 2, 3, 8*9 + 5
	x := randSlice(r, n*c*hw, -2, 3)
	dout := randSlice(r, n*c*hw, -1, 1)
	gamma, beta := randSlice(r, c, 0.5, 1.5), randSlice(r, c, -1, 1)
	x[7] = float32(math.NaN())
	run := func(asm bool) (out, mean, vr, dx, dxAcc, dg, db []float32) {
		reduceAVX2 = asm
		out, mean, vr = make([]float32, len(x)), make([]float32, c), make([]float32, c)
		BatchNormTrainForward(out, mean, vr, x, gamma, beta, n, c, hw, 1e-5)
		inPlace := append([]float32(nil), x...)
		m2, v2 := make([]float32, c), make([]float32, c)
		BatchNormTrainForward(inPlace, m2, v2, inPlace, gamma, beta, n, c, hw, 1e-5)
		for i := range out {
			if math.Float32bits(out[i]) != math.Float32bits(inPlace[i]) {
				t.Fatalf("asm=%v: in-place forward differs at %d", asm, i)
			}
		}
		dx = append([]float32(nil), dout...) // overwritten in place
		dxAcc = randSlice(newRand(48), len(x), -1, 1)
		dg, db = make([]float32, c), make([]float32, c)
		batchNormTrainBackward(dx, dg, db, dx, x, mean, vr, gamma, n, c, hw, 1e-5, false)
		BatchNormTrainBackward(dxAcc, nil, nil, dout, x, mean, vr, gamma, n, c, hw, 1e-5)
		return
	}
	a := [][]float32{}
	{
		o, m, v, d, da, g, b := run(true)
		a = append(a, o, m, v, d, da, g, b)
	}
	o, m, v, d, da, g, b := run(false)
	for k, want := range [][]float32{o, m, v, d, da, g, b} {
		for i := range want {
			if math.Float32bits(a[k][i]) != math.Float32bits(want[i]) && !(a[k][i] != a[k][i] && want[i] != want[i]) {
				t.Fatalf("output %d, value %d: kernel %v, Go %v", k, i, a[k][i], want[i])
			}
		}
	}
}
