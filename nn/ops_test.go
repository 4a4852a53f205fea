package nn

import (
	"fmt"
	"math"
	"testing"
)

func TestBatchNormTrain(t *testing.T) {
	for _, sh := range [][3]int{{2, 3, 12}, {3, 2, 1}, {1, 4, 7}} {
		n, c, hw := sh[0], sh[1], sh[2]
		t.Run(fmt.Sprintf("n%dc%dhw%d", n, c, hw), func(t *testing.T) {
			r := newRand(11)
			x := randSlice(r, n*c*hw, -2, 3)
			for i := range x { // a per-channel offset larger than the spread
				x[i] += float32(5 * ((i / hw) % c))
			}
			gamma, beta := randSlice(r, c, 0.5, 1.5), randSlice(r, c, -1, 1)
			rr := f64s(randSlice(r, len(x), -1, 1))
			out, mean, vr := make([]float32, len(x)), make([]float32, c), make([]float32, c)
			BatchNormTrainForward(out, mean, vr, x, gamma, beta, n, c, hw, BNEps)
			o64, m64, v64 := bnTrainRef(f64s(x), f64s(gamma), f64s(beta), n, c, hw, BNEps)
			checkForward(t, "bn out", out, o64, 1e-5)
			checkForward(t, "bn mean", mean, m64, 1e-6)
			checkForward(t, "bn var", vr, v64, 1e-6)

			rm, rv := randSlice(r, c, -1, 1), randSlice(r, c, 0.5, 2)
			rm64, rv64 := f64s(rm), f64s(rv)
			BatchNormRunningUpdate(rm, rv, mean, vr, n*hw, BNMomentum)
			cnt := float64(n * hw)
			for ch := 0; ch < c; ch++ {
				rm64[ch] = 0.9*rm64[ch] + 0.1*m64[ch]
				rv64[ch] = 0.9*rv64[ch] + 0.1*v64[ch]*cnt/(cnt-1)
			}
			checkForward(t, "running mean", rm, rm64, 1e-6)
			checkForward(t, "running var", rv, rv64, 1e-6)

			dout := make([]float32, len(x))
			for i, v := range rr {
				dout[i] = float32(v)
			}
			dx, dg, db := make([]float32, len(x)), make([]float32, c), make([]float32, c)
			BatchNormTrainBackward(dx, dg, db, dout, x, mean, vr, gamma, n, c, hw, BNEps)
			g64, b64, x64 := f64s(gamma), f64s(beta), f64s(x)
			f := func(x, g, b []float64) float64 { o, _, _ := bnTrainRef(x, g, b, n, c, hw, BNEps); return dot64(o, rr) }
			checkGrad(t, "bn-train/dx", dx, x, 1e-4, func(v []float64) float64 { return f(v, g64, b64) })
			checkGrad(t, "bn-train/dgamma", dg, gamma, 1e-5, func(v []float64) float64 { return f(x64, v, b64) })
			checkGrad(t, "bn-train/dbeta", db, beta, 1e-5, func(v []float64) float64 { return f(x64, g64, v) })
		})
	}
}

func TestBatchNormEval(t *testing.T) {
	n, c, hw := 2, 3, 5
	r := newRand(12)
	x := randSlice(r, n*c*hw, -2, 2)
	gamma, beta := randSlice(r, c, 0.5, 1.5), randSlice(r, c, -1, 1)
	rm, rv := randSlice(r, c, -1, 1), randSlice(r, c, 0.5, 2)
	rr := f64s(randSlice(r, len(x), -1, 1))
	ref := func(x, g, b []float64) []float64 {
		o := make([]float64, len(x))
		for i := range x {
			ch := i / hw % c
			o[i] = (x[i]-float64(rm[ch]))/math.Sqrt(float64(rv[ch])+BNEps)*g[ch] + b[ch]
		}
		return o
	}
	out := make([]float32, len(x))
	BatchNormEvalForward(out, x, gamma, beta, rm, rv, n, c, hw, BNEps)
	checkForward(t, "bn eval", out, ref(f64s(x), f64s(gamma), f64s(beta)), 1e-6)
	dout := make([]float32, len(x))
	for i, v := range rr {
		dout[i] = float32(v)
	}
	dx, dg, db := make([]float32, len(x)), make([]float32, c), make([]float32, c)
	BatchNormEvalBackward(dx, dg, db, dout, x, gamma, rm, rv, n, c, hw, BNEps)
	x64, g64, b64 := f64s(x), f64s(gamma), f64s(beta)
	checkGrad(t, "bn-eval/dx", dx, x, 1e-5, func(v []float64) float64 { return dot64(ref(v, g64, b64), rr) })
	checkGrad(t, "bn-eval/dgamma", dg, gamma, 1e-5, func(v []float64) float64 { return dot64(ref(x64, v, b64), rr) })
	checkGrad(t, "bn-eval/dbeta", db, beta, 1e-5, func(v []float64) float64 { return dot64(ref(x64, g64, v), rr) })
}

