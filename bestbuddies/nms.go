package bestbuddies

import (
	"fmt"
	"slices"
	"sync"

	"dinotracker/gemm"
	"dinotracker/internal/parallel"

	"gonum.org/v1/gonum/blas/blas32"
)

// NMS holds the parameters of the ambiguity ratio (compute_dino_bb_nms.py
// with the values config/preprocessing.yaml passes).
type NMS struct {
	TopK    int     // affinities kept per source token before NMS (400)
	BoxHalf float32 // half side of the box around each token centre, pixels (dino_bb_box_size 30)
	IoU     float64 // a box is suppressed when its IoU with a kept box is > IoU (dino_bb_iou_threshold 0.2)
}

// DefaultNMS returns the reference's values: top-400, ±30 px boxes, IoU 0.2.
func DefaultNMS() NMS { return NMS{TopK: 400, BoxHalf: 30, IoU: 0.2} }

func (n NMS) withDefaults() NMS {
	d := DefaultNMS()
	if n.TopK <= 0 {
		n.TopK = d.TopK
	}
	if n.BoxHalf <= 0 {
		n.BoxHalf = d.BoxHalf
	}
	if n.IoU <= 0 {
		n.IoU = d.IoU
	}
	return n
}

// cand is one target token and its affinity.
type cand struct {
	v float32
	i int32
}

// before is the descending order torch.topk and the NMS sort use: larger
// value first, NaN largest, lower index first among equal values (torch
// leaves that order unspecified; the golden data has no such ties).
func before(a, b cand) bool {
	an, bn := a.v != a.v, b.v != b.v
	if an || bn {
		if an && bn {
			return a.i < b.i
		}
		return an
	}
	return a.v > b.v || (a.v == b.v && a.i < b.i)
}

// cmpCand is before as a three-way comparison for slices.SortFunc.
func cmpCand(a, b cand) int {
	switch {
	case a.v > b.v:
		return -1
	case a.v < b.v:
		return 1
	case a.v == b.v:
		return int(a.i - b.i)
	}
	if before(a, b) { // NaN involved
		return -1
	}
	if before(b, a) {
		return 1
	}
	return 0
}

// selectTop reorders c so that c[:k] holds its k first elements under
// before (in no particular order): quickselect with median-of-three pivots.
func selectTop(c []cand, k int) {
	if k <= 0 || k >= len(c) {
		return
	}
	lo, hi := 0, len(c)-1
	for lo < hi {
		mid := lo + (hi-lo)/2
		if before(c[mid], c[lo]) {
			c[mid], c[lo] = c[lo], c[mid]
		}
		if before(c[hi], c[lo]) {
			c[hi], c[lo] = c[lo], c[hi]
		}
		if before(c[hi], c[mid]) {
			c[hi], c[mid] = c[mid], c[hi]
		}
		p := c[mid]
		i, j := lo, hi
		for i <= j {
			for before(c[i], p) {
				i++
			}
			for before(p, c[j]) {
				j--
			}
			if i <= j {
				c[i], c[j] = c[j], c[i]
				i++
				j--
			}
		}
		switch {
		case k-1 <= j:
			hi = j
		case k-1 >= i:
			lo = i
		default:
			return
		}
	}
}

// topSorted leaves the k first candidates of c, sorted, in c[:k].
func topSorted(c []cand, k int) []cand {
	k = min(k, len(c))
	selectTop(c, k)
	c = c[:k]
	slices.SortFunc(c, cmpCand)
	return c
}

