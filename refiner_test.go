package dinotracker

import (
	"math"
	"math/rand/v2"
	"testing"
)

// refinerWellConditioned draws kernels as the golden cases do: every 3×3
// slice U(0,1) + 0.3·N(0,1) (sums ≈ 2–5), biases U(−0.1, 0.1).
func refinerWellConditioned(rng *rand.Rand) *Refiner {
	r := NewRefinerZero()
	for _, w := range [][]float32{r.W0, r.W2} {
		for i := range w {
			w[i] = float32(rng.Float64() + 0.3*rng.NormFloat64())
		}
	}
	for _, b := range [][]float32{r.B0, r.B2} {
		for i := range b {
			b[i] = float32(0.2*rng.Float64() - 0.1)
		}
	}
	return r
}

func refinerRandMap(rng *rand.Rand, n int) []float32 {
	v := make([]float32, n)
	for i := range v {
		v[i] = float32(math.Max(0, rng.NormFloat64())) // a ReLU'd cost volume
	}
	return v
}

func maxAbs32(v []float32) float64 {
	var m float64
	for _, x := range v {
		m = math.Max(m, math.Abs(float64(x)))
	}
	return m
}

func TestNewRefinerInit(t *testing.T) {
	a := NewRefiner(rand.New(rand.NewPCG(1, 2)))
	b := NewRefiner(rand.New(rand.NewPCG(1, 2)))
	for k, p := range a.Params() {
		q := b.Params()[k]
		n := 1
		for _, d := range p.Shape {
			n *= d
		}
		if len(p.Data) != n {
			t.Fatalf("%s: %d values for shape %v", p.Name, len(p.Data), p.Shape)
		}
		bound := 1 / 3.0
		if p.Name[len("cnn_refiner.")] == '2' {
			bound = 1 / 12.0
		}
		var sq float64
		for i, v := range p.Data {
			if v != q.Data[i] {
				t.Fatalf("%s: same seed gave different values", p.Name)
			}
			if math.Abs(float64(v)) > bound {
				t.Fatalf("%s[%d] = %g outside ±%g", p.Name, i, v, bound)
			}
			sq += float64(v) * float64(v)
		}
		// U(−b, b) has variance b²/3; allow a wide band for 1–144 draws.
		if n >= 16 {
			if v := sq / float64(n); v < bound*bound/3/4 || v > bound*bound/3*2.5 {
				t.Errorf("%s: mean square %g, expected about %g", p.Name, v, bound*bound/3)
			}
		}
	}
	if got := len(a.W0) + len(a.B0) + len(a.W2) + len(a.B2); got != 305 {
		t.Errorf("%d parameters, want 305", got)
	}
}

func TestRefinerForwardMatchesRef(t *testing.T) {
	rng := rand.New(rand.NewPCG(3, 4))
	for _, init := range []string{"wellconditioned", "default"} {
		r := refinerWellConditioned(rng)
		tol := 1e-5 // float32 sums of ≤ 144 O(1) terms, relative to max|out|
		if init == "default" {
			r = NewRefiner(rng)
			tol = 1e-4 // normalised kernels amplify by ~100×
		}
		var k RefinerKernels
		r.Kernels(&k)
		for _, hw := range [][2]int{{1, 1}, {2, 3}, {9, 15}, {5, 1}, {67, 121}} {
			gh, gw := hw[0], hw[1]
			p := gh * gw
			in := refinerRandMap(rng, p)
			out, hid := make([]float32, p), make([]float32, RefinerHidden*p)
			r.Forward(&k, out, hid, in, gh, gw)
			wo, wh := make([]float32, p), make([]float32, RefinerHidden*p)
			refinerForwardRef(r, wo, wh, in, gh, gw)
			m := maxAbs32(wo)
			for i := range wo {
				if math.Abs(float64(out[i]-wo[i])) > tol*m+1e-6 {
					t.Fatalf("%s %v: out[%d] = %g, want %g (max %g)", init, hw, i, out[i], wo[i], m)
				}
			}
			mh := maxAbs32(wh)
			for i := range wh {
				if math.Abs(float64(hid[i]-wh[i])) > tol*mh+1e-6 {
					t.Fatalf("%s %v: hidden[%d] = %g, want %g", init, hw, i, hid[i], wh[i])
				}
			}
		}
	}
}

// refinerLoss64 is L = Σ dOut·out of the float64 reference refiner.
func refinerLoss64(w0, b0, w2, b2, in []float64, dOut []float32, gh, gw int) float64 {
	out, _ := refinerForwardRef64(w0, b0, w2, b2, in, gh, gw)
	var l float64
	for i, v := range out {
		l += float64(dOut[i]) * v
	}
	return l
}

