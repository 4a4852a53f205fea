package bestbuddies

import (
	"fmt"
	"math"
	"math/rand/v2"

	"dinotracker/gemm"
	"dinotracker/internal/parallel"

	"gonum.org/v1/gonum/blas/blas32"
	"gonum.org/v1/gonum/mat"
)

// Basis is a reduced-dimension projection for the bounded search: D
// orthonormal directions in feature space, stored [C, D] row-major. Project
// maps unit-length tokens onto them, so inner products of projections
// approximate cosines.
type Basis struct {
	C, D int
	V    []float32
}

// PCABasis returns the D leading principal directions (uncentred: the
// eigenvectors of the second-moment matrix, which best preserve inner
// products) of the unit-length rows of sample, an [S, C] token matrix. It
// uses a randomised subspace iteration seeded by seed (four power
// iterations on D+16 directions, then a Rayleigh–Ritz step), so its cost is
// O(S·C·D) rather than an eigendecomposition of C×C.
func PCABasis(sample []float32, S, C, D int, seed uint64) (*Basis, error) {
	if D <= 0 || D > C {
		return nil, fmt.Errorf("bestbuddies: projection dimension %d outside 1…%d", D, C)
	}
	if S <= 0 || len(sample) < S*C {
		return nil, fmt.Errorf("bestbuddies: PCA sample holds %d values, want %d×%d", len(sample), S, C)
	}
	X := make([]float32, S*C)
	copy(X, sample[:S*C])
	for s := 0; s < S; s++ {
		row := X[s*C : (s+1)*C]
		var n float64
		for _, v := range row {
			n += float64(v) * float64(v)
		}
		if n > 0 {
			inv := float32(1 / math.Sqrt(n))
			for c := range row {
				row[c] *= inv
			}
		}
	}
	q := min(C, D+16)
	rng := rand.New(rand.NewPCG(seed, 0x6262))
	Q := make([]float32, C*q)
	for i := range Q {
		Q[i] = float32(rng.NormFloat64())
	}
	Y := make([]float32, S*q)
	orthonormalize(Q, C, q)
	for it := 0; it < 4; it++ {
		gemm.MatMul(false, false, S, q, C, 1, X, C, Q, q, 0, Y, q)
		gemm.MatMul(true, false, C, q, S, 1, X, C, Y, q, 0, Q, q)
		orthonormalize(Q, C, q)
	}
	gemm.MatMul(false, false, S, q, C, 1, X, C, Q, q, 0, Y, q)
	B := make([]float32, q*q)
	gemm.MatMul(true, false, q, q, S, 1, Y, q, Y, q, 0, B, q)
	sym := mat.NewSymDense(q, nil)
	for i := 0; i < q; i++ {
		for j := i; j < q; j++ {
			sym.SetSym(i, j, 0.5*(float64(B[i*q+j])+float64(B[j*q+i])))
		}
	}
	var eig mat.EigenSym
	if !eig.Factorize(sym, true) {
		return nil, fmt.Errorf("bestbuddies: PCA eigendecomposition did not converge")
	}
	var vec mat.Dense
	eig.VectorsTo(&vec) // columns, eigenvalues ascending
	V := make([]float32, C*D)
	for c := 0; c < C; c++ {
		for d := 0; d < D; d++ {
			col := q - 1 - d
			var s float64
			for k := 0; k < q; k++ {
				s += float64(Q[c*q+k]) * vec.At(k, col)
			}
			V[c*D+d] = float32(s)
		}
	}
	return &Basis{C: C, D: D, V: V}, nil
}

