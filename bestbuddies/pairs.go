package bestbuddies

import (
	"fmt"
	"math"
	"sort"
)

// Grid is the DINO token grid of a frame and its pixel convention. Token
// (i, j) — row i, column j, flat index i·W+j — has its centre at pixel
// (x, y) = (Offset + Stride·j, Offset + Stride·i).
//
// DINO-Tracker uses stride 7 and offset 7 (patch/2) on a 67×121 grid at
// 854×476 (create_meshgrid in dino_bb_utils.py). The reference's NMS step
// hard-codes that 476×854 meshgrid; here every step uses the token grid.
type Grid struct {
	H, W   int     // token rows and columns
	Stride int     // pixel distance between token centres (7)
	Offset float32 // pixel coordinate of the first token centre on each axis (7)
}

// DefaultGrid returns the DINO-Tracker grid convention (stride 7, centres
// at 7j+7, 7i+7) for an gh×gw token grid.
func DefaultGrid(gh, gw int) Grid { return Grid{H: gh, W: gw, Stride: 7, Offset: 7} }

// N is the number of tokens.
func (g Grid) N() int { return g.H * g.W }

// Centre returns the pixel centre (x, y) of flat token k.
func (g Grid) Centre(k int) (x, y float32) {
	i, j := k/g.W, k%g.W
	return g.Offset + float32(g.Stride*j), g.Offset + float32(g.Stride*i)
}

// Token maps pixel coordinates back to a flat token index the way
// of_filter_dino_best_buddies.py does: column ⌊(x−Offset)/Stride⌋ and row
// ⌊(y−Offset)/Stride⌋ (floor division). ok is false outside the grid.
func (g Grid) Token(x, y float32) (k int, ok bool) {
	j := math.Floor(float64((x - g.Offset) / float32(g.Stride)))
	i := math.Floor(float64((y - g.Offset) / float32(g.Stride)))
	if !(i >= 0 && j >= 0 && i < float64(g.H) && j < float64(g.W)) {
		return 0, false
	}
	return int(i)*g.W + int(j), true
}

func (g Grid) validate() error {
	if g.H <= 0 || g.W <= 0 {
		return fmt.Errorf("bestbuddies: token grid %d×%d is empty", g.H, g.W)
	}
	if g.Stride <= 0 {
		return fmt.Errorf("bestbuddies: grid stride %d must be positive", g.Stride)
	}
	if math.IsNaN(float64(g.Offset)) || math.IsInf(float64(g.Offset), 0) {
		return fmt.Errorf("bestbuddies: grid offset %v is not finite", g.Offset)
	}
	return nil
}

// Pairs are the best buddies of one ordered frame pair (s, t): the
// reference's dictionary entry "s_t". Entry i links token SourceTok[i] of
// frame s (pixel centre Source[i]) to token TargetTok[i] of frame t.
//
// MutualNN lists pairs in source-token raster order. PeakAffs and R are nil
// until AmbiguityRatio fills them; Symmetrize then turns R into the
// reference's symmetric ratio.
type Pairs struct {
	SourceTok, TargetTok []int32      // flat token indices (row-major)
	Source, Target       [][2]float32 // token centres (x, y) in pixels
	Cos                  []float32    // cosine of the raw features of the two tokens
	PeakAffs             [][2]float32 // top-2 affinities (v1, v2) after NMS, or nil
	R                    []float32    // ambiguity ratio v2/v1, or nil
	Raw                  int          // mutual nearest neighbours before the flow filter
}

// Len is the number of pairs.
func (p *Pairs) Len() int {
	if p == nil {
		return 0
	}
	return len(p.SourceTok)
}

func (p *Pairs) add(grid Grid, a, b int32, cos float32) {
	p.SourceTok = append(p.SourceTok, a)
	p.TargetTok = append(p.TargetTok, b)
	ax, ay := grid.Centre(int(a))
	bx, by := grid.Centre(int(b))
	p.Source = append(p.Source, [2]float32{ax, ay})
	p.Target = append(p.Target, [2]float32{bx, by})
	p.Cos = append(p.Cos, cos)
}

// Select returns the pairs where keep is true, in order (the flow filter's
// boolean indexing). Raw is carried over.
func (p *Pairs) Select(keep []bool) *Pairs {
	if len(keep) != p.Len() {
		panic(fmt.Sprintf("bestbuddies: Select: %d flags for %d pairs", len(keep), p.Len()))
	}
	q := &Pairs{Raw: p.Raw}
	for i, k := range keep {
		if !k {
			continue
		}
		q.SourceTok = append(q.SourceTok, p.SourceTok[i])
		q.TargetTok = append(q.TargetTok, p.TargetTok[i])
		q.Source = append(q.Source, p.Source[i])
		q.Target = append(q.Target, p.Target[i])
		q.Cos = append(q.Cos, p.Cos[i])
		if p.PeakAffs != nil {
			q.PeakAffs = append(q.PeakAffs, p.PeakAffs[i])
		}
		if p.R != nil {
			q.R = append(q.R, p.R[i])
		}
	}
	if p.PeakAffs != nil && q.PeakAffs == nil {
		q.PeakAffs = [][2]float32{}
	}
	if p.R != nil && q.R == nil {
		q.R = []float32{}
	}
	return q
}

// Mirror returns the pairs of the reverse ordered pair (t, s): the same
// links with source and target swapped, listed in raster order of the new
// source tokens. PeakAffs and R are not carried over (they depend on the
// direction).
func (p *Pairs) Mirror() *Pairs {
	n := p.Len()
	order := make([]int, n)
	for i := range order {
		order[i] = i
	}
	sort.SliceStable(order, func(x, y int) bool { return p.TargetTok[order[x]] < p.TargetTok[order[y]] })
	q := &Pairs{Raw: p.Raw}
	q.SourceTok = make([]int32, n)
	q.TargetTok = make([]int32, n)
	q.Source = make([][2]float32, n)
	q.Target = make([][2]float32, n)
	q.Cos = make([]float32, n)
	for k, i := range order {
		q.SourceTok[k], q.TargetTok[k] = p.TargetTok[i], p.SourceTok[i]
		q.Source[k], q.Target[k] = p.Target[i], p.Source[i]
		q.Cos[k] = p.Cos[i]
	}
	return q
}
