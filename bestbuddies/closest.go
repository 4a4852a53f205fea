package bestbuddies

import (
	"math"

	"dinotracker/internal/parallel"
	"dinotracker/traj"
)

// ClosestTrajectories returns, for every frame t and every token centre k of
// the grid, the index of the trajectory nearest to that centre at frame t:
// out[t][k]. It is get_closest_traj_idx_batch of
// of_filter_dino_best_buddies.py: Euclidean distance, positions that are
// not valid at t count as infinitely far, no distance cap, and the first
// (lowest) index wins ties. A frame where no trajectory is valid maps every
// centre to trajectory 0, as torch.argmin over an all-inf row does. It
// returns nil when the set is nil or empty.
//
// The reference compares every centre with every trajectory. Here the valid
// positions of each frame are bucketed into a uniform grid of cells and
// each centre searches rings of cells outwards until no unvisited cell can
// hold a closer point, so the cost is about (positions + centres) per frame
// instead of their product. The result equals the brute-force search.
//
// Distances are compared as float64 sums of squares of the float32
// coordinate differences (exact up to the last bit of the sum); torch
// compares float32 norms, which can only differ where two trajectories lie
// within float32 rounding (≈1e-4 px) of the same distance.
func ClosestTrajectories(trajs *traj.Set, grid Grid) [][]int32 {
	if trajs == nil || trajs.N() == 0 {
		return nil
	}
	out := make([][]int32, trajs.T)
	parallel.For(trajs.T, 1, func(lo, hi int) {
		var b bucketGrid
		for t := lo; t < hi; t++ {
			b.build(trajs, t)
			res := make([]int32, grid.N())
			for k := range res {
				x, y := grid.Centre(k)
				res[k] = b.nearest(x, y)
			}
			out[t] = res
		}
	})
	return out
}

// validAt reports whether trajectory i has a (finite) position at frame t.
func validAt(s *traj.Set, i, t int) bool {
	x, y, ok := s.At(i, t)
	return ok && !math.IsNaN(float64(x)) && !math.IsNaN(float64(y))
}

// bucketGrid is a uniform grid over the valid positions of one frame.
type bucketGrid struct {
	n          int
	x0, y0, cs float64 // origin and cell size
	nx, ny     int
	start      []int32   // cell c holds points start[c] … start[c+1]-1
	idx        []int32   // trajectory index of each point, sorted by cell then index
	xy         []float32 // positions, same order
	tmpI       []int32
	tmpXY      []float32
	cell       []int32
}

func finite(v float32) bool { return !math.IsNaN(float64(v)) && !math.IsInf(float64(v), 0) }

func (b *bucketGrid) build(s *traj.Set, t int) {
	b.tmpI, b.tmpXY = b.tmpI[:0], b.tmpXY[:0]
	minX, minY := math.Inf(1), math.Inf(1)
	maxX, maxY := math.Inf(-1), math.Inf(-1)
	for i := 0; i < s.N(); i++ {
		k := t - int(s.Start[i])
		if k < 0 || k >= int(s.Len[i]) {
			continue
		}
		p := 2 * (s.Off[i] + int64(k))
		x, y := s.XY[p], s.XY[p+1]
		// NaN positions are "infinitely far"; infinite ones can never be the
		// nearest unless every position is infinite, which the fallback
		// (index 0) covers as torch's all-inf argmin does not distinguish.
		if !finite(x) || !finite(y) {
			continue
		}
		b.tmpI = append(b.tmpI, int32(i))
		b.tmpXY = append(b.tmpXY, x, y)
		minX, maxX = math.Min(minX, float64(x)), math.Max(maxX, float64(x))
		minY, maxY = math.Min(minY, float64(y)), math.Max(maxY, float64(y))
	}
	n := len(b.tmpI)
	b.n = n
	if n == 0 {
		return
	}
	w, h := maxX-minX, maxY-minY
	// About two points per cell, at most 2n+1 cells.
	cs := math.Sqrt(math.Max(w*h, 1e-12) / float64(n) * 2)
	if cs <= 0 || math.IsNaN(cs) {
		cs = 1
	}
	cs = math.Max(cs, math.Max(w, h)/float64(2*n+1))
	if cs == 0 {
		cs = 1
	}
	b.x0, b.y0, b.cs = minX, minY, cs
	b.nx, b.ny = int(w/cs)+1, int(h/cs)+1
	for b.nx*b.ny > 4*n+4 { // degenerate shapes: coarsen
		b.cs *= 1.5
		b.nx, b.ny = int(w/b.cs)+1, int(h/b.cs)+1
	}
	nc := b.nx * b.ny
	if cap(b.start) < nc+1 {
		b.start = make([]int32, nc+1)
	}
	b.start = b.start[:nc+1]
	clear(b.start)
	b.cell = growI(b.cell, n)
	for p := 0; p < n; p++ {
		cx, cy := b.cellOf(float64(b.tmpXY[2*p]), float64(b.tmpXY[2*p+1]))
		c := int32(cy*b.nx + cx)
		b.cell[p] = c
		b.start[c+1]++
	}
	for c := 0; c < nc; c++ {
		b.start[c+1] += b.start[c]
	}
	b.idx = growI(b.idx, n)
	b.xy = growF(b.xy, 2*n)
	fill := append([]int32(nil), b.start[:nc]...)
	// Points are visited in trajectory order, so each cell lists its
	// trajectories by increasing index.
	for p := 0; p < n; p++ {
		c := b.cell[p]
		q := fill[c]
		fill[c]++
		b.idx[q] = b.tmpI[p]
		b.xy[2*q], b.xy[2*q+1] = b.tmpXY[2*p], b.tmpXY[2*p+1]
	}
}

