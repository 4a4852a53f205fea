package nn

import (
	"fmt"
	"math"
	"runtime"
	"testing"
)

// depthwiseCases: depthwise shapes (Groups = Cin = Cout) over strides 1–3,
// dilations 1–2, zero and reflect padding (symmetric and asymmetric, e.g.
// BlurPool's [1, 2, 1, 2]), tiny and odd images, N > 1, and shapes where
// some taps never meet an in-bounds column or row.
var depthwiseCases = []struct {
	name string
	s    ConvShape
}{
	{"blurpool-7x9", BlurPoolShape(2, 3, 7, 9)},
	{"blurpool-8x10", BlurPoolShape(1, 2, 8, 10)},
	{"blurpool-3x3", BlurPoolShape(3, 2, 3, 3)},
	{"blurpool-3x40", BlurPoolShape(1, 2, 3, 40)},
	{"blurpool-37x65", BlurPoolShape(1, 2, 37, 65)},
	{"3x3-zeros-p1-s1", dwShape(2, 3, 6, 7, 3, 3, 1, 1, PadZeros).Pad(1)},
	{"3x3-reflect-p1-s1", dwShape(1, 2, 5, 33, 3, 3, 1, 1, PadReflect).Pad(1)},
	{"5x5-reflect-p2-s1", dwShape(2, 2, 9, 8, 5, 5, 1, 1, PadReflect).Pad(2)},
	{"5x5-reflect-dil2-p4", dwShape(1, 2, 9, 11, 5, 5, 1, 2, PadReflect).Pad(4)},
	{"3x3-zeros-dil2-p2", dwShape(2, 4, 6, 5, 3, 3, 1, 2, PadZeros).Pad(2)},
	{"3x3-zeros-s2-p1", dwShape(2, 2, 7, 9, 3, 3, 2, 1, PadZeros).Pad(1)},
	{"5x5-reflect-s2-p2", dwShape(1, 2, 7, 5, 5, 5, 2, 1, PadReflect).Pad(2)},
	{"3x3-reflect-s2-dil2-p2", dwShape(1, 3, 11, 13, 3, 3, 2, 2, PadReflect).Pad(2)},
	{"4x4-zeros-s2-dil2-asym", withPads(dwShape(2, 2, 10, 12, 4, 4, 2, 2, PadZeros), 0, 3, 2, 1)},
	{"2x3-kernel-s3-nopad", dwShape(1, 2, 10, 8, 2, 3, 3, 1, PadZeros)},
	{"3x3-s3-zeros-p1", dwShape(2, 2, 7, 17, 3, 3, 3, 1, PadZeros).Pad(1)},
	{"1x1-kernel", dwShape(2, 3, 4, 5, 1, 1, 1, 1, PadZeros)},
	{"1x1-kernel-s2-reflect-p1", dwShape(1, 2, 5, 6, 1, 1, 2, 1, PadReflect).Pad(1)},
	{"3x1-kernel-reflect", withPads(dwShape(1, 2, 6, 4, 3, 1, 1, 1, PadReflect), 0, 0, 1, 1)},
	{"1x5-kernel-zeros", withPads(dwShape(1, 2, 3, 9, 1, 5, 1, 1, PadZeros), 2, 2, 0, 0)},
	{"1x1-image-3x3-zeros-p1", dwShape(2, 2, 1, 1, 3, 3, 1, 1, PadZeros).Pad(1)},
	{"1x1-image-5x5-zeros-p2-s2", dwShape(1, 3, 1, 1, 5, 5, 2, 1, PadZeros).Pad(2)},
	{"2x3-image-reflect-p1", dwShape(2, 2, 2, 3, 3, 3, 1, 1, PadReflect).Pad(1)},
	{"2x3-image-reflect-asym-s2", withPads(dwShape(1, 2, 2, 3, 2, 2, 2, 1, PadReflect), 1, 2, 1, 0)},
	{"2x3-image-zeros-p3-s2", dwShape(1, 2, 2, 3, 3, 3, 2, 1, PadZeros).Pad(3)},
	{"pad-larger-than-kernel-zeros", dwShape(1, 2, 3, 4, 2, 2, 1, 1, PadZeros).Pad(3)},
	{"1-wide-5x5-zeros-p2", dwShape(1, 2, 6, 1, 5, 5, 1, 1, PadZeros).Pad(2)},
	{"2-wide-5x5-dil2-zeros-p4", dwShape(1, 2, 5, 2, 5, 5, 1, 2, PadZeros).Pad(4)},
	{"asym-reflect-s1", withPads(dwShape(1, 2, 5, 6, 3, 2, 1, 1, PadReflect), 0, 3, 2, 1)},
	{"unread-tail-s2", dwShape(1, 2, 8, 9, 2, 2, 2, 1, PadZeros)},
}

