package fgmask

import (
	"errors"
	"fmt"
	"math"

	"dinotracker/internal/parallel"
	"dinotracker/traj"
)

// Classify reports, for every trajectory of s, whether it starts on the
// foreground, as the reference's split_trajectories_to_fg_bg.py decides
// (§1.5): take the trajectory's first valid frame t0, round its position
// there half to even (torch's .round() on the float32 coordinates), and
// look up the mask of frame t0 at that pixel; nonzero is foreground.
//
// Trajectories are in pixels of the masks' grid, the model resolution
// (x in [0, W−1], y in [0, H−1], pixel centres at integers), which is how
// flow chaining produces them. Positions are in range by construction
// there; here a start that rounds outside the masks, or is not finite, is
// an error naming the trajectory (the reference would index out of bounds
// or wrap around). m.T must equal s.T, and s must pass s.Validate.
func Classify(s *traj.Set, m *Masks) ([]bool, error) {
	if s == nil {
		return nil, errors.New("fgmask: nil trajectory set")
	}
	if err := m.check(); err != nil {
		return nil, err
	}
	if m.T != s.T {
		return nil, fmt.Errorf("fgmask: the masks have %d frames but the trajectories %d", m.T, s.T)
	}
	if err := s.Validate(); err != nil {
		return nil, fmt.Errorf("fgmask: %w", err)
	}
	n := s.N()
	fg := make([]bool, n)
	const chunk = 1 << 14
	errs := make([]error, (n+chunk-1)/chunk)
	parallel.For(n, chunk, func(lo, hi int) {
		for i := lo; i < hi; i++ {
			t0 := int(s.Start[i])
			x, y := s.XY[2*s.Off[i]], s.XY[2*s.Off[i]+1]
			fx, fy := math.RoundToEven(float64(x)), math.RoundToEven(float64(y))
			if !(fx >= 0 && fx < float64(m.W) && fy >= 0 && fy < float64(m.H)) {
				errs[i/chunk] = fmt.Errorf("fgmask: trajectory %d starts at (%v, %v) in frame %d, outside the %d×%d masks (trajectories must be in model-resolution pixels)",
					i, x, y, t0, m.W, m.H)
				return
			}
			fg[i] = m.Data[(t0*m.H+int(fy))*m.W+int(fx)] != 0
		}
	})
	for _, err := range errs {
		if err != nil {
			return nil, err
		}
	}
	return fg, nil
}

// Split divides s into the trajectories that start on the foreground and
// the rest, by Classify's rule, keeping their order; these are the
// reference's fg_trajectories.pt and bg_trajectories.pt. The returned sets
// share nothing with s. Either may be empty; an empty background (a mask
// covering everything) or foreground makes the training sampler's draws
// impossible, so callers should check N() before training.
func Split(s *traj.Set, m *Masks) (fg, bg *traj.Set, err error) {
	isFg, err := Classify(s, m)
	if err != nil {
		return nil, nil, err
	}
	fg = s.Subset(func(i int) bool { return isFg[i] })
	bg = s.Subset(func(i int) bool { return !isFg[i] })
	return fg, bg, nil
}
