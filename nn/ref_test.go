package nn

// Test helpers and the float64 reference loops ("slow but obviously
// correct") that the float32 kernels are checked against.
//
// Gradient policy. Every backward kernel is checked against central finite
// differences of the float64 reference forward, on the scalar
// L = Σ out·r with a fixed random r:
//
//	fd_i = (L(x + h·e_i) - L(x - h·e_i)) / 2h,  h = 1e-6 (float64).
//
// Truncation error is O(h²) ≈ 1e-12 and rounding O(1e-16/h) ≈ 1e-10, so the
// measured difference is the float32 error of the analytic gradient. The
// error is reported rel-to-max: max_i |g_i - fd_i| / max_i |fd_i|.
// Non-smooth points are avoided by construction, never filtered after the
// fact: ReLU inputs are kept ≥ 0.05 away from 0, grid-sample positions ≥ 1e-3
// px away from integer pixel positions and from the clamp boundaries, Huber
// residuals away from ±δ, NormalizedConv2d kernel sums away from 0, and the
// soft-argmax window is fixed by a given argmax (no ties).

import (
	"math"
	"math/rand/v2"
	"testing"
)

func newRand(seed uint64) *rand.Rand { return rand.New(rand.NewPCG(seed, seed^0x9e3779b97f4a7c15)) }

func randSlice(r *rand.Rand, n int, lo, hi float64) []float32 {
	x := make([]float32, n)
	for i := range x {
		x[i] = float32(lo + (hi-lo)*r.Float64())
	}
	return x
}

func f64s(x []float32) []float64 {
	y := make([]float64, len(x))
	for i, v := range x {
		y[i] = float64(v)
	}
	return y
}

// relToMax returns max|got-want| / max|want| (max|got-want| if want is all 0).
func relToMax(got []float32, want []float64) float64 {
	var d, m float64
	for i, w := range want {
		d = math.Max(d, math.Abs(float64(got[i])-w))
		m = math.Max(m, math.Abs(w))
	}
	if m == 0 {
		return d
	}
	return d / m
}

// checkForward compares a float32 result with its float64 reference.
func checkForward(t *testing.T, name string, got []float32, want []float64, tol float64) {
	t.Helper()
	if len(got) != len(want) {
		t.Fatalf("%s: %d values, want %d", name, len(got), len(want))
	}
	for i, v := range got {
		if math.IsNaN(float64(v)) != math.IsNaN(want[i]) {
			t.Fatalf("%s: NaN mismatch at %d: got %v want %v", name, i, v, want[i])
		}
	}
	e := relToMax(got, want)
	if e > tol || math.IsNaN(e) {
		t.Errorf("%s: forward rel-to-max error %.3g > %.3g", name, e, tol)
	}
}

// fdGrad returns the central-difference gradient of f at x over the given
// indices (all when idx is nil).
func fdGrad(x []float64, idx []int, h float64, f func([]float64) float64) []float64 {
	if idx == nil {
		idx = make([]int, len(x))
		for i := range idx {
			idx[i] = i
		}
	}
	g := make([]float64, len(idx))
	for k, i := range idx {
		old := x[i]
		x[i] = old + h
		fp := f(x)
		x[i] = old - h
		fm := f(x)
		x[i] = old
		g[k] = (fp - fm) / (2 * h)
	}
	return g
}

// checkGrad compares an analytic gradient (float32) with finite differences
// of the float64 function f at x0 and logs the error as "FD <name> <err>".
func checkGrad(t *testing.T, name string, analytic []float32, x0 []float32, tol float64, f func([]float64) float64) float64 {
	t.Helper()
	x := f64s(x0)
	fd := fdGrad(x, nil, 1e-6, f)
	e := relToMax(analytic, fd)
	t.Logf("FD %-40s rel-to-max %.2e (n=%d)", name, e, len(fd))
	if e > tol || math.IsNaN(e) {
		t.Errorf("%s: gradient rel-to-max error %.3g > %.3g", name, e, tol)
	}
	return e
}