// dwShape returns a depthwise shape without padding.
func dwShape(n, c, h, w, kh, kw, stride, dil int, mode PadMode) ConvShape {
	return ConvShape{N: n, Cin: c, H: h, W: w, Cout: c, KH: kh, KW: kw, Stride: stride, Dilation: dil, Groups: c, Mode: mode}
}

// withPads sets the four paddings (left, right, top, bottom).
func withPads(s ConvShape, l, r, t, b int) ConvShape {
	s.PadLeft, s.PadRight, s.PadTop, s.PadBottom = l, r, t, b
	return s
}

// depthwiseGradRef returns the float64 input and weight gradients of the
// depthwise convolution for dout dy, and for each value the sum of the
// absolute values of its terms (the scale of its rounding error).
func depthwiseGradRef(x, w, dy []float64, s ConvShape) (dx, dw, dxAbs, dwAbs []float64) {
	s = s.norm()
	oh, ow, kk := s.OutH(), s.OutW(), s.KH*s.KW
	dx, dxAbs = make([]float64, len(x)), make([]float64, len(x))
	dw, dwAbs = make([]float64, len(w)), make([]float64, len(w))
	for n := 0; n < s.N; n++ {
		for c := 0; c < s.Cin; c++ {
			p := n*s.Cin + c
			for oy := 0; oy < oh; oy++ {
				for ox := 0; ox < ow; ox++ {
					g := dy[(p*oh+oy)*ow+ox]
					for ky := 0; ky < s.KH; ky++ {
						iy := refPad(oy*s.Stride-s.PadTop+ky*s.Dilation, s.H, s.Mode)
						for kx := 0; kx < s.KW; kx++ {
							ix := refPad(ox*s.Stride-s.PadLeft+kx*s.Dilation, s.W, s.Mode)
							if iy < 0 || ix < 0 {
								continue
							}
							xi, wi := (p*s.H+iy)*s.W+ix, c*kk+ky*s.KW+kx
							dx[xi] += w[wi] * g
							dxAbs[xi] += math.Abs(w[wi] * g)
							dw[wi] += x[xi] * g
							dwAbs[wi] += math.Abs(x[xi] * g)
						}
					}
				}
			}
		}
	}
	return
}

// depthwiseForwardAbs returns, per output, |b| plus the sum of the absolute
// values of its products (the scale of its rounding error).
func depthwiseForwardAbs(x, w, b []float64, s ConvShape) []float64 {
	ax, aw := make([]float64, len(x)), make([]float64, len(w))
	for i, v := range x {
		ax[i] = math.Abs(v)
	}
	for i, v := range w {
		aw[i] = math.Abs(v)
	}
	var ab []float64
	if b != nil {
		ab = make([]float64, len(b))
		for i, v := range b {
			ab[i] = math.Abs(v)
		}
	}
	return convRef(ax, aw, ab, s)
}

// dwErr returns max_i |got_i - want_i| / scale_i (0/0 counts as 0) and
// max_i |got_i - want_i|.
func dwErr(got []float32, want, scale []float64) (rel, abs float64) {
	for i, w := range want {
		d := math.Abs(float64(got[i]) - w)
		abs = math.Max(abs, d)
		if d > 0 {
			rel = math.Max(rel, d/scale[i])
		}
	}
	return rel, abs
}

// dwWorst collects the largest errors seen by TestDepthwise.
var dwWorst struct{ fwd, dx, dw, fwdAbs, dxAbs, dwAbs float64 }