func TestReLU(t *testing.T) {
	r := newRand(13)
	x := randSlice(r, 1000, -1, 1)
	for i := range x { // keep away from the kink at 0
		if math.Abs(float64(x[i])) < 0.05 {
			x[i] = 0.05 + x[i]*10
		}
	}
	rr := f64s(randSlice(r, len(x), -1, 1))
	ref := func(v []float64) []float64 {
		o := make([]float64, len(v))
		for i, a := range v {
			o[i] = math.Max(a, 0)
		}
		return o
	}
	out := make([]float32, len(x))
	ReLUForward(out, x)
	checkForward(t, "relu", out, ref(f64s(x)), 0)
	dx := make([]float32, len(x))
	dout := make([]float32, len(x))
	for i, v := range rr {
		dout[i] = float32(v)
	}
	ReLUBackward(dx, dout, out)
	checkGrad(t, "relu/dx", dx, x, 1e-7, func(v []float64) float64 { return dot64(ref(v), rr) })
	// In place.
	y := append([]float32(nil), x...)
	ReLUForward(y, y)
	checkForward(t, "relu in place", y, ref(f64s(x)), 0)
}

// smoothGrid draws grid points whose pixel coordinates stay ≥ 1e-3 px away
// from integers and from the border clamp limits (the non-smooth points of
// bilinear sampling).
func smoothGrid(seed uint64, m, h, w int, o GridSampleOptions, lo, hi float64) []float32 {
	r := newRand(seed)
	g := make([]float32, 2*m)
	for i := 0; i < m; i++ {
		for k, size := range []int{w, h} {
			for {
				v := float32(lo + (hi-lo)*r.Float64())
				c, _ := GridSampleOptions{AlignCorners: o.AlignCorners}.unnormalize(v, size)
				fr := float64(c) - math.Floor(float64(c))
				// With align_corners a size-1 axis maps every g to 0: the
				// coordinate is constant and its gradient 0, so any g is fine.
				if (size == 1 && o.AlignCorners) || (fr > 1e-3 && fr < 1-1e-3) {
					g[2*i+k] = v
					break
				}
			}
		}
	}
	return g
}

func TestGridSample(t *testing.T) {
	for _, ac := range []bool{true, false} {
		for _, pad := range []GridPadding{GridPadZeros, GridPadBorder} {
			o := GridSampleOptions{AlignCorners: ac, Padding: pad}
			for _, sz := range [][2]int{{5, 7}, {1, 1}, {1, 4}} {
				h, w := sz[0], sz[1]
				t.Run(fmt.Sprintf("ac=%v/pad=%d/%dx%d", ac, pad, h, w), func(t *testing.T) {
					n, c, ho, wo := 2, 3, 3, 4
					r := newRand(14)
					x := randSlice(r, n*c*h*w, -1, 1)
					grid := smoothGrid(15, n*ho*wo, h, w, o, -1.3, 1.3) // some points outside [-1, 1]
					rr := f64s(randSlice(r, n*c*ho*wo, -1, 1))
					out := make([]float32, n*c*ho*wo)
					GridSampleForward(out, x, grid, n, c, h, w, ho, wo, o)
					ref := func(x, g []float64) []float64 { return gridSampleRef(x, g, n, c, h, w, ho, wo, o) }
					checkForward(t, "grid_sample", out, ref(f64s(x), f64s(grid)), 1e-6)
					dout := make([]float32, len(rr))
					for i, v := range rr {
						dout[i] = float32(v)
					}
					dx, dg := make([]float32, len(x)), make([]float32, len(grid))
					GridSampleBackward(dx, dg, dout, x, grid, n, c, h, w, ho, wo, o)
					x64, g64 := f64s(x), f64s(grid)
					checkGrad(t, fmt.Sprintf("grid_sample/ac=%v/pad=%d/%dx%d/dx", ac, pad, h, w), dx, x, 1e-5,
						func(v []float64) float64 { return dot64(ref(v, g64), rr) })
					checkGrad(t, fmt.Sprintf("grid_sample/ac=%v/pad=%d/%dx%d/dgrid", ac, pad, h, w), dg, grid, 1e-4,
						func(v []float64) float64 { return dot64(ref(x64, v), rr) })
				})
			}
		}
	}
}

// TestGridSampleAlignTokens: with align_corners and border padding, grid
// points on token centres reproduce the tokens exactly (the tracker's
// query sampling at integer token positions) and clamp outside.
func TestGridSampleAlignTokens(t *testing.T) {
	h, w := 4, 6
	x := make([]float32, h*w)
	for i := range x {
		x[i] = float32(i)
	}
	o := GridSampleOptions{AlignCorners: true, Padding: GridPadBorder}
	grid := []float32{-1, -1, 1, 1, -3, -0.2, 1, 5} // (-3,-0.2) → column 0 (clamped), row 1.2
	out := make([]float32, 4)
	GridSampleForward(out, x, grid, 1, 1, h, w, 1, 4, o)
	want := []float32{0, 23, 0 + 1*6 + 0.2*6, 23}
	for i := range want {
		if math.Abs(float64(out[i]-want[i])) > 1e-5 {
			t.Errorf("point %d: got %v want %v", i, out[i], want[i])
		}
	}
}

