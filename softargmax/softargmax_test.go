package softargmax

import (
	"math"
	"math/rand/v2"
	"testing"
)

func TestArgmax(t *testing.T) {
	nan := float32(math.NaN())
	for _, tc := range []struct {
		m    []float32
		want int
	}{
		{nil, -1},
		{[]float32{3}, 0},
		{[]float32{0, 0, 0}, 0}, // all-zero ReLU cost: first index
		{[]float32{1, 5, 5, 2}, 1},
		{[]float32{-3, -1, -2}, 1},
		{[]float32{1, nan, 7}, 1},
		{[]float32{nan, 7}, 0},
	} {
		if got := Argmax(tc.m); got != tc.want {
			t.Errorf("Argmax(%v) = %d, want %d", tc.m, got, tc.want)
		}
	}
}

func randLogits(r *rand.Rand, n int, scale float64) []float32 {
	v := make([]float32, n)
	for i := range v {
		v[i] = float32(scale * r.NormFloat64())
	}
	return v
}

func TestSoftmaxMatchesRef(t *testing.T) {
	r := rand.New(rand.NewPCG(1, 1))
	for _, n := range []int{1, 2, 17, 135, 8107} {
		for _, scale := range []float64{0.1, 3, 300} {
			z := randLogits(r, n, scale)
			want := make([]float32, n)
			SoftmaxRef(want, z)
			got := make([]float32, n+1)
			got[n] = 42
			Softmax(got, z)
			var s float64
			for i := range want {
				if d := math.Abs(float64(got[i] - want[i])); d > 3e-7*float64(want[i])+1e-40 {
					t.Fatalf("n=%d scale=%g: p[%d] = %g, want %g", n, scale, i, got[i], want[i])
				}
				s += float64(got[i])
			}
			if math.Abs(s-1) > 1e-5 || got[n] != 42 {
				t.Fatalf("n=%d scale=%g: Σp = %g (guard %g)", n, scale, s, got[n])
			}
			// Shift invariance, and dst aliasing logits.
			for i := range z {
				z[i] += 1000
			}
			Softmax(z, z)
			for i := range want {
				if math.Abs(float64(z[i]-want[i])) > 1e-3*float64(want[i])+1e-12 {
					t.Fatalf("n=%d scale=%g: shifted in-place p[%d] = %g, want %g", n, scale, i, z[i], want[i])
				}
			}
		}
	}
}

func TestWindowCountAndMask(t *testing.T) {
	g := DefaultGrid(67, 121)
	mask := make([]bool, g.Size())
	// Interior: integer (a, b) with a² + b² ≤ 25 → 81 tokens.
	c := 30*121 + 60
	if n := WindowMask(mask, g, c); n != 81 {
		t.Errorf("interior window holds %d tokens, want 81", n)
	}
	// Corner: a, b ≥ 0 with a² + b² ≤ 25 → 26 tokens.
	if n := WindowMask(mask, g, 0); n != 26 {
		t.Errorf("corner window holds %d tokens, want 26", n)
	}
	// Distance exactly 35 px (5 tokens along an axis, or (3, 4)) is inside.
	for _, d := range [][2]int{{5, 0}, {0, -5}, {3, 4}, {-4, 3}} {
		if d[0] >= 0 && d[1] >= 0 && !mask[d[0]*121+d[1]] {
			t.Errorf("token offset %v from the corner should be inside", d)
		}
		if !g.inWindow(30+d[0], 60+d[1], 30, 60) {
			t.Errorf("offset %v (35 px) should be inside", d)
		}
	}
	if g.inWindow(30+5, 60+1, 30, 60) {
		t.Error("offset (5, 1) (35.7 px) should be outside")
	}
}

func TestWindowMatchesRef(t *testing.T) {
	r := rand.New(rand.NewPCG(2, 2))
	for _, hw := range [][2]int{{9, 15}, {67, 121}, {1, 1}, {3, 40}} {
		g := DefaultGrid(hw[0], hw[1])
		for trial := 0; trial < 20; trial++ {
			p := make([]float32, g.Size())
			Softmax(p, randLogits(r, g.Size(), 2))
			center := r.IntN(g.Size())
			if trial == 0 {
				center = 0
			} else if trial == 1 {
				center = g.Size() - 1
			}
			got, want := Window(p, g, center), WindowRef(p, g, center)
			if got.Count != want.Count || got.Fallback != want.Fallback || got.Center != want.Center {
				t.Fatalf("%v centre %d: %+v, want %+v", hw, center, got, want)
			}
			if math.Abs(got.X-want.X) > 1e-9 || math.Abs(got.Y-want.Y) > 1e-9 ||
				math.Abs(got.Mass-want.Mass) > 1e-12 || math.Abs(got.Sum-want.Sum) > 1e-12 {
				t.Fatalf("%v centre %d: %+v, want %+v", hw, center, got, want)
			}
			// The estimate lies in the window's bounding box.
			x0, y0 := g.Centre(center)
			if math.Abs(got.X-x0) > g.Radius+1e-9 || math.Abs(got.Y-y0) > g.Radius+1e-9 {
				t.Fatalf("estimate (%g, %g) outside the window around (%g, %g)", got.X, got.Y, x0, y0)
			}
		}
	}
}

