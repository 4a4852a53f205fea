package nn

import (
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