// topOfRow fills dst with the k first entries of row (value desc, index asc),
// in that order when sorted is set: the fast path of topSorted for a dense
// row. It finds the
// k-th largest value by quickselect on a plain float32 copy (vals is
// scratch), then gathers, which avoids comparing (value, index) structs.
// Rows with NaN take the general path.
func topOfRow(row []float32, k int, sorted bool, vals []float32, dst []cand) []cand {
	n := len(row)
	k = min(k, n)
	if k <= 0 {
		return dst[:0]
	}
	vals = vals[:n]
	copy(vals, row)
	hasNaN := false
	for _, v := range vals {
		if v != v {
			hasNaN = true
			break
		}
	}
	if hasNaN {
		dst = dst[:n]
		for j, v := range row {
			dst[j] = cand{v, int32(j)}
		}
		return topSorted(dst, k)
	}
	thr := kthLargest(vals, k)
	dst = dst[:0]
	for j, v := range row {
		if v > thr {
			dst = append(dst, cand{v, int32(j)})
		}
	}
	// Equal values: lowest indices first, as before() orders them.
	for j, v := range row {
		if len(dst) == k {
			break
		}
		if v == thr {
			dst = append(dst, cand{v, int32(j)})
		}
	}
	if sorted {
		slices.SortFunc(dst, cmpCand)
	}
	return dst
}

// kthLargest returns the k-th largest value of v (1-based), reordering v.
func kthLargest(v []float32, k int) float32 {
	lo, hi := 0, len(v)-1
	want := k - 1
	for lo < hi {
		mid := lo + (hi-lo)/2
		if v[mid] > v[lo] {
			v[mid], v[lo] = v[lo], v[mid]
		}
		if v[hi] > v[lo] {
			v[hi], v[lo] = v[lo], v[hi]
		}
		if v[hi] > v[mid] {
			v[hi], v[mid] = v[mid], v[hi]
		}
		p := v[mid]
		i, j := lo, hi
		for i <= j {
			for v[i] > p {
				i++
			}
			for p > v[j] {
				j--
			}
			if i <= j {
				v[i], v[j] = v[j], v[i]
				i++
				j--
			}
		}
		switch {
		case want <= j:
			hi = j
		case want >= i:
			lo = i
		default:
			return v[want]
		}
	}
	return v[want]
}

// iouAbove is torchvision's CPU nms test for two equal boxes of half side h
// around (ax, ay) and (bx, by), in float32 as the kernel computes it:
// inter / (area_a + area_b − inter) > thr, areas (x2−x1)·(y2−y1).
func iouAbove(ax, ay, bx, by, h float32, thr float64) bool {
	ax1, ay1, ax2, ay2 := ax-h, ay-h, ax+h, ay+h
	bx1, by1, bx2, by2 := bx-h, by-h, bx+h, by+h
	areaA := (ax2 - ax1) * (ay2 - ay1)
	areaB := (bx2 - bx1) * (by2 - by1)
	w := max(0, min(ax2, bx2)-max(ax1, bx1))
	hh := max(0, min(ay2, by2)-max(ay1, by1))
	inter := w * hh
	ovr := inter / (areaA + areaB - inter)
	return float64(ovr) > thr
}

// peakTop2 is get_bb_sim_indices for one source token: c holds its top-K
// affinities sorted by before (torch.topk then the NMS sort). Greedy NMS
// keeps a box unless a kept box with a higher score overlaps it with
// IoU > thr; suppressed affinities are set to 0, and the two largest values
// of the result are returned: v1 ≥ v2, with v2 = 0 when only one peak
// survives (or when every surviving peak but the first is negative).
//
// Only the first two kept boxes and whether anything was suppressed at all
// matter for those two values, so the greedy loop stops as soon as both are
// known; the result equals full NMS followed by top-2.
func peakTop2(c []cand, grid Grid, n NMS, sup []bool) (v1, v2 float32) {
	K := len(c)
	if K == 0 {
		return 0, 0
	}
	sup = sup[:K]
	clear(sup)
	anySup := false
	centre := func(k int) (float32, float32) { return grid.Centre(int(c[k].i)) }
	suppressFrom := func(i int) {
		ix, iy := centre(i)
		for j := i + 1; j < K; j++ {
			if sup[j] {
				continue
			}
			jx, jy := centre(j)
			if iouAbove(ix, iy, jx, jy, n.BoxHalf, n.IoU) {
				sup[j] = true
				anySup = true
			}
		}
	}
	vals := make([]float32, 0, 3)
	vals = append(vals, c[0].v)
	suppressFrom(0)
	i2 := -1
	for j := 1; j < K; j++ {
		if !sup[j] {
			i2 = j
			break
		}
	}
	if i2 >= 0 {
		s2 := c[i2].v
		if s2 >= 0 {
			return c[0].v, s2
		}
		vals = append(vals, s2)
		// s2 < 0: a suppressed zero would outrank it, so find out whether
		// the full greedy pass suppresses anything.
		for i := i2; i < K && !anySup; i++ {
			if !sup[i] {
				suppressFrom(i)
			}
		}
	}
	if anySup {
		vals = append(vals, 0)
	}
	if len(vals) == 1 {
		return vals[0], 0
	}
	cs := make([]cand, len(vals))
	for k, v := range vals {
		cs[k] = cand{v, int32(k)}
	}
	slices.SortFunc(cs, cmpCand)
	return cs[0].v, cs[1].v
}