// TestWindowFallback puts all the mass far from the window: the estimate is
// the centroid of the window token centres and the logit gradient is
// negligible.
func TestWindowFallback(t *testing.T) {
	g := DefaultGrid(67, 121)
	z := make([]float32, g.Size())
	z[66*121+120] = 100 // softmax ≈ e^-100 ≈ 4e-44 elsewhere
	p := make([]float32, g.Size())
	Softmax(p, z)
	for _, center := range []int{0, 30*121 + 60, 66 * 121} {
		res := Window(p, g, center)
		if !res.Fallback || res.Mass >= MassEps {
			t.Fatalf("centre %d: %+v, want the fallback", center, res)
		}
		var sx, sy float64
		mask := make([]bool, g.Size())
		n := WindowMask(mask, g, center)
		for i, in := range mask {
			if in {
				x, y := g.Centre(i)
				sx += x
				sy += y
			}
		}
		if math.Abs(res.X-sx/float64(n)) > 1e-9 || math.Abs(res.Y-sy/float64(n)) > 1e-9 {
			t.Errorf("centre %d: fallback estimate (%g, %g), want the centroid (%g, %g)", center, res.X, res.Y, sx/float64(n), sy/float64(n))
		}
		dz := make([]float32, g.Size())
		WindowBackward(dz, p, g, res, 1, -1)
		for i, v := range dz {
			if math.Abs(float64(v)) > 1e-6 {
				t.Fatalf("centre %d: fallback logit gradient[%d] = %g", center, i, v)
			}
		}
	}
}

// win64 is a float64 softmax + window soft-argmax for finite differences.
func win64(z []float64, g Grid, center int, a, b float64) float64 {
	m := math.Inf(-1)
	for _, v := range z {
		m = math.Max(m, v)
	}
	var s float64
	p := make([]float64, len(z))
	for i, v := range z {
		p[i] = math.Exp(v - m)
		s += p[i]
	}
	cx, cy := g.Centre(center)
	var ws, wx, wy float64
	for i := range p {
		x, y := g.Centre(i)
		if (x-cx)*(x-cx)+(y-cy)*(y-cy) <= g.Radius*g.Radius {
			ws += p[i] / s
			wx += p[i] / s * x
			wy += p[i] / s * y
		}
	}
	return a*wx/ws + b*wy/ws
}

func TestWindowBackwardFiniteDiff(t *testing.T) {
	r := rand.New(rand.NewPCG(3, 3))
	g := DefaultGrid(9, 15)
	z := randLogits(r, g.Size(), 1.5)
	p := make([]float32, g.Size())
	Softmax(p, z)
	for _, center := range []int{0, 4*15 + 7, 8*15 + 3} {
		a, b := 0.7, -1.3
		res := Window(p, g, center)
		got := make([]float32, g.Size())
		WindowBackward(got, p, g, res, a, b)
		ref := make([]float32, g.Size())
		WindowBackwardRef(ref, p, g, res, a, b)
		z64 := make([]float64, len(z))
		for i, v := range z {
			z64[i] = float64(v)
		}
		for i := range z64 {
			old := z64[i]
			const h = 1e-5
			z64[i] = old + h
			lp := win64(z64, g, center, a, b)
			z64[i] = old - h
			lm := win64(z64, g, center, a, b)
			z64[i] = old
			fd := (lp - lm) / (2 * h)
			if math.Abs(fd-float64(got[i])) > 1e-4*math.Max(1, math.Abs(fd)) {
				t.Errorf("centre %d: dz[%d] = %g, finite difference %g", center, i, got[i], fd)
			}
			if math.Abs(float64(ref[i]-got[i])) > 1e-6*math.Max(1, math.Abs(fd)) {
				t.Errorf("centre %d: dz[%d] = %g, reference %g", center, i, got[i], ref[i])
			}
		}
	}
}