func TestAlignGrid(t *testing.T) {
	// DINO-Tracker's real sizes: CNN 60×107 → ViT 67×121; column j samples
	// CNN column (7j+7-0.5)/8.
	g := AlignGrid(67, 121, 60, 107, 8, 7, 14)
	for _, j := range []int{0, 1, 60, 120} {
		c, _ := GridSampleOptions{AlignCorners: true}.unnormalize(g[(5*121+j)*2], 107)
		want := (7*float64(j) + 7 - 0.5) / 8
		if math.Abs(float64(c)-want) > 1e-4 {
			t.Errorf("col %d: CNN coordinate %v want %v", j, c, want)
		}
	}
	for _, i := range []int{0, 66} {
		c, _ := GridSampleOptions{AlignCorners: true}.unnormalize(g[(i*121)*2+1], 60)
		want := (7*float64(i) + 7 - 0.5) / 8
		if math.Abs(float64(c)-want) > 1e-4 {
			t.Errorf("row %d: CNN coordinate %v want %v", i, c, want)
		}
	}
}

func TestNormalizeAndChannelNorm(t *testing.T) {
	n, c, inner := 2, 5, 3
	r := newRand(16)
	x := randSlice(r, n*c*inner, -1, 1)
	// One zero vector to exercise the eps clamp (forward only: FD would
	// leave the clamp region).
	for ch := 0; ch < c; ch++ {
		x[(1*c+ch)*inner+2] = 0
	}
	rr := f64s(randSlice(r, len(x), -1, 1))
	eps := float32(NormalizeEps)
	ref := func(v []float64) ([]float64, []float64) {
		o, nr := make([]float64, len(v)), make([]float64, n*inner)
		for b := 0; b < n; b++ {
			for i := 0; i < inner; i++ {
				var s float64
				for ch := 0; ch < c; ch++ {
					s += v[(b*c+ch)*inner+i] * v[(b*c+ch)*inner+i]
				}
				nr[b*inner+i] = math.Sqrt(s)
				for ch := 0; ch < c; ch++ {
					o[(b*c+ch)*inner+i] = v[(b*c+ch)*inner+i] / math.Max(math.Sqrt(s), float64(eps))
				}
			}
		}
		return o, nr
	}
	out, norms := make([]float32, len(x)), make([]float32, n*inner)
	NormalizeForward(out, norms, x, n, c, inner, eps)
	o64, n64 := ref(f64s(x))
	checkForward(t, "normalize", out, o64, 1e-6)
	checkForward(t, "norms", norms, n64, 1e-6)
	cn := make([]float32, n*inner)
	ChannelNormForward(cn, x, n, c, inner)
	checkForward(t, "channel norm", cn, n64, 1e-6)

	// Gradients on the smooth part (the zero vector's entries are excluded
	// by giving them a zero weight r).
	for ch := 0; ch < c; ch++ {
		rr[(1*c+ch)*inner+2] = 0
	}
	dout := make([]float32, len(x))
	for i, v := range rr {
		dout[i] = float32(v)
	}
	dx := make([]float32, len(x))
	NormalizeBackward(dx, dout, out, norms, n, c, inner, eps)
	for ch := 0; ch < c; ch++ {
		x[(1*c+ch)*inner+2] = 0.3 // move away from 0 for FD; r = 0 there
	}
	// The analytic gradient at those entries was dout/eps = 0.
	checkGrad(t, "normalize/dx", dx, x, 1e-5, func(v []float64) float64 { o, _ := ref(v); return dot64(o, rr) })
	rn := f64s(randSlice(r, n*inner, -1, 1))
	dcn := make([]float32, len(rn))
	for i, v := range rn {
		dcn[i] = float32(v)
	}
	ChannelNormForward(cn, x, n, c, inner)
	dx2 := make([]float32, len(x))
	ChannelNormBackward(dx2, dcn, cn, x, n, c, inner)
	checkGrad(t, "channel-norm/dx", dx2, x, 1e-5, func(v []float64) float64 { _, nr := ref(v); return dot64(nr, rn) })
}

