package flow

import (
	"context"
	"errors"
	"math"
	"runtime"
	"strings"
	"testing"

	"dinotracker/imgproc"
)

// texture is a smooth, non-periodic grey/colour pattern defined everywhere
// in the plane, so that shifted copies can be rendered exactly.
func texture(x, y float64) (r, g, b float64) {
	v := 0.0
	for k, f := range [][4]float64{
		{0.21, 0.05, 0.0, 30}, {-0.07, 0.17, 1.3, 28}, {0.11, -0.13, 2.1, 22},
		{0.31, 0.23, 0.4, 14}, {-0.27, 0.35, 4.0, 10}, {0.045, 0.03, 0.7, 26},
	} {
		v += f[3] * math.Sin(f[0]*x+f[1]*y+f[2]+float64(k))
	}
	return 128 + v, 128 + 0.8*v + 10*math.Sin(0.1*x), 128 - 0.5*v
}

// renderShifted renders the texture moved by (du, dv): pixel p of the
// result shows the texture at p − (du, dv), so the flow from the unshifted
// rendering to this one is (du, dv) everywhere.
func renderShifted(w, h int, du, dv float64) *imgproc.RGB8 {
	m := imgproc.NewRGB8(w, h)
	q := func(v float64) uint8 { return uint8(math.Round(math.Min(255, math.Max(0, v)))) }
	for y := 0; y < h; y++ {
		for x := 0; x < w; x++ {
			r, g, b := texture(float64(x)-du, float64(y)-dv)
			m.Set(x, y, q(r), q(g), q(b))
		}
	}
	return m
}

// interiorError returns the mean and max end-point error against the
// constant flow (du, dv) over pixels at least margin from the border.
func interiorError(f *Field, du, dv float64, margin int) (mean, worst float64) {
	n := 0
	for y := margin; y < f.H-margin; y++ {
		for x := margin; x < f.W-margin; x++ {
			u, v := f.At(x, y)
			e := math.Hypot(float64(u)-du, float64(v)-dv)
			mean += e
			worst = math.Max(worst, e)
			n++
		}
	}
	return mean / float64(n), worst
}

func TestEstimateTranslation(t *testing.T) {
	const w, h = 192, 144
	a := renderShifted(w, h, 0, 0)
	for _, d := range [][2]float64{{0.4, -0.3}, {3.3, -2.1}, {-11.6, 7.2}} {
		b := renderShifted(w, h, d[0], d[1])
		for _, p := range presets {
			f, err := Estimate(context.Background(), a, b, p.opt())
			if err != nil {
				t.Fatal(err)
			}
			if f.W != w || f.H != h {
				t.Fatalf("field is %d×%d", f.W, f.H)
			}
			margin := int(math.Ceil(math.Max(math.Abs(d[0]), math.Abs(d[1])))) + 4
			mean, worst := interiorError(f, d[0], d[1], margin)
			t.Logf("%s shift %v: interior EPE mean %.4f max %.4f", p.name, d, mean, worst)
			if mean > 0.05 || worst > 0.1 {
				t.Errorf("%s shift %v: interior EPE mean %.4f max %.4f, want ≤ 0.05 / 0.1", p.name, d, mean, worst)
			}
		}
	}
}

func TestEstimateZeroMotion(t *testing.T) {
	a := renderShifted(120, 90, 0, 0)
	for _, p := range presets {
		f, err := Estimate(context.Background(), a, a.Clone(), p.opt())
		if err != nil {
			t.Fatal(err)
		}
		mean, worst := interiorError(f, 0, 0, 0)
		if mean > 1e-3 || worst > 1e-2 {
			t.Errorf("%s: zero motion gives mean %.2g max %.2g", p.name, mean, worst)
		}
	}
}

func TestForwardBackward(t *testing.T) {
	a := renderShifted(160, 120, 0, 0)
	b := renderShifted(160, 120, 2.5, -1.5)
	opt := DefaultOptions()
	fwd, bwd, err := ForwardBackward(context.Background(), a, b, opt)
	if err != nil {
		t.Fatal(err)
	}
	single, err := Estimate(context.Background(), a, b, opt)
	if err != nil {
		t.Fatal(err)
	}
	for i := range fwd.U {
		if fwd.U[i] != single.U[i] || fwd.V[i] != single.V[i] {
			t.Fatalf("forward flow differs from Estimate at %d", i)
		}
	}
	if m, _ := interiorError(fwd, 2.5, -1.5, 8); m > 0.05 {
		t.Errorf("forward EPE %.3f", m)
	}
	if m, _ := interiorError(bwd, -2.5, 1.5, 8); m > 0.05 {
		t.Errorf("backward EPE %.3f", m)
	}
}

