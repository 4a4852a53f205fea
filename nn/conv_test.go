package nn

import (
	"dinotracker/gemm"
	"fmt"
	"math"
	"runtime"
	"testing"
)

// convCases covers the shapes Delta-DINO and the tracker head use (5×5
// reflect, dilation 2 reflect, BlurPool's asymmetric reflect + stride 2
// depthwise, 3×3 zero padding) plus edge cases.
var convCases = []struct {
	name string
	s    ConvShape
}{
	{"5x5-reflect-p2", ConvShape{N: 2, Cin: 3, H: 9, W: 8, Cout: 4, KH: 5, KW: 5, Mode: PadReflect}.Pad(2)},
	{"5x5-reflect-dil2-p4", ConvShape{N: 2, Cin: 3, H: 9, W: 11, Cout: 5, KH: 5, KW: 5, Dilation: 2, Mode: PadReflect}.Pad(4)},
	{"3x3-zeros-p1", ConvShape{N: 1, Cin: 2, H: 6, W: 7, Cout: 3, KH: 3, KW: 3}.Pad(1)},
	{"1x1-image-zeros-p1", ConvShape{N: 2, Cin: 2, H: 1, W: 1, Cout: 3, KH: 3, KW: 3}.Pad(1)},
	{"1x1-image-no-pad-1x1-kernel", ConvShape{N: 2, Cin: 3, H: 1, W: 1, Cout: 2, KH: 1, KW: 1}},
	{"stride2-odd-zeros", ConvShape{N: 2, Cin: 2, H: 7, W: 9, Cout: 3, KH: 3, KW: 3, Stride: 2}.Pad(1)},
	{"stride2-odd-reflect-p2", ConvShape{N: 1, Cin: 2, H: 7, W: 5, Cout: 2, KH: 5, KW: 5, Stride: 2, Mode: PadReflect}.Pad(2)},
	{"stride3-no-pad", ConvShape{N: 1, Cin: 2, H: 10, W: 8, Cout: 2, KH: 2, KW: 3, Stride: 3}},
	{"pad-larger-than-kernel-zeros", ConvShape{N: 1, Cin: 1, H: 3, W: 4, Cout: 2, KH: 2, KW: 2}.Pad(3)},
	{"blurpool-depthwise", ConvShape{N: 2, Cin: 3, H: 7, W: 9, Cout: 3, KH: 4, KW: 4, Stride: 2, Groups: 3, Mode: PadReflect,
		PadLeft: 1, PadRight: 2, PadTop: 1, PadBottom: 2}},
	{"depthwise-zeros-dil2", ConvShape{N: 2, Cin: 4, H: 6, W: 5, Cout: 4, KH: 3, KW: 3, Dilation: 2, Groups: 4}.Pad(2)},
	{"groups2", ConvShape{N: 2, Cin: 4, H: 5, W: 6, Cout: 6, KH: 3, KW: 3, Groups: 2, Mode: PadReflect}.Pad(1)},
	{"groups-depth-multiplier", ConvShape{N: 1, Cin: 2, H: 5, W: 5, Cout: 4, KH: 3, KW: 3, Groups: 2}.Pad(1)},
	{"1x1-kernel-direct", ConvShape{N: 2, Cin: 3, H: 4, W: 5, Cout: 4, KH: 1, KW: 1}},
	{"asym-reflect", ConvShape{N: 1, Cin: 2, H: 5, W: 6, Cout: 2, KH: 3, KW: 2, Mode: PadReflect,
		PadLeft: 0, PadRight: 3, PadTop: 2, PadBottom: 1}},
}

func TestConv2dForwardBackward(t *testing.T) {
	for ci, tc := range convCases {
		for _, maxCol := range []int{0, 7} { // 7 forces one output row per band
			t.Run(fmt.Sprintf("%s/maxcol=%d", tc.name, maxCol), func(t *testing.T) {
				s := tc.s.norm()
				r := newRand(uint64(100 + ci))
				x := randSlice(r, s.InLen(), -1, 1)
				w := randSlice(r, s.WeightLen(), -1, 1)
				b := randSlice(r, s.Cout, -1, 1)
				rr := f64s(randSlice(r, s.OutLen(), -1, 1))
				ws := &ConvWorkspace{MaxCol: maxCol}
				out := make([]float32, s.OutLen())
				Conv2dForward(out, x, w, b, s, ws)
				checkForward(t, "conv", out, convRef(f64s(x), f64s(w), f64s(b), s), 1e-5)

				// Accumulation: start the gradients from a known value.
				dx, dw, db := make([]float32, len(x)), make([]float32, len(w)), make([]float32, len(b))
				for i := range dx {
					dx[i] = 0.5
				}
				dout := make([]float32, len(rr))
				for i, v := range rr {
					dout[i] = float32(v)
				}
				Conv2dBackward(dx, dw, db, dout, x, w, s, ws)
				for i := range dx {
					dx[i] -= 0.5
				}
				w64, x64, b64 := f64s(w), f64s(x), f64s(b)
				checkGrad(t, tc.name+"/dx", dx, x, 1e-4, func(v []float64) float64 { return dot64(convRef(v, w64, b64, s), rr) })
				checkGrad(t, tc.name+"/dw", dw, w, 1e-4, func(v []float64) float64 { return dot64(convRef(x64, v, b64, s), rr) })
				checkGrad(t, tc.name+"/db", db, b, 1e-4, func(v []float64) float64 { return dot64(convRef(x64, w64, v, s), rr) })

				// nil bias and nil gradient buffers are allowed.
				Conv2dForward(out, x, w, nil, s, nil)
				checkForward(t, "conv-nobias", out, convRef(x64, w64, nil, s), 1e-5)
				dx2 := make([]float32, len(x))
				Conv2dBackward(dx2, nil, nil, dout, x, w, s, nil)
				checkForward(t, "dx-only", dx2, f64s(dx), 1e-6)
			})
		}
	}
}