// TestDepthwise checks the depthwise forward pass, input gradient and weight
// gradient against float64 references, element by element: each error must
// stay below (terms+2)·2⁻²⁴ times the sum of the absolute values of the
// terms (the float32 summation bound). It also checks that gradients
// accumulate, that dx alone equals dx computed with dw, and that results do
// not depend on GOMAXPROCS.
func TestDepthwise(t *testing.T) {
	const u = 1.0 / (1 << 24)
	for ci, tc := range depthwiseCases {
		t.Run(tc.name, func(t *testing.T) {
			s := tc.s.norm()
			if !s.depthwise() {
				t.Fatalf("not a depthwise shape: %+v", s)
			}
			ow := s.OutW()
			r := newRand(uint64(500 + ci))
			x := randSlice(r, s.InLen(), -1, 1)
			w := randSlice(r, s.WeightLen(), -1, 1)
			b := randSlice(r, s.Cout, -1, 1)
			dy := randSlice(r, s.OutLen(), -1, 1)
			x64, w64, b64, dy64 := f64s(x), f64s(w), f64s(b), f64s(dy)

			out := make([]float32, s.OutLen())
			Conv2dForward(out, x, w, b, s, nil)
			fwdTol := float64(s.KH*s.KW+2) * u
			rel, abs := dwErr(out, convRef(x64, w64, b64, s), depthwiseForwardAbs(x64, w64, b64, s))
			if rel > fwdTol {
				t.Errorf("forward: error %.3g of the term scale > %.3g", rel, fwdTol)
			}
			dwWorst.fwd, dwWorst.fwdAbs = math.Max(dwWorst.fwd, rel), math.Max(dwWorst.fwdAbs, abs)
			outNB := make([]float32, s.OutLen())
			Conv2dForward(outNB, x, w, nil, s, new(ConvWorkspace))
			if rel, _ := dwErr(outNB, convRef(x64, w64, nil, s), depthwiseForwardAbs(x64, w64, nil, s)); rel > fwdTol {
				t.Errorf("forward without bias: error %.3g > %.3g", rel, fwdTol)
			}

			// Gradients accumulate onto 0.25.
			dx, dw := make([]float32, len(x)), make([]float32, len(w))
			for i := range dx {
				dx[i] = 0.25
			}
			for i := range dw {
				dw[i] = 0.25
			}
			Conv2dBackward(dx, dw, nil, dy, x, w, s, new(ConvWorkspace))
			wantDx, wantDw, dxAbs, dwAbs := depthwiseGradRef(x64, w64, dy64, s)
			for i := range wantDx {
				wantDx[i] += 0.25
				dxAbs[i] += 0.25
			}
			for i := range wantDw {
				wantDw[i] += 0.25
				dwAbs[i] += 0.25
			}
			// dx sums at most KH·KW terms per padded position, and a
			// position receives at most 4 padded ones (reflect); dw sums
			// float32 rows of OutW terms in float64.
			dxTol := float64(4*s.KH*s.KW+3) * u
			dwTol := float64(ow+3) * u
			rel, abs = dwErr(dx, wantDx, dxAbs)
			if rel > dxTol {
				t.Errorf("dx: error %.3g of the term scale > %.3g", rel, dxTol)
			}
			dwWorst.dx, dwWorst.dxAbs = math.Max(dwWorst.dx, rel), math.Max(dwWorst.dxAbs, abs)
			rel, abs = dwErr(dw, wantDw, dwAbs)
			if rel > dwTol {
				t.Errorf("dw: error %.3g of the term scale > %.3g", rel, dwTol)
			}
			dwWorst.dw, dwWorst.dwAbs = math.Max(dwWorst.dw, rel), math.Max(dwWorst.dwAbs, abs)

			// dx alone (the plane-parallel path) matches dx computed with
			// dw (the channel-parallel path) bit for bit; so do reruns of
			// every pass with 1 and 5 workers.
			dxOnly := make([]float32, len(x))
			for i := range dxOnly {
				dxOnly[i] = 0.25
			}
			Conv2dBackward(dxOnly, nil, nil, dy, x, w, s, nil)
			sameBits(t, "dx-only vs dx+dw", dxOnly, dx)
			for _, procs := range []int{1, 5} {
				prev := runtime.GOMAXPROCS(procs)
				out1, dx1, dw1 := make([]float32, len(out)), make([]float32, len(x)), make([]float32, len(w))
				Conv2dForward(out1, x, w, b, s, nil)
				for i := range dx1 {
					dx1[i] = 0.25
				}
				for i := range dw1 {
					dw1[i] = 0.25
				}
				Conv2dBackward(dx1, dw1, nil, dy, x, w, s, nil)
				runtime.GOMAXPROCS(prev)
				sameBits(t, fmt.Sprintf("forward GOMAXPROCS=%d", procs), out1, out)
				sameBits(t, fmt.Sprintf("dx GOMAXPROCS=%d", procs), dx1, dx)
				sameBits(t, fmt.Sprintf("dw GOMAXPROCS=%d", procs), dw1, dw)
			}
		})
	}
	t.Logf("worst errors (of the term scale / absolute): forward %.3g / %.3g, dx %.3g / %.3g, dw %.3g / %.3g",
		dwWorst.fwd, dwWorst.fwdAbs, dwWorst.dx, dwWorst.dxAbs, dwWorst.dw, dwWorst.dwAbs)
}

// sameBits fails unless got and want are equal bit for bit.
func sameBits(t *testing.T, name string, got, want []float32) {
	t.Helper()
	for i := range want {
		if math.Float32bits(got[i]) != math.Float32bits(want[i]) {
			t.Errorf("%s: index %d: %v, want %v", name, i, got[i], want[i])
			return
		}
	}
}