func TestCosineCost(t *testing.T) {
	n, c, hw := 4, 6, 15
	r := newRand(17)
	q := randSlice(r, n*c, -1, 1)
	f := randSlice(r, c*hw, -1, 1)
	rr := f64s(randSlice(r, n*hw, -1, 1))
	eps := float32(CosineEps)
	out, qn, fn := make([]float32, n*hw), make([]float32, n), make([]float32, hw)
	CosineCostForward(out, qn, fn, q, f, n, c, hw, eps)
	checkForward(t, "cosine", out, cosineRef(f64s(q), f64s(f), n, c, hw, float64(eps)), 1e-6)
	dout := make([]float32, len(rr))
	for i, v := range rr {
		dout[i] = float32(v)
	}
	dq, df := make([]float32, len(q)), make([]float32, len(f))
	CosineCostBackward(dq, df, dout, out, qn, fn, q, f, n, c, hw, eps, nil)
	q64, f64 := f64s(q), f64s(f)
	checkGrad(t, "cosine-cost/dq", dq, q, 1e-5, func(v []float64) float64 { return dot64(cosineRef(v, f64, n, c, hw, float64(eps)), rr) })
	checkGrad(t, "cosine-cost/df", df, f, 1e-5, func(v []float64) float64 { return dot64(cosineRef(q64, v, n, c, hw, float64(eps)), rr) })

	// Plain dot-product cost volume.
	cv := make([]float32, n*hw)
	CostVolumeForward(cv, q, f, n, c, hw)
	dotRef := func(q, f []float64) []float64 {
		o := make([]float64, n*hw)
		for i := 0; i < n; i++ {
			for p := 0; p < hw; p++ {
				for ch := 0; ch < c; ch++ {
					o[i*hw+p] += q[i*c+ch] * f[ch*hw+p]
				}
			}
		}
		return o
	}
	checkForward(t, "cost volume", cv, dotRef(q64, f64), 1e-6)
	dq2, df2 := make([]float32, len(q)), make([]float32, len(f))
	CostVolumeBackward(dq2, df2, dout, q, f, n, c, hw)
	checkGrad(t, "cost-volume/dq", dq2, q, 1e-5, func(v []float64) float64 { return dot64(dotRef(v, f64), rr) })
	checkGrad(t, "cost-volume/df", df2, f, 1e-5, func(v []float64) float64 { return dot64(dotRef(q64, v), rr) })

	// A zero feature column: the clamp is active, out = 0 there and
	// ∂out/∂f_p = q/eps.
	for ch := 0; ch < c; ch++ {
		f[ch*hw+3] = 0
	}
	CosineCostForward(out, qn, fn, q, f, n, c, hw, eps)
	dq, df = make([]float32, len(q)), make([]float32, len(f))
	CosineCostBackward(dq, df, dout, out, qn, fn, q, f, n, c, hw, eps, nil)
	for ch := 0; ch < c; ch++ {
		var want float64
		for i := 0; i < n; i++ {
			if out[i*hw+3] != 0 {
				t.Fatalf("zero column: out = %v", out[i*hw+3])
			}
			want += rr[i*hw+3] * float64(q[i*c+ch]) / float64(eps)
		}
		if got := float64(df[ch*hw+3]); math.Abs(got-want) > 1e-5*math.Abs(want) {
			t.Errorf("clamped df[%d]: got %g want %g", ch, got, want)
		}
	}
}

func TestSoftmaxLogSoftmax(t *testing.T) {
	rows, n := 3, 50
	r := newRand(18)
	x := randSlice(r, rows*n, -3, 3)
	x[7] = 80 // large logits stay finite
	rr := f64s(randSlice(r, len(x), -1, 1))
	ref := func(v []float64, log bool) []float64 {
		o := make([]float64, len(v))
		for i := 0; i < rows; i++ {
			row := v[i*n : (i+1)*n]
			if log {
				l := lseRef(row)
				for j, a := range row {
					o[i*n+j] = a - l
				}
			} else {
				copy(o[i*n:], softmaxRef(row))
			}
		}
		return o
	}
	dout := make([]float32, len(rr))
	for i, v := range rr {
		dout[i] = float32(v)
	}
	for _, log := range []bool{false, true} {
		out := make([]float32, len(x))
		dx := make([]float32, len(x))
		name := "softmax"
		if log {
			name = "log-softmax"
			LogSoftmaxForward(out, x, rows, n)
			LogSoftmaxBackward(dx, dout, out, rows, n)
		} else {
			SoftmaxForward(out, x, rows, n)
			SoftmaxBackward(dx, dout, out, rows, n)
		}
		checkForward(t, name, out, ref(f64s(x), log), 1e-6)
		checkGrad(t, name+"/dx", dx, x, 1e-5, func(v []float64) float64 { return dot64(ref(v, log), rr) })
	}
	// A large map (the tracker's 67×121 tokens) sums to 1.
	big := randSlice(r, 67*121, -30, 30)
	sm := make([]float32, len(big))
	SoftmaxForward(sm, big, 1, len(big))
	if s := sum64(sm); math.Abs(s-1) > 1e-5 {
		t.Errorf("softmax of 8107 values sums to %v", s)
	}
	idx := make([]int, 2)
	ArgmaxRows(idx, []float32{1, 3, 3, 0, 5, 5, 5, 1}, 2, 4)
	if idx[0] != 1 || idx[1] != 0 {
		t.Errorf("ArgmaxRows ties: got %v want [1 0]", idx)
	}
}

