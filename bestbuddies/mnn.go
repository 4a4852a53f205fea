package bestbuddies

import (
	"fmt"
	"math"

	"dinotracker/gemm"
	"dinotracker/internal/parallel"
)

// normClamp is the reference's lower bound on the product of two token
// norms in the cosine (torch.clamp(..., min=1e-08)).
const normClamp = 1e-8

// DefaultBlockRows is the number of source tokens whose similarities to all
// target tokens are held at once (512 rows × 8107 columns = 16.6 MB).
const DefaultBlockRows = 512

// Frame holds one frame's raw tokens in the token-major layout the kernels
// use: token k's C features are X[k·C : (k+1)·C]. Norm[k] is its L2 norm.
// P, when set, holds the reduced-dimension projection of the unit-length
// tokens ([N, D] row-major) that the bounded mode searches.
type Frame struct {
	N, C int
	X    []float32
	Norm []float32
	D    int
	P    []float32
}

// NewFrame converts a [C, N] channel-major feature map (the layout of
// dino_embed_video.pt and of dinotracker.Features.Frame, N = gh·gw) into a
// Frame. chw is not modified or retained.
func NewFrame(chw []float32, C, N int) *Frame {
	f := &Frame{}
	f.set(chw, C, N)
	return f
}

func (f *Frame) set(chw []float32, C, N int) {
	if len(chw) < C*N {
		panic(fmt.Sprintf("bestbuddies: frame holds %d values, want C·N = %d·%d", len(chw), C, N))
	}
	f.N, f.C = N, C
	f.X = growF(f.X, N*C)
	f.Norm = growF(f.Norm, N)
	f.D, f.P = 0, f.P[:0]
	x := f.X
	parallel.For(N, 256, func(lo, hi int) {
		// Transpose in tiles of 64 tokens so both sides stay in cache.
		for t0 := lo; t0 < hi; t0 += 64 {
			t1 := min(t0+64, hi)
			for c := 0; c < C; c++ {
				src := chw[c*N+t0 : c*N+t1]
				for k, v := range src {
					x[(t0+k)*C+c] = v
				}
			}
		}
		for k := lo; k < hi; k++ {
			var s float64
			for _, v := range x[k*C : (k+1)*C] {
				s += float64(v) * float64(v)
			}
			f.Norm[k] = float32(math.Sqrt(s))
		}
	})
}

func growF(b []float32, n int) []float32 {
	if cap(b) < n {
		return make([]float32, n)
	}
	return b[:n]
}

func growI(b []int32, n int) []int32 {
	if cap(b) < n {
		return make([]int32, n)
	}
	return b[:n]
}

// cosine is the reference's affinity: dot / max(|a|·|b|, 1e-8).
func cosine(dot, na, nb float32) float32 {
	p := na * nb
	if p < normClamp {
		p = normClamp
	}
	return dot / p
}

// beats reports whether value v at index i replaces the current best (bv,
// bi) under torch.argmax's rules: the largest value wins, NaN counts as the
// largest, and among equal values the first index wins.
func beats(v float32, i int32, bv float32, bi int32) bool {
	if v != v { // NaN
		return bv == bv || i < bi
	}
	return v > bv || (v == bv && i < bi)
}

// mnnWork holds the buffers of one frame pair's search, reused across pairs.
type mnnWork struct {
	blk            []float32
	rowArg, colArg []int32
	rowMax, colMax []float32
}

// MutualNN returns the best buddies of frames s (src) and t (dst), exactly as
// extract_dino_best_buddies.py defines them on raw DINO tokens: a and b are
// best buddies iff b = argmax_b′ cos(a, b′) and a = argmax_a′ cos(a′, b),
// with torch.argmax's first-index rule on ties.
//
// The cosine matrix is never held whole: blockRows source tokens at a time
// (≤ 0: DefaultBlockRows) are multiplied with all target tokens by one GEMM,
// and per-row argmaxes and per-column running maxima are kept. Both ordered
// directions come from the one product: st lists (s, t) in source raster
// order, ts is its mirror (t, s) in raster order of frame t.
func MutualNN(src, dst *Frame, grid Grid, blockRows int) (st, ts *Pairs) {
	var w mnnWork
	return w.mutualExact(src, dst, grid, blockRows)
}