// PeakAffinities returns the top-2 affinities (v1, v2) after NMS of one
// source token, given its affinity to every target token of the grid
// (row[k] for flat token k): the per-token core of AmbiguityRatio.
func PeakAffinities(row []float32, grid Grid, n NMS) (v1, v2 float32) {
	n = n.withDefaults()
	c := topOfRow(row, n.TopK, true, make([]float32, len(row)), make([]cand, len(row)))
	return peakTop2(c, grid, n, make([]bool, len(c)))
}

// nmsScratch is the per-goroutine buffer set of the ambiguity ratio.
type nmsScratch struct {
	c   []cand
	sup []bool
	x   []float32
}

func (sc *nmsScratch) grow(m int) {
	if cap(sc.c) < m {
		sc.c = make([]cand, m)
	}
	if cap(sc.x) < m {
		sc.x = make([]float32, m)
	}
}

var nmsPool = sync.Pool{New: func() any { return &nmsScratch{} }}

// AmbiguityRatio fills p.PeakAffs and p.R for the ordered frame pair
// (src, dst), as compute_bb_nms does: for each pair, the cosine of the source
// token with every target token, its top-K, greedy NMS over boxes of half
// side n.BoxHalf around the token centres (IoU > n.IoU suppresses), the top
// two surviving affinities (v1, v2) and r = v2/v1 (not yet symmetrised; see
// Symmetrize). Zero fields of n take DefaultNMS values. The cosines of
// blockRows sources (≤ 0: DefaultBlockRows) at a time come from one GEMM.
func AmbiguityRatio(src, dst *Frame, p *Pairs, grid Grid, n NMS, blockRows int) {
	n = n.withDefaults()
	if blockRows <= 0 {
		blockRows = DefaultBlockRows
	}
	np := p.Len()
	p.PeakAffs = make([][2]float32, np)
	p.R = make([]float32, np)
	C, M := src.C, dst.N
	a := make([]float32, min(blockRows, np)*C)
	blk := make([]float32, min(blockRows, np)*M)
	for r0 := 0; r0 < np; r0 += blockRows {
		rows := min(blockRows, np-r0)
		for r := 0; r < rows; r++ {
			k := int(p.SourceTok[r0+r])
			copy(a[r*C:(r+1)*C], src.X[k*C:(k+1)*C])
		}
		gemm.MatMul(false, true, rows, M, C, 1, a, C, dst.X, C, 0, blk, M)
		parallel.For(rows, 4, func(lo, hi int) {
			sc := nmsPool.Get().(*nmsScratch)
			defer nmsPool.Put(sc)
			for r := lo; r < hi; r++ {
				na := src.Norm[p.SourceTok[r0+r]]
				row := blk[r*M : (r+1)*M]
				for j, d := range row {
					row[j] = cosine(d, na, dst.Norm[j])
				}
				sc.grow(M)
				c := topOfRow(row, n.TopK, true, sc.x, sc.c)
				p.setPeaks(r0+r, c, grid, n, sc)
			}
		})
	}
}