func TestEstimateEdgeCases(t *testing.T) {
	ctx := context.Background()
	opt := DefaultOptions()
	// Size mismatch names both sizes.
	_, err := Estimate(ctx, imgproc.NewRGB8(10, 8), imgproc.NewRGB8(8, 10), opt)
	if err == nil || !strings.Contains(err.Error(), "10×8") || !strings.Contains(err.Error(), "8×10") {
		t.Errorf("size mismatch error %v", err)
	}
	if _, _, err := ForwardBackward(ctx, imgproc.NewRGB8(10, 8), imgproc.NewRGB8(8, 10), opt); err == nil {
		t.Error("ForwardBackward accepted a size mismatch")
	}
	if _, err := Estimate(ctx, nil, imgproc.NewRGB8(1, 1), opt); err == nil {
		t.Error("nil image accepted")
	}
	if _, err := Estimate(ctx, imgproc.NewRGB8(0, 5), imgproc.NewRGB8(0, 5), opt); err == nil {
		t.Error("empty image accepted")
	}
	bad := &imgproc.RGB8{W: 4, H: 4, Pix: make([]uint8, 10)}
	if _, err := Estimate(ctx, bad, bad, opt); err == nil {
		t.Error("malformed image accepted")
	}
	o := opt
	o.Omega = 2.5
	if _, err := Estimate(ctx, imgproc.NewRGB8(4, 4), imgproc.NewRGB8(4, 4), o); err == nil {
		t.Error("Omega 2.5 accepted")
	}
	// Tiny and thin images: no panic, finite output of the right size.
	for _, sz := range [][2]int{{1, 1}, {7, 5}, {1, 40}, {40, 1}, {2, 2}, {8, 8}, {9, 17}, {33, 8}} {
		a := renderShifted(sz[0], sz[1], 0, 0)
		b := renderShifted(sz[0], sz[1], 0.5, 0.25)
		for _, p := range presets {
			f, err := Estimate(ctx, a, b, p.opt())
			if err != nil {
				t.Fatalf("%v %s: %v", sz, p.name, err)
			}
			if f.W != sz[0] || f.H != sz[1] {
				t.Fatalf("%v: field %d×%d", sz, f.W, f.H)
			}
			if err := f.Validate(false); err != nil {
				t.Errorf("%v %s: %v", sz, p.name, err)
			}
		}
	}
	// Cancellation.
	cctx, cancel := context.WithCancel(ctx)
	cancel()
	a := renderShifted(64, 48, 0, 0)
	if _, err := Estimate(cctx, a, a, opt); !errors.Is(err, context.Canceled) {
		t.Errorf("cancelled context: %v", err)
	}
	if _, _, err := ForwardBackward(cctx, a, a, opt); !errors.Is(err, context.Canceled) {
		t.Errorf("cancelled context: %v", err)
	}
}

func TestEPE(t *testing.T) {
	gt := NewField(3, 1)
	gt.U = []float32{1, float32(math.NaN()), 2e9}
	est := NewField(3, 1)
	est.V[0] = 1 // error at pixel 0: |(−1, 1)| = √2
	m, n := EPE(est, gt)
	if n != 1 || math.Abs(m-math.Sqrt2) > 1e-6 {
		t.Errorf("EPE = %v over %d, want √2 over 1", m, n)
	}
	if m, n := EPE(NewField(2, 2), gt); n != 0 || !math.IsNaN(m) {
		t.Errorf("size mismatch: %v, %d", m, n)
	}
	if m, n := EPE(est, nil); n != 0 || !math.IsNaN(m) {
		t.Errorf("nil: %v, %d", m, n)
	}
}

// TestDeterministic checks that the result does not depend on the number
// of workers: the patch search runs in fixed stripes and SOR in red-black
// order.
func TestDeterministic(t *testing.T) {
	a := renderShifted(150, 110, 0, 0)
	b := renderShifted(150, 110, 4.3, 1.7)
	ref, err := Estimate(context.Background(), a, b, AccurateOptions())
	if err != nil {
		t.Fatal(err)
	}
	old := runtime.GOMAXPROCS(1)
	defer runtime.GOMAXPROCS(old)
	for _, procs := range []int{1, 3} {
		runtime.GOMAXPROCS(procs)
		f, err := Estimate(context.Background(), a, b, AccurateOptions())
		if err != nil {
			t.Fatal(err)
		}
		for i := range f.U {
			if f.U[i] != ref.U[i] || f.V[i] != ref.V[i] {
				t.Fatalf("GOMAXPROCS=%d: vector %d differs", procs, i)
			}
		}
	}
}

func TestZeroOptionsIsDefault(t *testing.T) {
	a := renderShifted(64, 48, 0, 0)
	b := renderShifted(64, 48, 1, 0)
	f0, err := Estimate(context.Background(), a, b, Options{})
	if err != nil {
		t.Fatal(err)
	}
	f1, _ := Estimate(context.Background(), a, b, DefaultOptions())
	for i := range f0.U {
		if f0.U[i] != f1.U[i] || f0.V[i] != f1.V[i] {
			t.Fatal("zero Options differs from DefaultOptions")
		}
	}
}