func TestConv2dShapePanics(t *testing.T) {
	bad := []ConvShape{
		{N: 1, Cin: 3, H: 2, W: 5, Cout: 2, KH: 3, KW: 3, Mode: PadReflect, PadTop: 2, PadBottom: 2}, // reflect pad ≥ H
		{N: 1, Cin: 3, H: 5, W: 5, Cout: 2, KH: 3, KW: 3, Groups: 2},                                 // Cin % groups
		{N: 1, Cin: 1, H: 2, W: 2, Cout: 1, KH: 3, KW: 3},                                            // empty output
	}
	for i, s := range bad {
		func() {
			defer func() {
				if recover() == nil {
					t.Errorf("case %d: no panic for %+v", i, s)
				}
			}()
			s := s.norm()
			Conv2dForward(make([]float32, 100), make([]float32, 100), make([]float32, 100), nil, s, nil)
		}()
	}
}

func TestConv2dNoAllocs(t *testing.T) {
	if raceEnabled {
		t.Skip("the race detector drops sync.Pool items (gemm's packing buffers)")
	}
	s := ConvShape{N: 2, Cin: 8, H: 32, W: 32, Cout: 8, KH: 5, KW: 5, Mode: PadReflect}.Pad(2)
	r := newRand(7)
	x, w := randSlice(r, s.InLen(), -1, 1), randSlice(r, s.WeightLen(), -1, 1)
	out := make([]float32, s.OutLen())
	dx, dw := make([]float32, len(x)), make([]float32, len(w))
	ws := new(ConvWorkspace)
	Conv2dForward(out, x, w, nil, s, ws)
	Conv2dBackward(dx, dw, nil, out, x, w, s, ws)
	// parallel.For starts goroutines (small closure allocations, more with
	// more cores); the im2col buffers (800 KB here) must be reused.
	// A garbage collection may empty gemm's sync.Pool of packing buffers
	// during a trial, so the best of several trials is compared.
	per := uint64(math.MaxUint64)
	for range 5 {
		var m0, m1 runtime.MemStats
		runtime.ReadMemStats(&m0)
		for range 3 {
			Conv2dForward(out, x, w, nil, s, ws)
			Conv2dBackward(dx, dw, nil, out, x, w, s, ws)
		}
		runtime.ReadMemStats(&m1)
		per = min(per, (m1.TotalAlloc-m0.TotalAlloc)/3)
	}
	if per > 64<<10 {
		t.Errorf("Conv2d forward+backward allocate %d bytes per call with a warm workspace", per)
	}
}

// im2colRef builds the whole im2col matrix of image n (group 0) with a
// plain loop: col[(ci·KH+ky)·KW+kx][oy·OW+ox].
func im2colRef(x []float32, s ConvShape, n int) []float32 {
	oh, ow := s.OutH(), s.OutW()
	cinG := s.Cin / s.Groups
	k := cinG * s.KH * s.KW
	col := make([]float32, k*oh*ow)
	for ci := 0; ci < cinG; ci++ {
		for ky := 0; ky < s.KH; ky++ {
			for kx := 0; kx < s.KW; kx++ {
				r := (ci*s.KH+ky)*s.KW + kx
				for oy := 0; oy < oh; oy++ {
					iy := padIndex(oy*s.Stride-s.PadTop+ky*s.Dilation, s.H, s.Mode)
					for ox := 0; ox < ow; ox++ {
						ix := padIndex(ox*s.Stride-s.PadLeft+kx*s.Dilation, s.W, s.Mode)
						if iy >= 0 && ix >= 0 {
							col[r*oh*ow+oy*ow+ox] = x[((n*s.Cin+ci)*s.H+int(iy))*s.W+int(ix)]
						}
					}
				}
			}
		}
	}
	return col
}