// orthonormalize makes the q columns of the row-major C×q matrix A
// orthonormal (modified Gram–Schmidt in float64, run twice).
func orthonormalize(A []float32, C, q int) {
	cols := make([][]float64, q)
	for k := range cols {
		cols[k] = make([]float64, C)
		for c := 0; c < C; c++ {
			cols[k][c] = float64(A[c*q+k])
		}
	}
	for pass := 0; pass < 2; pass++ {
		for k := 0; k < q; k++ {
			v := cols[k]
			for j := 0; j < k; j++ {
				var d float64
				for c, x := range cols[j] {
					d += x * v[c]
				}
				for c, x := range cols[j] {
					v[c] -= d * x
				}
			}
			var n float64
			for _, x := range v {
				n += x * x
			}
			n = math.Sqrt(n)
			if n < 1e-12 {
				// A dependent column: replace it with a unit vector orthogonal
				// enough for the next pass to clean up.
				clear(v)
				v[k%C] = 1
				continue
			}
			for c := range v {
				v[c] /= n
			}
		}
	}
	for k := range cols {
		for c := 0; c < C; c++ {
			A[c*q+k] = float32(cols[k][c])
		}
	}
}

// Project sets f.P to the projection of f's unit-length tokens on the basis
// ([N, D]); zero tokens project to zero.
func (b *Basis) Project(f *Frame) {
	if f.C != b.C {
		panic(fmt.Sprintf("bestbuddies: basis for %d channels, frame has %d", b.C, f.C))
	}
	f.D = b.D
	f.P = growF(f.P, f.N*b.D)
	gemm.MatMul(false, false, f.N, b.D, b.C, 1, f.X, f.C, b.V, b.D, 0, f.P, b.D)
	D := b.D
	parallel.For(f.N, 256, func(lo, hi int) {
		for k := lo; k < hi; k++ {
			s := float32(0)
			if n := f.Norm[k]; n > 0 {
				s = 1 / n
			}
			row := f.P[k*D : (k+1)*D]
			for d := range row {
				row[d] *= s
			}
		}
	})
}

// insertTop offers (v, j) to the sorted list l (length n ≤ k, capacity k) and
// returns the new length. Equal values keep the earlier entry first.
func insertTop(lv []float32, li []int32, n, k int, v float32, j int32) int {
	p := n
	if n == k {
		if !(v > lv[k-1]) {
			return n
		}
		p = k - 1
	} else {
		n++
	}
	for p > 0 && v > lv[p-1] {
		lv[p], li[p] = lv[p-1], li[p-1]
		p--
	}
	lv[p], li[p] = v, j
	return n
}

// projWork holds the buffers of the reduced-dimension search.
type projWork struct {
	blk          []float32
	rowV, colV   []float32
	rowI, colI   []int32
	rowN, colN   []int32
	colThr       []float32 // k-th best value of each column once it holds k
	rowEV, colEV []float32
	rbV, cbV     []float32
	rbI, cbI     []int32
}

