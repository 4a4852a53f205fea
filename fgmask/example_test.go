package fgmask_test

import (
	"fmt"

	"dinotracker/fgmask"
	"dinotracker/traj"
)

// frames is an in-memory FeatureSource: one [C, gh, gw] map per frame.
type frames [][]float32

func (f frames) Frame(t int, _ []float32) ([]float32, error) { return f[t], nil }

// ExampleFromFeatures computes a mask from a 2-channel feature map whose
// central token differs from the rest, then splits trajectories with it.
func ExampleFromFeatures() {
	const C, gh, gw = 2, 3, 3
	f := make([]float32, C*gh*gw)
	for p := 0; p < gh*gw; p++ {
		f[p], f[gh*gw+p] = 1, 0.1 // background: mostly channel 0
	}
	f[4], f[gh*gw+4] = 0.1, 1 // the centre token: mostly channel 1

	m, err := fgmask.FromFeatures(frames{f}, 1, C, gh, gw, 6, 6, fgmask.PCAOptions{})
	if err != nil {
		fmt.Println(err)
		return
	}
	for y := 0; y < m.H; y++ {
		fmt.Println(m.Data[y*m.W : (y+1)*m.W])
	}

	s := traj.NewSet(1)
	s.Append(0, []float32{2.5, 3}) // rounds to (2, 3): the centre
	s.Append(0, []float32{0, 0})
	fg, bg, err := fgmask.Split(s, m)
	if err != nil {
		fmt.Println(err)
		return
	}
	fmt.Println("fg:", fg.N(), "bg:", bg.N())
	// Output:
	// [0 0 0 0 0 0]
	// [0 0 0 0 0 0]
	// [0 0 1 1 0 0]
	// [0 0 1 1 0 0]
	// [0 0 0 0 0 0]
	// [0 0 0 0 0 0]
	// fg: 1 bg: 1
}