// TestConv2dImplicitGEMM checks the implicit-GEMM convolution (im2col
// gathered into the packed panels) against an explicit im2col matrix and
// gemm.MatMulKernel (the same kernel, in every build) on shapes that cross
// the GEMM's blocks (k > KC, more output pixels than one panel, several
// pixel bands in the weight gradient): forward and weight gradient bit for
// bit, input gradient to rounding.
func TestConv2dImplicitGEMM(t *testing.T) {
	shapes := []ConvShape{
		ConvShape{N: 2, Cin: 12, H: 23, W: 97, Cout: 40, KH: 5, KW: 5, Mode: PadReflect}.Pad(2),
		ConvShape{N: 1, Cin: 16, H: 30, W: 41, Cout: 70, KH: 5, KW: 5, Dilation: 2, Mode: PadReflect}.Pad(4),
		ConvShape{N: 1, Cin: 3, H: 40, W: 60, Cout: 8, KH: 3, KW: 3, Stride: 2}.Pad(1),
	}
	if testing.Short() {
		shapes = shapes[:1]
	}
	for si, s := range shapes {
		s = s.norm()
		r := newRand(uint64(200 + si))
		x := randSlice(r, s.InLen(), -1, 1)
		w := randSlice(r, s.WeightLen(), -1, 1)
		dout := randSlice(r, s.OutLen(), -1, 1)
		oh, ow := s.OutH(), s.OutW()
		ohw, k := oh*ow, s.Cin*s.KH*s.KW
		ws := &ConvWorkspace{MaxCol: 3 * k * ow} // three output rows per dx band
		out := make([]float32, s.OutLen())
		Conv2dForward(out, x, w, nil, s, ws)
		dw := make([]float32, len(w))
		dx := make([]float32, len(x))
		Conv2dBackward(dx, dw, nil, dout, x, w, s, ws)

		wantDW := make([]float32, len(w))
		for n := 0; n < s.N; n++ {
			col := im2colRef(x, s, n)
			want := make([]float32, s.Cout*ohw)
			gemm.MatMulKernel(false, false, s.Cout, ohw, k, 1, w, k, col, ohw, 0, want, ohw)
			for i, v := range want {
				if got := out[n*s.Cout*ohw+i]; math.Float32bits(got) != math.Float32bits(v) {
					t.Fatalf("shape %d image %d: out[%d] = %v, im2col+MatMul %v", si, n, i, got, v)
				}
			}
			gemm.MatMulKernel(false, true, s.Cout, k, ohw, 1, dout[n*s.Cout*ohw:], ohw, col, ohw, 1, wantDW, k)
		}
		for i := range dw {
			if math.Float32bits(dw[i]) != math.Float32bits(wantDW[i]) {
				t.Fatalf("shape %d: dw[%d] = %v, im2col+MatMul %v", si, i, dw[i], wantDW[i])
			}
		}
		// dx against the adjoint of the convolution in float64.
		ref := make([]float64, len(x))
		for n := 0; n < s.N; n++ {
			for co := 0; co < s.Cout; co++ {
				for ci := 0; ci < s.Cin; ci++ {
					for ky := 0; ky < s.KH; ky++ {
						for kx := 0; kx < s.KW; kx++ {
							wv := float64(w[((co*s.Cin+ci)*s.KH+ky)*s.KW+kx])
							for oy := 0; oy < oh; oy++ {
								iy := padIndex(oy*s.Stride-s.PadTop+ky*s.Dilation, s.H, s.Mode)
								if iy < 0 {
									continue
								}
								for ox := 0; ox < ow; ox++ {
									ix := padIndex(ox*s.Stride-s.PadLeft+kx*s.Dilation, s.W, s.Mode)
									if ix >= 0 {
										ref[((n*s.Cin+ci)*s.H+int(iy))*s.W+int(ix)] += wv * float64(dout[((n*s.Cout+co)*oh+oy)*ow+ox])
									}
								}
							}
						}
					}
				}
			}
		}
		checkForward(t, "dx", dx, ref, 1e-5)
	}
}

// TestConv2dBackwardInPlace checks that dx = x (the input overwritten by
// its gradient) gives the same dw, db and dx bits as separate buffers, for
// an implicit-GEMM conv and a direct (1×1) one.
func TestConv2dBackwardInPlace(t *testing.T) {
	for si, s := range []ConvShape{
		ConvShape{N: 2, Cin: 6, H: 13, W: 29, Cout: 10, KH: 5, KW: 5, Mode: PadReflect}.Pad(2),
		{N: 2, Cin: 8, H: 9, W: 11, Cout: 5, KH: 1, KW: 1},
	} {
		s = s.norm()
		r := newRand(uint64(300 + si))
		x := randSlice(r, s.InLen(), -1, 1)
		w := randSlice(r, s.WeightLen(), -1, 1)
		dout := randSlice(r, s.OutLen(), -1, 1)
		dw, db, dx := make([]float32, len(w)), make([]float32, s.Cout), make([]float32, len(x))
		Conv2dBackward(dx, dw, db, dout, x, w, s, nil)
		dw2, db2 := make([]float32, len(w)), make([]float32, s.Cout)
		xi := append([]float32(nil), x...)
		Conv2dBackward(xi, dw2, db2, dout, xi, w, s, nil)
		for name, p := range map[string][2][]float32{"dw": {dw, dw2}, "db": {db, db2}, "dx": {dx, xi}} {
			for i := range p[0] {
				if math.Float32bits(p[0][i]) != math.Float32bits(p[1][i]) {
					t.Fatalf("shape %d: in place %s[%d] = %v, separate %v", si, name, i, p[1][i], p[0][i])
				}
			}
		}
	}
}