func TestSoftArgmax(t *testing.T) {
	s := TrackerSoftArgmax(9, 15)
	b := 4
	r := newRand(19)
	logits := randSlice(r, b*s.GH*s.GW, -2, 2)
	heat := make([]float32, len(logits))
	SoftmaxForward(heat, logits, b, s.GH*s.GW)
	argmax := []int{0, 4*15 + 7, 8*15 + 14, 2*15 + 13} // corner, centre, corner, near edge
	// Row 3: a fallback row (window mass < 1e-8).
	for p := range s.GH * s.GW {
		if s.InWindow(argmax[3], p) {
			heat[3*s.GH*s.GW+p] = 1e-12
		}
	}
	out, mass := make([]float32, 2*b), make([]float32, b)
	SoftArgmaxForward(out, mass, heat, argmax, b, s)
	checkForward(t, "soft-argmax", out, softArgmaxRef(f64s(heat), argmax, b, s), 1e-6)
	// Window size for a centre token: radius 5 tokens → 81 tokens.
	cnt := 0
	for p := range s.GH * s.GW {
		if s.InWindow(argmax[1], p) {
			cnt++
		}
	}
	if cnt != 79 { // the 81-token disc of radius 5 tokens minus its rows ±5 (outside the 9 rows)
		t.Errorf("window tokens around (4,7): %d, want 79", cnt)
	}
	rr := f64s(randSlice(r, 2*b, -1, 1))
	dout := make([]float32, len(rr))
	for i, v := range rr {
		dout[i] = float32(v)
	}
	dh := make([]float32, len(heat))
	SoftArgmaxBackward(dh, dout, out, mass, argmax, b, s)
	// Rows 0-2 with the usual step; the fallback row 3 is smooth only for
	// perturbations far below its 1e-8 mass threshold, so it gets h = 1e-12
	// (rounding noise ≈ 1e-16·|L|/h ≈ 1e-3 relative, hence the looser bound).
	n := s.GH * s.GW
	f := func(v []float64) float64 { return dot64(softArgmaxRef(v, argmax, b, s), rr) }
	checkGradH(t, "soft-argmax/dheat", dh[:3*n], heat, 1e-6, 1e-5, seq(0, 3*n), f)
	checkGradH(t, "soft-argmax(fallback)/dheat", dh[3*n:], heat, 1e-12, 2e-3, seq(3*n, 4*n), f)
}

func TestSoftArgmaxWindowFullGrid(t *testing.T) {
	s := TrackerSoftArgmax(67, 121)
	a := 30*121 + 60
	cnt := 0
	for p := range s.GH * s.GW {
		if s.InWindow(a, p) {
			cnt++
		}
	}
	// |d| ≤ 5 tokens on the integer lattice: 81 points (Gauss circle r=5).
	if cnt != 81 {
		t.Errorf("window holds %d tokens, want 81", cnt)
	}
}

func TestNormalizeKernels(t *testing.T) {
	slices, k := 5, 9
	r := newRand(20)
	w := randSlice(r, slices*k, -0.2, 1) // sums ≈ 3.6, far from 0
	rr := f64s(randSlice(r, len(w), -1, 1))
	ref := func(v []float64) []float64 {
		o := make([]float64, len(v))
		for s := 0; s < slices; s++ {
			var sum float64
			for _, a := range v[s*k : (s+1)*k] {
				sum += a
			}
			for i := 0; i < k; i++ {
				o[s*k+i] = v[s*k+i] / sum
			}
		}
		return o
	}
	out, sums := make([]float32, len(w)), make([]float32, slices)
	NormalizeKernelsForward(out, sums, w, slices, k)
	checkForward(t, "normalized kernels", out, ref(f64s(w)), 1e-6)
	dout := make([]float32, len(rr))
	for i, v := range rr {
		dout[i] = float32(v)
	}
	dw := make([]float32, len(w))
	NormalizeKernelsBackward(dw, dout, out, sums, w, slices, k)
	checkGrad(t, "normalized-conv-kernels/dw", dw, w, 1e-5, func(v []float64) float64 { return dot64(ref(v), rr) })

	// Clamp: a slice summing to ~1e-9 is divided by +1e-8.
	tiny := []float32{0.5, -0.5, 1e-9, 0, 0, 0, 0, 0, 0}
	o2, s2 := make([]float32, 9), make([]float32, 1)
	NormalizeKernelsForward(o2, s2, tiny, 1, 9)
	if s2[0] != KernelSumEps || o2[0] != 0.5/KernelSumEps {
		t.Errorf("clamped sum %g, out[0] %g", s2[0], o2[0])
	}
}