// mutualProjected finds mutual nearest neighbours on the candidate graph of
// the reduced-dimension search: every source token keeps its k best target
// tokens under the projected similarity, every target token its k best
// source tokens; all these candidate links are rescored with the exact
// cosine of the raw tokens, and a and b are best buddies when each is the
// other's best among its rescored links (first index on ties). Pairs are
// exact whenever each endpoint's true nearest neighbour is among its
// candidates; the cosines are always exact.
func (w *projWork) mutualProjected(src, dst *Frame, k int, grid Grid, blockRows int) (st, ts *Pairs) {
	if src.D == 0 || src.D != dst.D || src.C != dst.C {
		panic("bestbuddies: projected search needs both frames projected on one basis")
	}
	if blockRows <= 0 {
		blockRows = DefaultBlockRows
	}
	N, M, D, C := src.N, dst.N, src.D, src.C
	k = max(1, min(k, N, M))
	blockRows = min(blockRows, N)
	w.blk = growF(w.blk, blockRows*M)
	w.rowV, w.rowI, w.rowN = growF(w.rowV, N*k), growI(w.rowI, N*k), growI(w.rowN, N)
	w.colV, w.colI, w.colN = growF(w.colV, M*k), growI(w.colI, M*k), growI(w.colN, M)
	w.colThr = growF(w.colThr, M)
	clear(w.colN)
	ninf := float32(math.Inf(-1))
	for j := range w.colThr {
		w.colThr[j] = ninf // admit anything until the column holds k
	}
	for r0 := 0; r0 < N; r0 += blockRows {
		rows := min(blockRows, N-r0)
		blk := w.blk[:rows*M]
		gemm.MatMul(false, true, rows, M, D, 1, src.P[r0*D:], D, dst.P, D, 0, blk, M)
		parallel.For(rows, 8, func(lo, hi int) {
			for r := lo; r < hi; r++ {
				a := r0 + r
				lv, li := w.rowV[a*k:(a+1)*k], w.rowI[a*k:(a+1)*k]
				n, thr := 0, ninf
				for j, v := range blk[r*M : (r+1)*M] {
					if v > thr {
						n = insertTop(lv, li, n, k, v, int32(j))
						if n == k {
							thr = lv[k-1]
						}
					}
				}
				w.rowN[a] = int32(n)
			}
		})
		parallel.For(M, 512, func(lo, hi int) {
			thr := w.colThr[lo:hi]
			for r := 0; r < rows; r++ {
				row := blk[r*M+lo : r*M+hi]
				a := int32(r0 + r)
				for q, v := range row {
					if v > thr[q] {
						j := lo + q
						n := insertTop(w.colV[j*k:(j+1)*k], w.colI[j*k:(j+1)*k], int(w.colN[j]), k, v, a)
						w.colN[j] = int32(n)
						if n == k {
							thr[q] = w.colV[j*k+k-1]
						}
					}
				}
			}
		})
	}
	// Rescore every candidate link exactly.
	dot := blas32.Implementation().Sdot
	exact := func(a, b int) float32 {
		return cosine(dot(C, src.X[a*C:(a+1)*C], 1, dst.X[b*C:(b+1)*C], 1), src.Norm[a], dst.Norm[b])
	}
	w.rowEV, w.colEV = growF(w.rowEV, N*k), growF(w.colEV, M*k)
	w.rbV, w.rbI = growF(w.rbV, N), growI(w.rbI, N)
	w.cbV, w.cbI = growF(w.cbV, M), growI(w.cbI, M)
	parallel.For(N, 64, func(lo, hi int) {
		for a := lo; a < hi; a++ {
			bv, bi := ninf, int32(math.MaxInt32)
			for q := 0; q < int(w.rowN[a]); q++ {
				b := w.rowI[a*k+q]
				v := exact(a, int(b))
				w.rowEV[a*k+q] = v
				if beats(v, b, bv, bi) {
					bv, bi = v, b
				}
			}
			w.rbV[a], w.rbI[a] = bv, bi
		}
	})
	parallel.For(M, 64, func(lo, hi int) {
		for b := lo; b < hi; b++ {
			bv, bi := ninf, int32(math.MaxInt32)
			for q := 0; q < int(w.colN[b]); q++ {
				a := w.colI[b*k+q]
				v := exact(int(a), b)
				w.colEV[b*k+q] = v
				if beats(v, a, bv, bi) {
					bv, bi = v, a
				}
			}
			w.cbV[b], w.cbI[b] = bv, bi
		}
	})
	// Each link also counts for its other endpoint.
	for a := 0; a < N; a++ {
		for q := 0; q < int(w.rowN[a]); q++ {
			b, v := w.rowI[a*k+q], w.rowEV[a*k+q]
			if beats(v, int32(a), w.cbV[b], w.cbI[b]) {
				w.cbV[b], w.cbI[b] = v, int32(a)
			}
		}
	}
	for b := 0; b < M; b++ {
		for q := 0; q < int(w.colN[b]); q++ {
			a, v := w.colI[b*k+q], w.colEV[b*k+q]
			if beats(v, int32(b), w.rbV[a], w.rbI[a]) {
				w.rbV[a], w.rbI[a] = v, int32(b)
			}
		}
	}
	st = &Pairs{}
	for a := 0; a < N; a++ {
		b := w.rbI[a]
		if b >= 0 && int(b) < M && w.cbI[b] == int32(a) {
			st.add(grid, int32(a), b, w.rbV[a])
		}
	}
	st.Raw = st.Len()
	return st, st.Mirror()
}