// TestRefinerBackwardFiniteDiff checks every parameter and input gradient
// against central differences of the float64 reference (step 1e-6: hidden
// pre-activations of these random inputs are nowhere near as close to the
// ReLU kink, so no kink is crossed).
func TestRefinerBackwardFiniteDiff(t *testing.T) {
	rng := rand.New(rand.NewPCG(5, 6))
	for _, hw := range [][2]int{{4, 5}, {1, 3}} {
		gh, gw := hw[0], hw[1]
		p := gh * gw
		r := refinerWellConditioned(rng)
		in := refinerRandMap(rng, p)
		in[0] = 0 // a zero cost entry, as the ReLU'd cost volume has many
		dOut := make([]float32, p)
		for i := range dOut {
			dOut[i] = float32(rng.NormFloat64())
		}
		var k RefinerKernels
		r.Kernels(&k)
		out, hid := make([]float32, p), make([]float32, RefinerHidden*p)
		r.Forward(&k, out, hid, in, gh, gw)
		grad := NewRefinerZero()
		dIn := make([]float32, p)
		for i := range dIn {
			dIn[i] = 99 // overwritten
		}
		r.Backward(&k, grad, dIn, dOut, hid, in, gh, gw, nil)

		to64 := func(v []float32) []float64 {
			o := make([]float64, len(v))
			for i, x := range v {
				o[i] = float64(x)
			}
			return o
		}
		vars := [][]float64{to64(r.W0), to64(r.B0), to64(r.W2), to64(r.B2), to64(in)}
		grads := [][]float32{grad.W0, grad.B0, grad.W2, grad.B2, dIn}
		names := []string{"W0", "B0", "W2", "B2", "in"}
		for vi, x := range vars {
			for i := range x {
				old := x[i]
				const h = 1e-6
				x[i] = old + h
				lp := refinerLoss64(vars[0], vars[1], vars[2], vars[3], vars[4], dOut, gh, gw)
				x[i] = old - h
				lm := refinerLoss64(vars[0], vars[1], vars[2], vars[3], vars[4], dOut, gh, gw)
				x[i] = old
				fd := (lp - lm) / (2 * h)
				if g := float64(grads[vi][i]); math.Abs(g-fd) > 1e-4*math.Max(1, math.Abs(fd)) {
					t.Errorf("%v d%s[%d] = %g, finite difference %g", hw, names[vi], i, g, fd)
				}
			}
		}
	}
}

// TestRefinerClampedSum covers NormalizedConv2d's floor: a slice whose sum
// is below 1e-8 in magnitude is divided by ±1e-8, with no gradient through
// the sum; an exactly-zero sum divides by zero, as upstream.
func TestRefinerClampedSum(t *testing.T) {
	rng := rand.New(rand.NewPCG(7, 8))
	r := refinerWellConditioned(rng)
	// Slice 3 of W0: +0.5, −0.5, +4e-9, rest 0 → float32 sum 4e-9.
	sl := r.W0[3*9 : 4*9]
	clear(sl)
	sl[0], sl[4], sl[8] = 0.5, -0.5, 4e-9
	// Slice 5 of W2: exactly zero sum.
	z := r.W2[5*9 : 6*9]
	clear(z)
	z[1], z[2] = 0.25, -0.25
	var k RefinerKernels
	r.Kernels(&k)
	if !k.Clamped0[3] || k.S0[3] != float32(RefinerSumEps) {
		t.Errorf("slice 0/3: clamped %v divisor %g, want true and 1e-8", k.Clamped0[3], k.S0[3])
	}
	if got, want := k.W0[3*9], float32(0.5/1e-8); math.Abs(float64(got-want)) > 1e-6*float64(want) {
		t.Errorf("normalised W0[3,0] = %g, want %g", got, want)
	}
	if !k.Clamped2[5] || k.S2[5] != 0 || !math.IsInf(float64(k.W2[5*9+1]), 1) || !math.IsNaN(float64(k.W2[5*9])) {
		t.Errorf("zero-sum slice: clamped %v divisor %g, kernel %v; want divisor 0 and ±Inf/NaN", k.Clamped2[5], k.S2[5], k.W2[5*9:6*9])
	}
	for o := 0; o < RefinerHidden; o++ {
		if (o == 3) != k.Clamped0[o] || (o == 5) != k.Clamped2[o] {
			t.Fatalf("unexpected clamp flags %v %v", k.Clamped0, k.Clamped2)
		}
	}
	// Gradient of the clamped slice: the loss is linear in it (constant
	// divisor), so dL/dw = dL/dwn / 1e-8. Check against finite differences
	// of the float64 reference that keep the sum inside the clamp, with
	// the zero-sum slice replaced by a regular one.
	copy(z, []float32{0.1, 0.2, 0.3, 0.1, 0.2, 0.3, 0.1, 0.2, 0.3})
	r.Kernels(&k)
	gh, gw := 3, 4
	p := gh * gw
	in := refinerRandMap(rng, p)
	dOut := make([]float32, p)
	for i := range dOut {
		dOut[i] = float32(rng.NormFloat64())
	}
	out, hid := make([]float32, p), make([]float32, RefinerHidden*p)
	r.Forward(&k, out, hid, in, gh, gw)
	grad := NewRefinerZero()
	r.Backward(&k, grad, nil, dOut, hid, in, gh, gw, nil)
	w0 := make([]float64, len(r.W0))
	for i, v := range r.W0 {
		w0[i] = float64(v)
	}
	f64 := func(v []float32) []float64 {
		o := make([]float64, len(v))
		for i, x := range v {
			o[i] = float64(x)
		}
		return o
	}
	b0, w2, b2, in64 := f64(r.B0), f64(r.W2), f64(r.B2), f64(in)
	for j := 0; j < 9; j++ {
		i := 3*9 + j
		old := w0[i]
		const h = 1e-11 // keeps |sum| < 1e-8 and moves hidden pre-activations by only ~1e-3
		w0[i] = old + h
		lp := refinerLoss64(w0, b0, w2, b2, in64, dOut, gh, gw)
		w0[i] = old - h
		lm := refinerLoss64(w0, b0, w2, b2, in64, dOut, gh, gw)
		w0[i] = old
		fd := (lp - lm) / (2 * h)
		if g := float64(grad.W0[i]); math.Abs(g-fd) > 2e-3*math.Abs(fd)+1e-3 {
			t.Errorf("clamped slice dW0[3,%d] = %g, finite difference %g", j, g, fd)
		}
	}
}

