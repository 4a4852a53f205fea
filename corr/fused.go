package corr

import (
	"math"

	"dinotracker/gemm"
)

// FusedRows is the most query rows DotsAndNorms takes.
const FusedRows = 4

// fusedCols is DotsAndNorms' column chunk: its partial sums live on the
// stack.
const fusedCols = 512

// DotsAndNorms computes, for the tokens [j0, j1) of the channel-major map
// feat [c, p] and m ≤ FusedRows query rows q [m, c], in one pass over the
// block:
//
//	dots[i·ldd + j−j0] = Σ_ch q[i·c+ch]·feat[ch·p+j]   (gemm.MatMulKernel's bits)
//	norm[j]            = ‖feat[:, j]‖₂                  (NormsCols' bits; skipped when norm is nil)
//
// With so few rows, reading the block is what costs: the kernel reads it
// once, in place, where a GEMM would pack it first (and the norms would be
// a second pass). It returns false, computing nothing, when this build or
// CPU has no kernel for it, or when c is not a multiple of 4.
func DotsAndNorms(dots []float32, ldd int, norm, q []float32, m, c int, feat []float32, p, j0, j1 int) bool {
	if m < 1 || m > FusedRows || c < 4 || c%4 != 0 || j0 < 0 || j1 > p || j0 >= j1 || !fusedKernel() {
		return false
	}
	if len(q) < m*c || len(feat) < c*p || (norm != nil && len(norm) < p) || len(dots) < (m-1)*ldd+(j1-j0) {
		panic("corr: DotsAndNorms slices too short")
	}
	// The kernel always works on four rows: absent ones are zeros.
	var qpadBuf [FusedRows * 1024]float32
	qpad := qpadBuf[:]
	if FusedRows*c > len(qpad) {
		qpad = make([]float32, FusedRows*c)
	}
	qpad = qpad[:FusedRows*c]
	copy(qpad, q[:m*c])
	clear(qpad[m*c:])
	var accBuf [FusedRows * fusedCols]float32
	var naccBuf [fusedCols]float64
	whole := (j1 - j0) &^ 15
	for c0 := 0; c0 < whole; c0 += fusedCols {
		nb := min(fusedCols, whole-c0)
		j := j0 + c0
		acc, nacc := accBuf[:FusedRows*nb], naccBuf[:nb]
		clear(nacc)
		for pc := 0; pc < c; pc += gemm.KC {
			kcb := min(gemm.KC, c-pc)
			clear(acc)
			dotsNormsPanel(qpad[pc:], c, kcb/4, feat[pc*p+j:], p, nb, acc, nacc)
			for i := 0; i < m; i++ {
				row, sum := dots[i*ldd+c0:i*ldd+c0+nb], acc[i*nb:(i+1)*nb]
				if pc == 0 {
					copy(row, sum)
					continue
				}
				for k, v := range sum {
					row[k] += v
				}
			}
		}
		if norm != nil {
			for k, s := range nacc {
				norm[j+k] = float32(math.Sqrt(s))
			}
		}
	}
	if j0+whole < j1 {
		if norm != nil {
			NormsCols(norm, feat, c, p, j0+whole, j1)
		}
		gemm.MatMulKernel(false, false, m, j1-j0-whole, c, 1, q, c, feat[j0+whole:], p, 0, dots[whole:], ldd)
	}
	return true
}