// checkGradH is checkGrad with an explicit step h, over the inputs idx only
// (analytic holds the gradient at those indices, in order).
func checkGradH(t *testing.T, name string, analytic []float32, x0 []float32, h, tol float64, idx []int, f func([]float64) float64) float64 {
	t.Helper()
	fd := fdGrad(f64s(x0), idx, h, f)
	e := relToMax(analytic, fd)
	t.Logf("FD %-40s rel-to-max %.2e (n=%d, h=%g)", name, e, len(fd), h)
	if e > tol || math.IsNaN(e) {
		t.Errorf("%s: gradient rel-to-max error %.3g > %.3g", name, e, tol)
	}
	return e
}

func seq(lo, hi int) []int {
	s := make([]int, hi-lo)
	for i := range s {
		s[i] = lo + i
	}
	return s
}

func dot64(a, b []float64) float64 {
	var s float64
	for i := range a {
		s += a[i] * b[i]
	}
	return s
}

// ---- references ----

func refPad(i, n int, mode PadMode) int {
	if i >= 0 && i < n {
		return i
	}
	if mode == PadZeros {
		return -1
	}
	if i < 0 {
		return -i
	}
	return 2*n - 2 - i
}

// convRef is the specification of Conv2dForward: PyTorch's pad-then-conv2d.
func convRef(x, w, b []float64, s ConvShape) []float64 {
	s = s.norm()
	oh, ow := s.OutH(), s.OutW()
	cinG, coutG := s.Cin/s.Groups, s.Cout/s.Groups
	out := make([]float64, s.N*s.Cout*oh*ow)
	for n := 0; n < s.N; n++ {
		for co := 0; co < s.Cout; co++ {
			g := co / coutG
			for oy := 0; oy < oh; oy++ {
				for ox := 0; ox < ow; ox++ {
					var acc float64
					if b != nil {
						acc = b[co]
					}
					for ci := 0; ci < cinG; ci++ {
						for ky := 0; ky < s.KH; ky++ {
							iy := refPad(oy*s.Stride-s.PadTop+ky*s.Dilation, s.H, s.Mode)
							if iy < 0 {
								continue
							}
							for kx := 0; kx < s.KW; kx++ {
								ix := refPad(ox*s.Stride-s.PadLeft+kx*s.Dilation, s.W, s.Mode)
								if ix < 0 {
									continue
								}
								c := g*cinG + ci
								acc += w[((co*cinG+ci)*s.KH+ky)*s.KW+kx] * x[((n*s.Cin+c)*s.H+iy)*s.W+ix]
							}
						}
					}
					out[((n*s.Cout+co)*oh+oy)*ow+ox] = acc
				}
			}
		}
	}
	return out
}

// bnTrainRef returns train-mode BatchNorm2d output, batch mean and biased var.
func bnTrainRef(x, gamma, beta []float64, n, c, hw int, eps float64) (out, mean, vr []float64) {
	out = make([]float64, len(x))
	mean, vr = make([]float64, c), make([]float64, c)
	cnt := float64(n * hw)
	for ch := 0; ch < c; ch++ {
		for i := 0; i < n; i++ {
			for j := 0; j < hw; j++ {
				mean[ch] += x[(i*c+ch)*hw+j]
			}
		}
		mean[ch] /= cnt
		for i := 0; i < n; i++ {
			for j := 0; j < hw; j++ {
				d := x[(i*c+ch)*hw+j] - mean[ch]
				vr[ch] += d * d
			}
		}
		vr[ch] /= cnt
		for i := 0; i < n; i++ {
			for j := 0; j < hw; j++ {
				k := (i*c+ch)*hw + j
				out[k] = (x[k]-mean[ch])/math.Sqrt(vr[ch]+eps)*gamma[ch] + beta[ch]
			}
		}
	}
	return
}