func TestHuber(t *testing.T) {
	n := 40
	r := newRand(21)
	delta := float32(FlowHuberDelta)
	pred := randSlice(r, n, -1, 1)
	target := make([]float32, n)
	for i := range target { // half inside δ, half outside, none near ±δ
		e := 0.1*float64(delta) + 0.8*float64(delta)*r.Float64()
		if i%2 == 1 {
			e = 1.2*float64(delta) + 5*float64(delta)*r.Float64()
		}
		if r.IntN(2) == 0 {
			e = -e
		}
		target[i] = pred[i] - float32(e)
	}
	weight := randSlice(r, n, 0.4, 1)
	ref := func(p, tg []float64, w []float32) float64 {
		var s float64
		for i := range p {
			l := huber(p[i]-tg[i], float64(delta))
			if w != nil {
				l *= float64(w[i])
			}
			s += l
		}
		return s / float64(len(p))
	}
	for _, w := range [][]float32{nil, weight} {
		got := HuberForward(pred, target, w, n, delta)
		want := ref(f64s(pred), f64s(target), w)
		if math.Abs(float64(got)-want) > 1e-6*math.Abs(want) {
			t.Errorf("huber: got %g want %g", got, want)
		}
		dp, dt := make([]float32, n), make([]float32, n)
		HuberBackward(dp, dt, pred, target, w, n, delta, 2)
		t64 := f64s(target)
		p64 := f64s(pred)
		checkGrad(t, fmt.Sprintf("huber(weighted=%v)/dpred", w != nil), dp, pred, 1e-6, func(v []float64) float64 { return 2 * ref(v, t64, w) })
		checkGrad(t, fmt.Sprintf("huber(weighted=%v)/dtarget", w != nil), dt, target, 1e-6, func(v []float64) float64 { return 2 * ref(p64, v, w) })
	}
	// PyTorch semantics: no division by δ.
	if got := HuberForward([]float32{1}, []float32{0}, nil, 1, 0.5); got != 0.375 {
		t.Errorf("huber(1, δ=0.5) = %g, want 0.375", got)
	}
}

func TestInfoNCEAndCrossEntropy(t *testing.T) {
	rows, k := 5, 30
	temp := float32(0.1)
	r := newRand(22)
	logits := randSlice(r, rows*k, -1, 1)
	pos := randSlice(r, rows, -1, 1)
	rr := f64s(randSlice(r, rows, 0.2, 1))
	ref := func(p, lg []float64) []float64 {
		o := make([]float64, rows)
		for i := 0; i < rows; i++ {
			s := make([]float64, k)
			for j := range s {
				s[j] = lg[i*k+j] / float64(temp)
			}
			// -log(exp(pos/τ)/Σexp(l/τ)), literally as upstream.
			var den float64
			for _, v := range s {
				den += math.Exp(v)
			}
			o[i] = -math.Log(math.Exp(p[i]/float64(temp)) / den)
		}
		return o
	}
	loss, lse := make([]float32, rows), make([]float32, rows)
	InfoNCEForward(loss, lse, pos, logits, rows, k, temp)
	checkForward(t, "infonce", loss, ref(f64s(pos), f64s(logits)), 1e-6)
	dl := make([]float32, rows)
	for i, v := range rr {
		dl[i] = float32(v)
	}
	dp, dlg := make([]float32, rows), make([]float32, rows*k)
	InfoNCEBackward(dp, dlg, dl, lse, logits, rows, k, temp)
	p64, l64 := f64s(pos), f64s(logits)
	checkGrad(t, "infonce/dpos", dp, pos, 1e-6, func(v []float64) float64 { return dot64(ref(v, l64), rr) })
	checkGrad(t, "infonce/dlogits", dlg, logits, 1e-5, func(v []float64) float64 { return dot64(ref(p64, v), rr) })

	target := []int{0, 3, 29, 7, 7}
	ceRef := func(lg []float64) []float64 {
		p := make([]float64, rows)
		for i := range p {
			p[i] = lg[i*k+target[i]]
		}
		return ref(p, lg)
	}
	CrossEntropyForward(loss, lse, logits, target, rows, k, temp)
	checkForward(t, "cross-entropy", loss, ceRef(l64), 1e-6)
	dce := make([]float32, rows*k)
	CrossEntropyBackward(dce, dl, lse, logits, target, rows, k, temp)
	checkGrad(t, "cross-entropy/dlogits", dce, logits, 1e-5, func(v []float64) float64 { return dot64(ceRef(v), rr) })
}