func (p *Pairs) setPeaks(i int, c []cand, grid Grid, n NMS, sc *nmsScratch) {
	if cap(sc.sup) < len(c) {
		sc.sup = make([]bool, len(c))
	}
	v1, v2 := peakTop2(c, grid, n, sc.sup)
	p.PeakAffs[i] = [2]float32{v1, v2}
	p.R[i] = v2 / v1
}

// ambiguityProjected is AmbiguityRatio for the bounded mode: each source
// token's affinities are first ranked in the reduced space (one GEMM of
// dimension D), the best TopK+extra are recomputed exactly from the raw
// tokens, and the exact top-K of those goes through the same NMS. The result
// equals AmbiguityRatio whenever the exact top-K lies among those
// candidates; v1 and v2 (the highest peaks) are then exact.
func ambiguityProjected(src, dst *Frame, p *Pairs, grid Grid, n NMS, blockRows, extra int) {
	n = n.withDefaults()
	if blockRows <= 0 {
		blockRows = DefaultBlockRows
	}
	np := p.Len()
	p.PeakAffs = make([][2]float32, np)
	p.R = make([]float32, np)
	C, M, D := src.C, dst.N, src.D
	kc := min(M, n.TopK+extra)
	a := make([]float32, min(blockRows, np)*D)
	blk := make([]float32, min(blockRows, np)*M)
	dot := blas32.Implementation().Sdot
	for r0 := 0; r0 < np; r0 += blockRows {
		rows := min(blockRows, np-r0)
		for r := 0; r < rows; r++ {
			k := int(p.SourceTok[r0+r])
			copy(a[r*D:(r+1)*D], src.P[k*D:(k+1)*D])
		}
		gemm.MatMul(false, true, rows, M, D, 1, a, D, dst.P, D, 0, blk, M)
		parallel.For(rows, 4, func(lo, hi int) {
			sc := nmsPool.Get().(*nmsScratch)
			defer nmsPool.Put(sc)
			for r := lo; r < hi; r++ {
				ka := int(p.SourceTok[r0+r])
				xa, na := src.X[ka*C:(ka+1)*C], src.Norm[ka]
				row := blk[r*M : (r+1)*M]
				sc.grow(M)
				c := topOfRow(row, kc, false, sc.x, sc.c)
				for q := range c {
					b := int(c[q].i)
					c[q].v = cosine(dot(C, xa, 1, dst.X[b*C:(b+1)*C], 1), na, dst.Norm[b])
				}
				c = topSorted(c, n.TopK)
				p.setPeaks(r0+r, c, grid, n, sc)
			}
		})
	}
}

// Symmetrize applies compute_max_r to the pairs of (s, t) and of its reverse
// (t, s), both already through AmbiguityRatio: each pair's r becomes
// max(r_st, r_ts) of itself and its reverse pair (matched by coordinates,
// here by token), in both lists. It fails when a pair has no reverse.
func Symmetrize(st, ts *Pairs) error {
	if st.Len() != ts.Len() {
		return fmt.Errorf("bestbuddies: Symmetrize: %d pairs against %d in the reverse direction", st.Len(), ts.Len())
	}
	if st.R == nil || ts.R == nil {
		return fmt.Errorf("bestbuddies: Symmetrize needs AmbiguityRatio on both directions first")
	}
	rev := make(map[int32]int, ts.Len())
	for j, a := range ts.SourceTok {
		rev[a] = j
	}
	for i := range st.R {
		j, ok := rev[st.TargetTok[i]]
		if !ok || ts.TargetTok[j] != st.SourceTok[i] {
			return fmt.Errorf("bestbuddies: Symmetrize: pair %d (%v → %v) has no reverse pair", i, st.Source[i], st.Target[i])
		}
		// Python's max(rev_r, r): rev_r unless r is greater.
		m := ts.R[j]
		if st.R[i] > m {
			m = st.R[i]
		}
		st.R[i], ts.R[j] = m, m
	}
	return nil
}