// TestDepthwiseForwardOrder checks that each output sums the bias and then
// the taps in (ky, kx) order, rounding every product and every sum to
// float32 (the order of the original per-tap loop), bit for bit, on a
// BlurPool shape and a dilated zero-padded one.
func TestDepthwiseForwardOrder(t *testing.T) {
	for _, s := range []ConvShape{BlurPoolShape(2, 3, 11, 14), dwShape(1, 2, 9, 10, 3, 3, 2, 2, PadZeros).Pad(2)} {
		s = s.norm()
		r := newRand(77)
		x := randSlice(r, s.InLen(), -1, 1)
		w := randSlice(r, s.WeightLen(), -1, 1)
		b := randSlice(r, s.Cout, -1, 1)
		out := make([]float32, s.OutLen())
		Conv2dForward(out, x, w, b, s, nil)
		oh, ow := s.OutH(), s.OutW()
		for n := 0; n < s.N; n++ {
			for c := 0; c < s.Cin; c++ {
				for oy := 0; oy < oh; oy++ {
					for ox := 0; ox < ow; ox++ {
						a := b[c]
						for ky := 0; ky < s.KH; ky++ {
							iy := refPad(oy*s.Stride-s.PadTop+ky*s.Dilation, s.H, s.Mode)
							for kx := 0; kx < s.KW; kx++ {
								ix := refPad(ox*s.Stride-s.PadLeft+kx*s.Dilation, s.W, s.Mode)
								if iy < 0 || ix < 0 {
									continue
								}
								a += float32(w[(c*s.KH+ky)*s.KW+kx] * x[((n*s.Cin+c)*s.H+iy)*s.W+ix])
							}
						}
						got := out[((n*s.Cout+c)*oh+oy)*ow+ox]
						// Zero-padded taps add ±0, which may only flip
						// the sign of a zero.
						if got != a {
							t.Fatalf("%+v: out[%d,%d,%d,%d] = %v, want %v", s, n, c, oy, ox, got, a)
						}
					}
				}
			}
		}
	}
}

// TestDepthwiseKernels checks dwAxpy against dwAxpyGo bit for bit (adding
// and setting), dwDots against float64 dot products, and the (de)interleave
// and add helpers against their definitions, for lengths 0…70, 0…9 taps and
// misaligned sources.
func TestDepthwiseKernels(t *testing.T) {
	r := newRand(9)
	src := randSlice(r, 2048, -1, 1)
	ws := randSlice(r, 16, -1, 1)
	for n := 0; n <= 70; n++ {
		for nt := 0; nt <= 9; nt++ {
			taps := make([]dwTap, nt)
			for k := range taps {
				off := (k*37 + n*3) % 700
				taps[k] = dwTap{ws[k], src[off : off+n+k%3]}
			}
			for _, set := range []bool{false, true} {
				o0 := randSlice(r, n, -1, 1)
				o1 := append([]float32(nil), o0...)
				dwAxpy(o0, taps, set, 0.375)
				dwAxpyGo(o1, taps, set, 0.375)
				sameBits(t, fmt.Sprintf("dwAxpy n=%d taps=%d set=%v", n, nt, set), o0, o1)
				if set && nt == 0 {
					for i, v := range o0 {
						if v != 0.375 {
							t.Fatalf("dwAxpy set without taps: o[%d] = %v", i, v)
						}
					}
				}
			}

			d := randSlice(r, n, -1, 1)
			got := make([]float32, nt)
			dwDots(got, d, taps)
			for k, tp := range taps {
				var want, scale float64
				for i := range d {
					want += float64(d[i]) * float64(tp.src[i])
					scale += math.Abs(float64(d[i]) * float64(tp.src[i]))
				}
				if e := math.Abs(float64(got[k]) - want); e > float64(n+1)*scale/(1<<24) {
					t.Errorf("dwDots n=%d tap %d: %v, want %v", n, k, got[k], want)
				}
			}
		}
	}
}

// TestDepthwiseShuffles checks dwDeinterleave2, dwInterleave2 and dwAdd
// against their definitions for lengths 0…40 at odd offsets.
func TestDepthwiseShuffles(t *testing.T) {
	r := newRand(10)
	buf := randSlice(r, 400, -1, 1)
	for n := 0; n <= 40; n++ {
		src := buf[3 : 3+2*n]
		even, odd := make([]float32, n+1), make([]float32, n+2)
		dwDeinterleave2(even[1:], odd[2:], src)
		inter := make([]float32, 2*n+1)
		dwInterleave2(inter[1:], even[1:], odd[2:])
		for j := 0; j < n; j++ {
			if even[1+j] != src[2*j] || odd[2+j] != src[2*j+1] {
				t.Fatalf("dwDeinterleave2 n=%d: j=%d", n, j)
			}
		}
		sameBits(t, fmt.Sprintf("dwInterleave2 n=%d", n), inter[1:], src)

		d := randSlice(r, n+1, -1, 1)
		want := make([]float32, n)
		for i := range want {
			want[i] = d[1+i] + buf[5+i]
		}
		dwAdd(d[1:], buf[5:5+n])
		sameBits(t, fmt.Sprintf("dwAdd n=%d", n), d[1:], want)
	}
}