func TestElementwise(t *testing.T) {
	r := newRand(23)
	n := 100
	a, b := randSlice(r, n, -1, 1), randSlice(r, n, -1, 1)
	rr := f64s(randSlice(r, n, -1, 1))
	dout := make([]float32, n)
	for i, v := range rr {
		dout[i] = float32(v)
	}
	a64, b64 := f64s(a), f64s(b)
	out := make([]float32, n)

	AddForward(out, a, b)
	checkForward(t, "add", out, func() []float64 {
		o := make([]float64, n)
		for i := range o {
			o[i] = a64[i] + b64[i]
		}
		return o
	}(), 1e-7)
	da := make([]float32, n)
	AccumulateGrad(da, dout)
	checkGrad(t, "add/da", da, a, 1e-7, func(v []float64) float64 {
		var s float64
		for i := range v {
			s += (v[i] + b64[i]) * rr[i]
		}
		return s
	})

	MulForward(out, a, b)
	da, db := make([]float32, n), make([]float32, n)
	MulBackward(da, db, dout, a, b)
	mul := func(x, y []float64) float64 {
		var s float64
		for i := range x {
			s += x[i] * y[i] * rr[i]
		}
		return s
	}
	checkGrad(t, "mul/da", da, a, 1e-6, func(v []float64) float64 { return mul(v, b64) })
	checkGrad(t, "mul/db", db, b, 1e-6, func(v []float64) float64 { return mul(a64, v) })

	ScaleForward(out, a, -2.5)
	da = make([]float32, n)
	ScaleBackward(da, dout, -2.5)
	checkGrad(t, "scale/da", da, a, 1e-6, func(v []float64) float64 {
		var s float64
		for i := range v {
			s += -2.5 * v[i] * rr[i]
		}
		return s
	})

	if got, want := SumForward(a), dot64(a64, make1(n)); math.Abs(float64(got)-want) > 1e-6 {
		t.Errorf("sum %g want %g", got, want)
	}
	da = make([]float32, n)
	MeanBackward(da, 3)
	checkGrad(t, "mean/da", da, a, 1e-7, func(v []float64) float64 { return 3 * dot64(v, make1(n)) / float64(n) })
	da, db = make([]float32, n), make([]float32, n)
	DotBackward(da, db, a, b, 2)
	checkGrad(t, "dot/da", da, a, 1e-6, func(v []float64) float64 { return 2 * dot64(v, b64) })
	if got, want := DotForward(a, b), dot64(a64, b64); math.Abs(float64(got)-want) > 1e-6 {
		t.Errorf("dot %g want %g", got, want)
	}
}

func make1(n int) []float64 {
	o := make([]float64, n)
	for i := range o {
		o[i] = 1
	}
	return o
}

func TestAdam(t *testing.T) {
	n := 50
	r := newRand(24)
	p := randSlice(r, n, -1, 1)
	m, v := make([]float32, n), make([]float32, n)
	p64, m64, v64 := f64s(p), make([]float64, n), make([]float64, n)
	lr, b1, b2, eps := 0.01, 0.9, 0.999, 1e-8
	for _, wd := range []float64{0, 0.01} {
		for step := 1; step <= 5; step++ {
			g := randSlice(r, n, -1, 1)
			AdamUpdate(p, g, m, v, step, float32(lr), float32(b1), float32(b2), float32(eps), float32(wd))
			for i := range p64 {
				gi := float64(g[i]) + wd*p64[i]
				m64[i] = b1*m64[i] + (1-b1)*gi
				v64[i] = b2*v64[i] + (1-b2)*gi*gi
				mh := m64[i] / (1 - math.Pow(b1, float64(step)))
				vh := v64[i] / (1 - math.Pow(b2, float64(step)))
				p64[i] -= lr * mh / (math.Sqrt(vh) + eps)
			}
			checkForward(t, fmt.Sprintf("adam wd=%g step %d", wd, step), p, p64, 1e-6)
		}
		for i := range m {
			m[i], v[i], m64[i], v64[i] = 0, 0, 0, 0
		}
	}
	// First step moves every parameter by lr·g/(|g|+eps) ≈ lr·sign(g).
	pt := NewParam(2)
	pt.Grad[0], pt.Grad[1] = 3, -1e-3
	opt := NewAdam([]*Tensor{pt}, 0.01)
	opt.Step()
	want1 := 0.01 * 1e-3 / (1e-3 + 1e-8)
	if math.Abs(float64(pt.Data[0])+0.01) > 1e-8 || math.Abs(float64(pt.Data[1])-want1) > 1e-8 {
		t.Errorf("first Adam step: %v, want [-0.01 0.01]", pt.Data)
	}
}

// TestTape composes tape ops (conv → BN → ReLU → cosine cost → softmax →
// Huber-free weighted sum) and checks the tape's gradients against finite
// differences of the float64 references.
func TestTape(t *testing.T) {
	s := ConvShape{N: 2, Cin: 2, H: 5, W: 6, Cout: 3, KH: 3, KW: 3, Mode: PadReflect}.Pad(1)
	r := newRand(25)
	x := FromData(randSlice(r, s.InLen(), -1, 1), s.N, s.Cin, s.H, s.W)
	w := NewParam(s.Cout, s.Cin, 3, 3)
	copy(w.Data, randSlice(r, w.Len(), -0.5, 0.5))
	gamma, beta := NewParam(3), NewParam(3)
	copy(gamma.Data, randSlice(r, 3, 0.5, 1.5))
	copy(beta.Data, randSlice(r, 3, 0.1, 0.5))
	rr := randSlice(r, s.N*s.Cout*s.H*s.W, -1, 1)

	var tp Tape
	y := tp.Conv2d(x, w, nil, s, nil)
	y = tp.BatchNorm2dTrain(y, gamma, beta, nil, nil, BNMomentum, BNEps)
	y = tp.Scale(tp.Softmax(y), 3)
	loss := tp.Dot(y, FromData(rr, len(rr)))
	tp.Backward(loss)
	if tp.Len() != 0 {
		t.Fatal("tape not cleared after Backward")
	}

	rr64 := f64s(rr)
	f := func(wv, gv []float64) float64 {
		c := convRef(f64s(x.Data), wv, nil, s)
		o, _, _ := bnTrainRef(c, gv, f64s(beta.Data), s.N, s.Cout, s.H*s.W, BNEps)
		nlast := s.W
		for i := 0; i < len(o); i += nlast {
			copy(o[i:], softmaxRef(o[i:i+nlast]))
		}
		for i := range o {
			o[i] *= 3
		}
		return dot64(o, rr64)
	}
	checkGrad(t, "tape(conv→bn→softmax)/dw", w.Grad, w.Data, 1e-4, func(v []float64) float64 { return f(v, f64s(gamma.Data)) })
	checkGrad(t, "tape(conv→bn→softmax)/dgamma", gamma.Grad, gamma.Data, 1e-4, func(v []float64) float64 { return f(f64s(w.Data), v) })
}

