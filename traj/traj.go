// Package traj holds long point trajectories chained from optical flow, as
// DINO-Tracker's preprocessing builds them, in a compact layout.
//
// A video of T frames may have millions of trajectories. Each one is valid on
// one contiguous span of frames [Start, Start+Len), so a Set stores only
// those positions: trajectory i's position at frame Start[i]+k is
// (XY[2(Off[i]+k)], XY[2(Off[i]+k)+1]), k < Len[i]. Dense converts to the
// reference's [N, T, 2] layout with NaN outside the span.
package traj

import (
	"fmt"
	"math"
)

// Set is a compact collection of trajectories of a T-frame video.
type Set struct {
	T     int       // frames in the video
	Start []int32   // first valid frame of each trajectory
	Len   []int32   // number of valid frames (≥ 1)
	Off   []int64   // index of each trajectory's first position in XY/2; Off[N] = total positions
	XY    []float32 // interleaved (x, y) positions in pixels
}

// NewSet returns an empty set for a T-frame video.
func NewSet(T int) *Set { return &Set{T: T, Off: []int64{0}} }

// N is the number of trajectories.
func (s *Set) N() int { return len(s.Start) }

// Append adds a trajectory starting at frame start with the given (x, y)
// positions (len(xy)/2 frames).
func (s *Set) Append(start int, xy []float32) {
	n := len(xy) / 2
	s.Start = append(s.Start, int32(start))
	s.Len = append(s.Len, int32(n))
	s.XY = append(s.XY, xy[:2*n]...)
	s.Off = append(s.Off, s.Off[len(s.Off)-1]+int64(n))
}

// At returns trajectory i's position at frame t and whether it is valid there.
func (s *Set) At(i, t int) (x, y float32, ok bool) {
	k := t - int(s.Start[i])
	if k < 0 || k >= int(s.Len[i]) {
		return float32(math.NaN()), float32(math.NaN()), false
	}
	p := 2 * (s.Off[i] + int64(k))
	return s.XY[p], s.XY[p+1], true
}

// Dense returns the [N, T, 2] layout of the reference (row-major), NaN
// where a trajectory is not valid.
func (s *Set) Dense() []float32 {
	out := make([]float32, s.N()*s.T*2)
	nan := float32(math.NaN())
	for i := range out {
		out[i] = nan
	}
	for i := 0; i < s.N(); i++ {
		st, l := int(s.Start[i]), int(s.Len[i])
		copy(out[(i*s.T+st)*2:(i*s.T+st+l)*2], s.XY[2*s.Off[i]:2*(s.Off[i]+int64(l))])
	}
	return out
}

// FromDense builds a Set from the [N, T, 2] layout. Each row must be valid
// (both coordinates finite) on one contiguous span of frames; rows with no
// valid frame are an error.
func FromDense(d []float32, n, T int) (*Set, error) {
	if len(d) != n*T*2 {
		return nil, fmt.Errorf("traj: %d values cannot be [%d,%d,2]", len(d), n, T)
	}
	s := NewSet(T)
	for i := 0; i < n; i++ {
		row := d[i*T*2 : (i+1)*T*2]
		first, last := -1, -1
		for t := 0; t < T; t++ {
			x, y := row[2*t], row[2*t+1]
			valid := !math.IsNaN(float64(x)) && !math.IsNaN(float64(y))
			if valid {
				if first < 0 {
					first = t
				} else if last != t-1 {
					return nil, fmt.Errorf("traj: trajectory %d is valid on more than one span of frames", i)
				}
				last = t
			}
		}
		if first < 0 {
			return nil, fmt.Errorf("traj: trajectory %d has no valid frame", i)
		}
		s.Append(first, row[2*first:2*(last+1)])
	}
	return s, nil
}
