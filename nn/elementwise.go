package nn

import "dinotracker/internal/parallel"

// grain for elementwise loops: big enough that goroutine start-up is noise.
const ewGrain = 1 << 15

// ReLUForward sets out = max(x, 0) elementwise over len(x) values. out may
// alias x (in place); the backward pass then needs only out.
func ReLUForward(out, x []float32) {
	checkLen("ReLUForward", "out", out, len(x))
	parallel.For(len(x), ewGrain, func(lo, hi int) {
		for i := lo; i < hi; i++ {
			out[i] = max(x[i], 0)
		}
	})
}

// ReLUBackward accumulates dx += dout where out > 0 (out is the forward
// result; PyTorch's threshold_backward). The gradient at x = 0 is 0.
func ReLUBackward(dx, dout, out []float32) {
	checkLen("ReLUBackward", "dx", dx, len(out))
	checkLen("ReLUBackward", "dout", dout, len(out))
	parallel.For(len(out), ewGrain, func(lo, hi int) {
		for i := lo; i < hi; i++ {
			if out[i] > 0 {
				dx[i] += dout[i]
			}
		}
	})
}

// AddForward sets out = a + b elementwise over len(a) values; out may alias
// a or b. Its backward is da += dout, db += dout (AccumulateGrad).
func AddForward(out, a, b []float32) {
	checkLen("AddForward", "b", b, len(a))
	checkLen("AddForward", "out", out, len(a))
	parallel.For(len(a), ewGrain, func(lo, hi int) {
		for i := lo; i < hi; i++ {
			out[i] = a[i] + b[i]
		}
	})
}

// AccumulateGrad adds dout into dst (the backward of an identity or an
// addition): dst += dout. A nil dst is skipped.
func AccumulateGrad(dst, dout []float32) {
	if dst == nil {
		return
	}
	checkLen("AccumulateGrad", "dst", dst, len(dout))
	parallel.For(len(dout), ewGrain, func(lo, hi int) {
		for i := lo; i < hi; i++ {
			dst[i] += dout[i]
		}
	})
}

// MulForward sets out = a ⊙ b elementwise; out may alias a or b only if the
// backward pass is not needed (it reads a and b).
func MulForward(out, a, b []float32) {
	checkLen("MulForward", "b", b, len(a))
	checkLen("MulForward", "out", out, len(a))
	parallel.For(len(a), ewGrain, func(lo, hi int) {
		for i := lo; i < hi; i++ {
			out[i] = a[i] * b[i]
		}
	})
}

// MulBackward accumulates da += dout⊙b and db += dout⊙a (either may be nil).
func MulBackward(da, db, dout, a, b []float32) {
	checkOpt("MulBackward", "da", da, len(dout))
	checkOpt("MulBackward", "db", db, len(dout))
	parallel.For(len(dout), ewGrain, func(lo, hi int) {
		for i := lo; i < hi; i++ {
			if da != nil {
				da[i] += dout[i] * b[i]
			}
			if db != nil {
				db[i] += dout[i] * a[i]
			}
		}
	})
}

// ScaleForward sets out = s·a elementwise; out may alias a.
func ScaleForward(out, a []float32, s float32) {
	checkLen("ScaleForward", "out", out, len(a))
	parallel.For(len(a), ewGrain, func(lo, hi int) {
		for i := lo; i < hi; i++ {
			out[i] = s * a[i]
		}
	})
}

// ScaleBackward accumulates da += s·dout.
func ScaleBackward(da, dout []float32, s float32) {
	checkLen("ScaleBackward", "da", da, len(dout))
	parallel.For(len(dout), ewGrain, func(lo, hi int) {
		for i := lo; i < hi; i++ {
			da[i] += s * dout[i]
		}
	})
}

// SumForward returns Σ x, accumulated in float64.
func SumForward(x []float32) float32 { return float32(sum64(x)) }

// SumBackward accumulates dx += dsum (the same value everywhere).
func SumBackward(dx []float32, dsum float32) {
	parallel.For(len(dx), ewGrain, func(lo, hi int) {
		for i := lo; i < hi; i++ {
			dx[i] += dsum
		}
	})
}

// MeanForward returns Σ x / len(x), accumulated in float64 (NaN for an empty x).
func MeanForward(x []float32) float32 { return float32(sum64(x) / float64(len(x))) }

// MeanBackward accumulates dx += dmean/len(dx).
func MeanBackward(dx []float32, dmean float32) {
	SumBackward(dx, float32(float64(dmean)/float64(len(dx))))
}

// DotForward returns Σ a⊙b accumulated in float64 (a weighted sum when b
// holds weights).
func DotForward(a, b []float32) float32 {
	checkLen("DotForward", "b", b, len(a))
	var s float64
	for i, v := range a {
		s += float64(v) * float64(b[i])
	}
	return float32(s)
}

// DotBackward accumulates da += ddot·b and db += ddot·a (either may be nil).
func DotBackward(da, db, a, b []float32, ddot float32) {
	checkOpt("DotBackward", "da", da, len(a))
	checkOpt("DotBackward", "db", db, len(a))
	for i := range a {
		if da != nil {
			da[i] += ddot * b[i]
		}
		if db != nil {
			db[i] += ddot * a[i]
		}
	}
}
