package traj

import (
	"context"
	"math"
	"sync"
	"testing"

	"dinotracker/flow"
)

// shearFlows is a stationary smooth motion at the working resolution: every
// frame moves pixel (x, y) by (0.7 + 1.5·sin(2πy/120), 0.4), so points drift
// right and down, waves of new seeds enter at the top and left, and the
// direct flow s→t depends only on t−s and on y, with an exact inverse. The
// 2(T−1) direct fields are built on first use and cached (the cost of
// producing direct flows, RAFT upstream, is not part of the benchmark).
type shearFlows struct {
	W, H     int
	fwd, bwd *flow.Field
	mu       sync.Mutex
	direct   map[int]*flow.Field // key: to−from
}

func shearU(y float64) float64 { return 0.7 + 1.5*math.Sin(2*math.Pi*y/120) }

const shearV = 0.4

func newShearFlows(W, H int) *shearFlows {
	s := &shearFlows{W: W, H: H, direct: map[int]*flow.Field{}}
	s.fwd, s.bwd = s.field(1), s.field(-1)
	return s
}

// field returns the flow over k frames (k < 0: backward).
func (s *shearFlows) field(k int) *flow.Field {
	f := flow.NewField(s.W, s.H)
	for y := 0; y < s.H; y++ {
		// Forward from row y0 over |k| frames; backward from row y lands on y0.
		n := k
		y0 := float64(y)
		if k < 0 {
			n = -k
			y0 = float64(y) + float64(k)*shearV
		}
		du := 0.0
		for j := 0; j < n; j++ {
			du += shearU(y0 + float64(j)*shearV)
		}
		u, v := float32(du), float32(float64(n)*shearV)
		if k < 0 {
			u, v = -u, -v
		}
		for x := 0; x < s.W; x++ {
			f.U[y*s.W+x], f.V[y*s.W+x] = u, v
		}
	}
	return f
}

func (s *shearFlows) Forward(int) (*flow.Field, error)  { return s.fwd, nil }
func (s *shearFlows) Backward(int) (*flow.Field, error) { return s.bwd, nil }
func (s *shearFlows) Direct(from, to int) (*flow.Field, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	f, ok := s.direct[to-from]
	if !ok {
		f = s.field(to - from)
		s.direct[to-from] = f
	}
	return f, nil
}

// BenchmarkChain chains a 50-frame 854×476 video (the reference working
// resolution), with and without the direct-flow filter. It is not part of
// the normal test run; run it with
//
//	go test ./traj -run '^$' -bench Chain -benchtime 1x
func BenchmarkChain(b *testing.B) {
	const T, W, H = 50, 854, 476
	flows := newShearFlows(W, H)
	for _, direct := range []bool{false, true} {
		name := "no-direct"
		if direct {
			name = "direct"
		}
		b.Run(name, func(b *testing.B) {
			opt := DefaultOptions()
			opt.UseDirect = direct
			var set *Set
			cpu0 := processCPU()
			for b.Loop() {
				var err error
				if set, err = Chain(context.Background(), flows, T, W, H, opt, nil); err != nil {
					b.Fatal(err)
				}
			}
			sec := b.Elapsed().Seconds() / float64(b.N)
			// CPU seconds per run: on a shared machine the wall time
			// includes waiting for the cores.
			b.ReportMetric((processCPU()-cpu0).Seconds()/float64(b.N), "cpu-s/op")
			b.ReportMetric(float64(set.N()), "trajectories")
			b.ReportMetric(float64(set.N())/sec, "traj/s")
			b.ReportMetric(float64(len(set.XY)/2)/sec, "positions/s")
			b.ReportMetric(float64(len(set.XY)*4+set.N()*16)/(1<<20), "MiB")
		})
	}
}