func (b *bucketGrid) cellOf(x, y float64) (cx, cy int) {
	cx = int(math.Floor((x - b.x0) / b.cs))
	cy = int(math.Floor((y - b.y0) / b.cs))
	return min(max(cx, 0), b.nx-1), min(max(cy, 0), b.ny-1)
}

// dist2 is the distance used everywhere: float32 coordinate differences
// (as the reference subtracts in float32), squared and summed in float64.
func dist2(x, y, px, py float32) float64 {
	dx, dy := float64(x-px), float64(y-py)
	return dx*dx + dy*dy
}

// nearest returns the index of the nearest point to (px, py), the lowest
// index among equally near ones, or 0 when the frame has no point.
func (b *bucketGrid) nearest(px, py float32) int32 {
	if b.n == 0 {
		return 0
	}
	fx, fy := float64(px), float64(py)
	cx, cy := b.cellOf(fx, fy)
	best, bestI := math.Inf(1), int32(-1)
	scan := func(c int) {
		for q := b.start[c]; q < b.start[c+1]; q++ {
			d := dist2(b.xy[2*q], b.xy[2*q+1], px, py)
			if d < best || (d == best && b.idx[q] < bestI) {
				best, bestI = d, b.idx[q]
			}
		}
	}
	for r := 0; ; r++ {
		// Visit the cells at Chebyshev distance r from (cx, cy).
		x0, x1, y0, y1 := cx-r, cx+r, cy-r, cy+r
		for y := max(y0, 0); y <= min(y1, b.ny-1); y++ {
			if y == y0 || y == y1 {
				for x := max(x0, 0); x <= min(x1, b.nx-1); x++ {
					scan(y*b.nx + x)
				}
			} else {
				if x0 >= 0 {
					scan(y*b.nx + x0)
				}
				if x1 < b.nx {
					scan(y*b.nx + x1)
				}
			}
		}
		// Lower bound on the distance to any cell not yet visited: those lie
		// beyond one of the four sides of the visited square that still has
		// cells past it.
		lb := math.Inf(1)
		if x1+1 < b.nx {
			lb = math.Min(lb, b.x0+float64(x1+1)*b.cs-fx)
		}
		if x0-1 >= 0 {
			lb = math.Min(lb, fx-(b.x0+float64(x0)*b.cs))
		}
		if y1+1 < b.ny {
			lb = math.Min(lb, b.y0+float64(y1+1)*b.cs-fy)
		}
		if y0-1 >= 0 {
			lb = math.Min(lb, fy-(b.y0+float64(y0)*b.cs))
		}
		if math.IsInf(lb, 1) {
			break // every cell visited
		}
		// The margin covers the float32 rounding of the differences in dist2
		// and of the cell boundaries, so no equally near point (that could
		// have a lower index) is skipped.
		if bestI >= 0 && lb > 0 {
			m := lb - 1e-3*(1+lb)
			if m > 0 && m*m > best {
				break
			}
		}
	}
	return bestI
}

// closestBrute is the specification of ClosestTrajectories for one frame and
// point: every trajectory, first index on ties, 0 when none is valid.
func closestBrute(s *traj.Set, t int, px, py float32) int32 {
	best, bestI := math.Inf(1), int32(0)
	for i := 0; i < s.N(); i++ {
		x, y, ok := s.At(i, t)
		if !ok || !finite(x) || !finite(y) {
			continue
		}
		if d := dist2(x, y, px, py); d < best {
			best, bestI = d, int32(i)
		}
	}
	return bestI
}

// FilterByFlow reports which pairs of the ordered frame pair (s, t) survive
// of_filter_dino_best_buddies.py: a pair is kept iff the trajectory nearest
// to its source point at frame s is not valid at frame t and the
// trajectory nearest to its target point at frame t is not valid at frame s,
// i.e. where optical flow cannot already link the two frames. closest is
// ClosestTrajectories of the same set and grid; source and target points are
// mapped to tokens by floor((coord−Offset)/Stride) as upstream does. With no
// trajectories (closest nil) every pair is kept.
func FilterByFlow(p *Pairs, s, t int, closest [][]int32, trajs *traj.Set, grid Grid) []bool {
	keep := make([]bool, p.Len())
	for i := range keep {
		if closest == nil {
			keep[i] = true
			continue
		}
		a, okA := grid.Token(p.Source[i][0], p.Source[i][1])
		b, okB := grid.Token(p.Target[i][0], p.Target[i][1])
		if !okA || !okB {
			panic("bestbuddies: FilterByFlow: pair coordinates outside the token grid")
		}
		ia, ib := int(closest[s][a]), int(closest[t][b])
		keep[i] = !validAt(trajs, ia, t) && !validAt(trajs, ib, s)
	}
	return keep
}
