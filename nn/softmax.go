package nn

import (
	"math"

	"dinotracker/internal/parallel"
)

// rowMax returns the largest value of row (the first element for an
// all-NaN row is irrelevant: the result is then NaN everywhere anyway).
func rowMax(row []float32) float32 {
	m := float32(math.Inf(-1))
	for _, v := range row {
		if v > m {
			m = v
		}
	}
	return m
}

// logSumExp returns log Σ exp(s·row) in float64, stably (shifted by the max).
func logSumExp(row []float32, s float32) float64 {
	m := float64(rowMax(row))
	if s < 0 {
		m = float64(rowMin(row))
	}
	m *= float64(s)
	var acc float64
	for _, v := range row {
		acc += math.Exp(float64(s)*float64(v) - m)
	}
	return m + math.Log(acc)
}

func rowMin(row []float32) float32 {
	m := float32(math.Inf(1))
	for _, v := range row {
		if v < m {
			m = v
		}
	}
	return m
}

// SoftmaxForward sets out[r, :] = softmax(x[r, :]) for x, out [rows, n]
// (nn.Softmax over the last axis; DINO-Tracker's refiner map uses n = 67·121),
// stabilised by subtracting the row max. out may alias x; the backward pass
// needs only out.
func SoftmaxForward(out, x []float32, rows, n int) {
	checkLen("SoftmaxForward", "x", x, rows*n)
	checkLen("SoftmaxForward", "out", out, rows*n)
	parallel.For(rows, 1, func(lo, hi int) {
		for r := lo; r < hi; r++ {
			xs, os := x[r*n:(r+1)*n], out[r*n:(r+1)*n]
			m := float64(rowMax(xs))
			var s float64
			for i, v := range xs {
				e := math.Exp(float64(v) - m)
				os[i] = float32(e)
				s += e
			}
			inv := 1 / s
			for i := range os {
				os[i] = float32(float64(os[i]) * inv)
			}
		}
	})
}

// SoftmaxBackward accumulates dx += out⊙(dout - ⟨dout, out⟩) row by row.
func SoftmaxBackward(dx, dout, out []float32, rows, n int) {
	checkLen("SoftmaxBackward", "dx", dx, rows*n)
	parallel.For(rows, 1, func(lo, hi int) {
		for r := lo; r < hi; r++ {
			g, y := dout[r*n:(r+1)*n], out[r*n:(r+1)*n]
			var d float64
			for i, v := range y {
				d += float64(v) * float64(g[i])
			}
			d32 := float32(d)
			for i, v := range y {
				dx[r*n+i] += v * (g[i] - d32)
			}
		}
	})
}

// LogSoftmaxForward sets out[r, :] = x[r, :] - logΣexp(x[r, :]) for
// x, out [rows, n]. out may alias x; the backward pass needs only out.
func LogSoftmaxForward(out, x []float32, rows, n int) {
	checkLen("LogSoftmaxForward", "x", x, rows*n)
	checkLen("LogSoftmaxForward", "out", out, rows*n)
	parallel.For(rows, 1, func(lo, hi int) {
		for r := lo; r < hi; r++ {
			xs := x[r*n : (r+1)*n]
			lse := logSumExp(xs, 1)
			for i, v := range xs {
				out[r*n+i] = float32(float64(v) - lse)
			}
		}
	})
}

// LogSoftmaxBackward accumulates dx += dout - exp(out)·Σdout row by row.
func LogSoftmaxBackward(dx, dout, out []float32, rows, n int) {
	checkLen("LogSoftmaxBackward", "dx", dx, rows*n)
	parallel.For(rows, 1, func(lo, hi int) {
		for r := lo; r < hi; r++ {
			g := dout[r*n : (r+1)*n]
			s := float32(sum64(g))
			for i, v := range out[r*n : (r+1)*n] {
				dx[r*n+i] += g[i] - float32(math.Exp(float64(v)))*s
			}
		}
	})
}

// ArgmaxRows sets idx[r] to the index of the largest value of x[r, :]
// (x [rows, n]), the first one on ties, as torch.argmax.
func ArgmaxRows(idx []int, x []float32, rows, n int) {
	checkLen("ArgmaxRows", "x", x, rows*n)
	for r := 0; r < rows; r++ {
		row := x[r*n : (r+1)*n]
		best := 0
		for i, v := range row {
			if v > row[best] {
				best = i
			}
		}
		idx[r] = best
	}
}