// TestTapeLosses wires the remaining tape ops into one scalar and checks
// the gradients of every leaf against finite differences of a float64
// composition of the references.
func TestTapeLosses(t *testing.T) {
	n, c, h, w := 3, 4, 3, 5
	hw := h * w
	r := newRand(26)
	q, f, pos := NewParam(n, c), NewParam(c, hw), NewParam(n)
	copy(q.Data, randSlice(r, q.Len(), -1, 1))
	copy(f.Data, randSlice(r, f.Len(), -1, 1))
	copy(pos.Data, randSlice(r, n, -1, 1))
	W := randSlice(r, n*hw, -1, 1)
	target := randSlice(r, hw, 0, 1)
	grid := smoothGrid(27, 6, h, w, GridSampleOptions{AlignCorners: true}, -1, 1)
	R := randSlice(r, c*6, -1, 1)
	R2 := randSlice(r, n*c, -1, 1)
	const temp, delta = 0.5, 0.2
	o := GridSampleOptions{AlignCorners: true, Padding: GridPadBorder}

	var tp Tape
	cos := tp.CosineCost(q, f, CosineEps)
	a := tp.Mean(tp.Mul(tp.LogSoftmax(tp.ReLU(cos)), FromData(W, n, hw)))
	b := tp.Sum(tp.InfoNCE(pos, cos, temp))
	f3 := &Tensor{Shape: []int{1, c, hw}, Data: f.Data, Grad: f.Grad} // views share Grad
	hub := tp.Huber(tp.Scale(tp.ChannelNorm(f3), 0.5), FromData(target, 1, hw), nil, delta)
	f4 := &Tensor{Shape: []int{1, c, h, w}, Data: f.Data, Grad: f.Grad}
	g := tp.Dot(tp.GridSample(f4, FromData(grid, 1, 1, 6, 2), o), FromData(R, len(R)))
	nz := tp.Dot(tp.Normalize(q, NormalizeEps), FromData(R2, len(R2)))
	loss := tp.Add(tp.Add(a, b), tp.Add(hub, tp.Add(g, nz)))
	tp.Backward(loss)

	ref := func(q, f, pos []float64) float64 {
		cs := cosineRef(q, f, n, c, hw, CosineEps)
		var L float64
		for i := 0; i < n; i++ {
			row := make([]float64, hw)
			for p := range row {
				row[p] = math.Max(cs[i*hw+p], 0)
			}
			l := lseRef(row)
			for p := range row {
				L += (row[p] - l) * float64(W[i*hw+p]) / float64(n*hw)
			}
			s := make([]float64, hw)
			for p := range s {
				s[p] = cs[i*hw+p] / temp
			}
			L += lseRef(s) - pos[i]/temp
		}
		for p := 0; p < hw; p++ {
			var s float64
			for ch := 0; ch < c; ch++ {
				s += f[ch*hw+p] * f[ch*hw+p]
			}
			L += huber(0.5*math.Sqrt(s)-float64(target[p]), delta) / float64(hw)
		}
		L += dot64(gridSampleRef(f, f64s(grid), 1, c, h, w, 1, 6, o), f64s(R))
		for i := 0; i < n; i++ {
			var s float64
			for ch := 0; ch < c; ch++ {
				s += q[i*c+ch] * q[i*c+ch]
			}
			for ch := 0; ch < c; ch++ {
				L += q[i*c+ch] / math.Sqrt(s) * float64(R2[i*c+ch])
			}
		}
		return L
	}
	q64, f64, p64 := f64s(q.Data), f64s(f.Data), f64s(pos.Data)
	if e := math.Abs(float64(loss.Data[0])-ref(q64, f64, p64)) / math.Abs(ref(q64, f64, p64)); e > 1e-5 {
		t.Errorf("tape loss %g, reference %g", loss.Data[0], ref(q64, f64, p64))
	}
	checkGrad(t, "tape(losses)/dq", q.Grad, q.Data, 1e-4, func(v []float64) float64 { return ref(v, f64, p64) })
	checkGrad(t, "tape(losses)/df", f.Grad, f.Data, 1e-4, func(v []float64) float64 { return ref(q64, v, p64) })
	checkGrad(t, "tape(losses)/dpos", pos.Grad, pos.Data, 1e-5, func(v []float64) float64 { return ref(q64, f64, v) })
}