func (w *mnnWork) mutualExact(src, dst *Frame, grid Grid, blockRows int) (st, ts *Pairs) {
	if src.C != dst.C {
		panic(fmt.Sprintf("bestbuddies: MutualNN: %d vs %d channels", src.C, dst.C))
	}
	if blockRows <= 0 {
		blockRows = DefaultBlockRows
	}
	N, M, C := src.N, dst.N, src.C
	blockRows = min(blockRows, N)
	w.blk = growF(w.blk, blockRows*M)
	w.rowArg = growI(w.rowArg, N)
	w.rowMax = growF(w.rowMax, N)
	w.colArg = growI(w.colArg, M)
	w.colMax = growF(w.colMax, M)
	ninf := float32(math.Inf(-1))
	for j := range w.colMax {
		w.colMax[j], w.colArg[j] = ninf, 0
	}
	for r0 := 0; r0 < N; r0 += blockRows {
		rows := min(blockRows, N-r0)
		blk := w.blk[:rows*M]
		gemm.MatMul(false, true, rows, M, C, 1, src.X[r0*C:], C, dst.X, C, 0, blk, M)
		w.scanBlock(blk, r0, rows, M, src.Norm, dst.Norm)
	}
	st = &Pairs{}
	for a := 0; a < N; a++ {
		b := w.rowArg[a]
		if w.colArg[b] == int32(a) {
			st.add(grid, int32(a), b, w.rowMax[a])
		}
	}
	st.Raw = st.Len()
	return st, st.Mirror()
}

// scanBlock turns a block of dot products (rows r0… of the source) into
// cosines in place and folds it into the row argmaxes and column maxima.
func (w *mnnWork) scanBlock(blk []float32, r0, rows, M int, nsrc, ndst []float32) {
	ninf := float32(math.Inf(-1))
	parallel.For(rows, 8, func(lo, hi int) {
		for r := lo; r < hi; r++ {
			row := blk[r*M : (r+1)*M]
			na := nsrc[r0+r]
			bv, bi := ninf, int32(0)
			for j, d := range row {
				v := cosine(d, na, ndst[j])
				row[j] = v
				if v > bv || (v != v && bv == bv) {
					bv, bi = v, int32(j)
				}
			}
			w.rowMax[r0+r], w.rowArg[r0+r] = bv, bi
		}
	})
	// Columns: each worker owns a column range and walks the rows in order,
	// so a strict > keeps the first row index on ties.
	parallel.For(M, 512, func(lo, hi int) {
		cm, ca := w.colMax[lo:hi], w.colArg[lo:hi]
		for r := 0; r < rows; r++ {
			row := blk[r*M+lo : r*M+hi]
			a := int32(r0 + r)
			for j, v := range row {
				if v > cm[j] || (v != v && cm[j] == cm[j]) {
					cm[j], ca[j] = v, a
				}
			}
		}
	})
}

// mutualNNBrute is the specification: the full matrix, then argmaxes.
func mutualNNBrute(src, dst *Frame, grid Grid) *Pairs {
	N, M, C := src.N, dst.N, src.C
	S := make([]float32, N*M)
	gemm.MatMul(false, true, N, M, C, 1, src.X, C, dst.X, C, 0, S, M)
	for a := 0; a < N; a++ {
		for b := 0; b < M; b++ {
			S[a*M+b] = cosine(S[a*M+b], src.Norm[a], dst.Norm[b])
		}
	}
	rowArg := make([]int32, N)
	for a := 0; a < N; a++ {
		bv, bi := float32(math.Inf(-1)), int32(0)
		for b := 0; b < M; b++ {
			if beats(S[a*M+b], int32(b), bv, bi) {
				bv, bi = S[a*M+b], int32(b)
			}
		}
		rowArg[a] = bi
	}
	colArg := make([]int32, M)
	for b := 0; b < M; b++ {
		bv, bi := float32(math.Inf(-1)), int32(0)
		for a := 0; a < N; a++ {
			if beats(S[a*M+b], int32(a), bv, bi) {
				bv, bi = S[a*M+b], int32(a)
			}
		}
		colArg[b] = bi
	}
	p := &Pairs{}
	for a := 0; a < N; a++ {
		if b := rowArg[a]; colArg[b] == int32(a) {
			p.add(grid, int32(a), b, S[a*M+int(b)])
		}
	}
	p.Raw = p.Len()
	return p
}