// gridSampleRef is F.grid_sample (2-D, bilinear) in float64.
func gridSampleRef(x, grid []float64, n, c, h, w, ho, wo int, o GridSampleOptions) []float64 {
	unnorm := func(g float64, size int) float64 {
		var v float64
		if o.AlignCorners {
			v = (g + 1) / 2 * float64(size-1)
		} else {
			v = ((g+1)*float64(size) - 1) / 2
		}
		if o.Padding == GridPadBorder {
			v = math.Min(float64(size-1), math.Max(v, 0))
		}
		return v
	}
	out := make([]float64, n*c*ho*wo)
	for b := 0; b < n; b++ {
		for j := 0; j < ho*wo; j++ {
			ix := unnorm(grid[(b*ho*wo+j)*2], w)
			iy := unnorm(grid[(b*ho*wo+j)*2+1], h)
			x0, y0 := math.Floor(ix), math.Floor(iy)
			for ch := 0; ch < c; ch++ {
				var v float64
				for _, cn := range [4][2]float64{{x0, y0}, {x0 + 1, y0}, {x0, y0 + 1}, {x0 + 1, y0 + 1}} {
					cx, cy := int(cn[0]), int(cn[1])
					if cx < 0 || cx >= w || cy < 0 || cy >= h {
						continue
					}
					wt := (1 - math.Abs(ix-cn[0])) * (1 - math.Abs(iy-cn[1]))
					v += wt * x[((b*c+ch)*h+cy)*w+cx]
				}
				out[(b*c+ch)*ho*wo+j] = v
			}
		}
	}
	return out
}

func softmaxRef(x []float64) []float64 {
	m := math.Inf(-1)
	for _, v := range x {
		m = math.Max(m, v)
	}
	out := make([]float64, len(x))
	var s float64
	for i, v := range x {
		out[i] = math.Exp(v - m)
		s += out[i]
	}
	for i := range out {
		out[i] /= s
	}
	return out
}

func lseRef(x []float64) float64 {
	m := math.Inf(-1)
	for _, v := range x {
		m = math.Max(m, v)
	}
	var s float64
	for _, v := range x {
		s += math.Exp(v - m)
	}
	return m + math.Log(s)
}

// cosineRef: out[q,p] = <q, f_p> / max(|q||f_p|, eps).
func cosineRef(qv, f []float64, n, c, hw int, eps float64) []float64 {
	out := make([]float64, n*hw)
	for q := 0; q < n; q++ {
		var nq float64
		for ch := 0; ch < c; ch++ {
			nq += qv[q*c+ch] * qv[q*c+ch]
		}
		for p := 0; p < hw; p++ {
			var d, nf float64
			for ch := 0; ch < c; ch++ {
				d += qv[q*c+ch] * f[ch*hw+p]
				nf += f[ch*hw+p] * f[ch*hw+p]
			}
			out[q*hw+p] = d / math.Max(math.Sqrt(nq)*math.Sqrt(nf), eps)
		}
	}
	return out
}

// softArgmaxRef follows TrackerHead.soft_argmax literally: mask by the
// distance to the argmax centre, fall back by adding 1/|win|, weighted mean.
func softArgmaxRef(heat []float64, argmax []int, b int, s SoftArgmaxShape) []float64 {
	n := s.GH * s.GW
	out := make([]float64, 2*b)
	for q := 0; q < b; q++ {
		ax := float64(s.Offset) + float64(s.Stride)*float64(argmax[q]%s.GW)
		ay := float64(s.Offset) + float64(s.Stride)*float64(argmax[q]/s.GW)
		mask := make([]float64, n)
		var m, cnt float64
		for p := 0; p < n; p++ {
			cx := float64(s.Offset) + float64(s.Stride)*float64(p%s.GW)
			cy := float64(s.Offset) + float64(s.Stride)*float64(p/s.GW)
			if math.Hypot(cx-ax, cy-ay) <= float64(s.Radius) {
				mask[p] = 1
				cnt++
				m += heat[q*n+p]
			}
		}
		var u float64
		if m < float64(s.MinMass) {
			u = 1 / cnt
		}
		var sw, sx, sy float64
		for p := 0; p < n; p++ {
			w := (heat[q*n+p]*mask[p] + u) * mask[p]
			sw += w
			sx += w * (float64(s.Offset) + float64(s.Stride)*float64(p%s.GW))
			sy += w * (float64(s.Offset) + float64(s.Stride)*float64(p/s.GW))
		}
		out[2*q], out[2*q+1] = sx/sw, sy/sw
	}
	return out
}