func TestRefinerBatchMatchesSingle(t *testing.T) {
	rng := rand.New(rand.NewPCG(9, 10))
	r := refinerWellConditioned(rng)
	var k RefinerKernels
	r.Kernels(&k)
	const n, gh, gw = 5, 6, 7
	p := gh * gw
	in := refinerRandMap(rng, n*p)
	dOut := make([]float32, n*p)
	for i := range dOut {
		dOut[i] = float32(rng.NormFloat64())
	}
	out, hid := make([]float32, n*p), make([]float32, n*RefinerHidden*p)
	r.ForwardBatch(&k, out, hid, in, n, gh, gw)
	gb := NewRefinerZero()
	dInB := make([]float32, n*p)
	r.BackwardBatch(&k, gb, dInB, dOut, hid, in, n, gh, gw)

	gs := NewRefinerZero()
	for m := 0; m < n; m++ {
		o, h := make([]float32, p), make([]float32, RefinerHidden*p)
		r.Forward(&k, o, h, in[m*p:(m+1)*p], gh, gw)
		for i := range o {
			if o[i] != out[m*p+i] {
				t.Fatalf("map %d: batch out[%d] = %g, single %g", m, i, out[m*p+i], o[i])
			}
		}
		dIn := make([]float32, p)
		r.Backward(&k, gs, dIn, dOut[m*p:(m+1)*p], h, in[m*p:(m+1)*p], gh, gw, nil)
		for i := range dIn {
			if dIn[i] != dInB[m*p+i] {
				t.Fatalf("map %d: batch dIn[%d] = %g, single %g", m, i, dInB[m*p+i], dIn[i])
			}
		}
	}
	for k, p := range gb.Params() {
		q := gs.Params()[k]
		m := maxAbs32(q.Data)
		for i := range p.Data {
			if math.Abs(float64(p.Data[i]-q.Data[i])) > 1e-5*m {
				t.Fatalf("%s[%d]: batch %g, single %g", p.Name, i, p.Data[i], q.Data[i])
			}
		}
	}
}

func TestRefinerNoAlloc(t *testing.T) {
	rng := rand.New(rand.NewPCG(11, 12))
	r := refinerWellConditioned(rng)
	gh, gw := 9, 15
	p := gh * gw
	in, dOut := refinerRandMap(rng, p), refinerRandMap(rng, p)
	out, hid, dIn, scratch := make([]float32, p), make([]float32, RefinerHidden*p), make([]float32, p), make([]float32, RefinerScratchLen(gh, gw))
	grad := NewRefinerZero()
	var k RefinerKernels
	if a := testing.AllocsPerRun(10, func() {
		r.Kernels(&k)
		r.Forward(&k, out, hid, in, gh, gw)
		r.Backward(&k, grad, dIn, dOut, hid, in, gh, gw, scratch)
	}); a != 0 {
		t.Errorf("refiner forward+backward allocates %v times", a)
	}
}

func BenchmarkRefiner(b *testing.B) {
	rng := rand.New(rand.NewPCG(13, 14))
	r := refinerWellConditioned(rng)
	const gh, gw = 67, 121
	p := gh * gw
	in, dOut := refinerRandMap(rng, p), refinerRandMap(rng, p)
	out, hid, dIn, scratch := make([]float32, p), make([]float32, RefinerHidden*p), make([]float32, p), make([]float32, p)
	grad := NewRefinerZero()
	var k RefinerKernels
	r.Kernels(&k)
	b.Run("forward/naive/67x121", func(b *testing.B) {
		for b.Loop() {
			refinerForwardRef(r, out, hid, in, gh, gw)
		}
	})
	b.Run("forward/fast/67x121", func(b *testing.B) {
		for b.Loop() {
			r.Forward(&k, out, hid, in, gh, gw)
		}
	})
	b.Run("backward/fast/67x121", func(b *testing.B) {
		r.Forward(&k, out, hid, in, gh, gw)
		for b.Loop() {
			r.Backward(&k, grad, dIn, dOut, hid, in, gh, gw, scratch)
		}
	})
}
