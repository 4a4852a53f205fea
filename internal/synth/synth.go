// Package synth makes the synthetic preprocessed data that the training
// benchmarks (the example binary's `bench iter` and the root package's
// BenchmarkTrainIterationPaper) feed to a training step: box masks,
// straight trajectories and random best-buddy pairs.
package synth

import (
	"math/rand/v2"

	"dinotracker/fgmask"
	"dinotracker/traj"
)

// Tracks returns T box masks of h×w (the central half of each side is
// foreground) and nFg foreground and nBg background straight trajectories,
// each inside or outside the box at its start and valid on a random span
// of at least two frames.
func Tracks(r *rand.Rand, T, h, w, nFg, nBg int) (masks *fgmask.Masks, fg, bg *traj.Set) {
	masks = fgmask.New(T, h, w)
	x0, x1, y0, y1 := w/4, 3*w/4, h/4, 3*h/4
	for t := 0; t < T; t++ {
		pl := masks.Frame(t)
		for y := y0; y < y1; y++ {
			for x := x0; x < x1; x++ {
				pl[y*w+x] = 1
			}
		}
	}
	tracks := func(n int, inside bool) *traj.Set {
		s := traj.NewSet(T)
		xy := make([]float32, 0, 2*T)
		for s.N() < n {
			x, y := r.Float64()*float64(w-1), r.Float64()*float64(h-1)
			if in := x >= float64(x0) && x < float64(x1-1) && y >= float64(y0) && y < float64(y1-1); in != inside {
				continue
			}
			st := r.IntN(T - 1)
			l := 2 + r.IntN(T-st-1)
			vx, vy := r.Float64()-0.5, r.Float64()-0.5
			xy = xy[:0]
			for k := 0; k < l; k++ {
				xy = append(xy, float32(min(max(x+vx*float64(k), 0), float64(w-1))), float32(min(max(y+vy*float64(k), 0), float64(h-1))))
			}
			s.Append(st, xy)
		}
		return s
	}
	return masks, tracks(nFg, true), tracks(nBg, false)
}

// BestBuddies returns n random best-buddy pairs of one frame pair in the
// layout of dinotracker.BBList: sources [2n] (every other one in the
// central box), targets [2n] within ≈ 8 px of them, similarities in
// [0.5, 1) and ratios in [0, 1).
func BestBuddies(r *rand.Rand, h, w, n int) (source, target, cos, ratio []float32) {
	source, target, cos, ratio = make([]float32, 2*n), make([]float32, 2*n), make([]float32, n), make([]float32, n)
	for i := 0; i < n; i++ {
		x, y := r.Float64()*float64(w-1), r.Float64()*float64(h-1)
		if i%2 == 0 {
			x, y = float64(w)/4+r.Float64()*float64(w)/2, float64(h)/4+r.Float64()*float64(h)/2
		}
		source[2*i], source[2*i+1] = float32(x), float32(y)
		target[2*i] = float32(min(max(x+8*r.NormFloat64(), 0), float64(w-1)))
		target[2*i+1] = float32(min(max(y+8*r.NormFloat64(), 0), float64(h-1)))
		cos[i], ratio[i] = float32(0.5+0.5*r.Float64()), float32(r.Float64())
	}
	return source, target, cos, ratio
}