func TestSoftmaxBackward(t *testing.T) {
	r := rand.New(rand.NewPCG(4, 4))
	z := randLogits(r, 33, 1)
	dp := randLogits(r, 33, 1)
	p := make([]float32, 33)
	Softmax(p, z)
	got := make([]float32, 33)
	SoftmaxBackward(got, p, dp)
	loss := func(z []float64) float64 {
		m := math.Inf(-1)
		for _, v := range z {
			m = math.Max(m, v)
		}
		var s, l float64
		for _, v := range z {
			s += math.Exp(v - m)
		}
		for i, v := range z {
			l += float64(dp[i]) * math.Exp(v-m) / s
		}
		return l
	}
	z64 := make([]float64, 33)
	for i, v := range z {
		z64[i] = float64(v)
	}
	for i := range z64 {
		old := z64[i]
		z64[i] = old + 1e-6
		lp := loss(z64)
		z64[i] = old - 1e-6
		lm := loss(z64)
		z64[i] = old
		if fd := (lp - lm) / 2e-6; math.Abs(fd-float64(got[i])) > 1e-5 {
			t.Errorf("dz[%d] = %g, finite difference %g", i, got[i], fd)
		}
	}
}

func BenchmarkSoftArgmax(b *testing.B) {
	g := DefaultGrid(67, 121)
	r := rand.New(rand.NewPCG(5, 5))
	z := randLogits(r, g.Size(), 2)
	p := make([]float32, g.Size())
	dz := make([]float32, g.Size())
	center := 30*121 + 60
	b.Run("softmax/naive/67x121", func(b *testing.B) {
		for b.Loop() {
			SoftmaxRef(p, z)
		}
	})
	b.Run("softmax/fast/67x121", func(b *testing.B) {
		for b.Loop() {
			Softmax(p, z)
		}
	})
	b.Run("window/naive/67x121", func(b *testing.B) {
		for b.Loop() {
			WindowRef(p, g, center)
		}
	})
	b.Run("window/fast/67x121", func(b *testing.B) {
		for b.Loop() {
			Window(p, g, center)
		}
	})
	res := Window(p, g, center)
	b.Run("backward/naive/67x121", func(b *testing.B) {
		for b.Loop() {
			WindowBackwardRef(dz, p, g, res, 1, 1)
		}
	})
	b.Run("backward/fast/67x121", func(b *testing.B) {
		for b.Loop() {
			WindowBackward(dz, p, g, res, 1, 1)
		}
	})
	b.Run("argmax/67x121", func(b *testing.B) {
		for b.Loop() {
			Argmax(z)
		}
	})
}

// TestArgmaxMaxMatchRef checks Argmax and Max (with the kernel where the
// build has one) against their plain loops on lengths around the kernel's
// 8-value steps, with ties, ±0, ±Inf and NaNs in the kernel's part and in
// the tail.
func TestArgmaxMaxMatchRef(t *testing.T) {
	r := rand.New(rand.NewPCG(11, 12))
	nan, inf := float32(math.NaN()), float32(math.Inf(1))
	negz := float32(math.Copysign(0, -1))
	same := func(a, b float32) bool {
		return math.Float32bits(a) == math.Float32bits(b) || (a != a && b != b)
	}
	for _, n := range []int{1, 7, 8, 9, 16, 23, 121, 8107} {
		for trial := 0; trial < 40; trial++ {
			m := make([]float32, n)
			for i := range m {
				m[i] = float32(r.IntN(7)) - 3 // many ties
			}
			switch trial % 8 {
			case 1:
				m[r.IntN(n)] = nan
			case 2:
				m[n-1] = nan
			case 3:
				for i := range m {
					m[i] = negz
				}
				m[r.IntN(n)] = 0
			case 4:
				for i := range m {
					m[i] = float32(math.Inf(-1))
				}
			case 5:
				m[r.IntN(n)] = inf
				m[r.IntN(n)] = inf
			case 6:
				for i := range m {
					m[i] = negz
				}
			case 7:
				for i := range m {
					m[i] = float32(r.NormFloat64())
				}
			}
			if got, want := Argmax(m), ArgmaxRef(m); got != want {
				t.Fatalf("n=%d trial %d: Argmax = %d, ArgmaxRef = %d", n, trial, got, want)
			}
			if got, want := Max(m), MaxRef(m); !same(got, want) {
				t.Fatalf("n=%d trial %d: Max = %v (%#x), MaxRef = %v (%#x)", n, trial, got, math.Float32bits(got), want, math.Float32bits(want))
			}
		}
	}
	if Argmax(nil) != -1 || !math.IsInf(float64(Max(nil)), -1) {
		t.Fatal("empty map: want Argmax -1 and Max −Inf")
	}
}
