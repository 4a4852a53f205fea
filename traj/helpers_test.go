package traj

import (
	"math"
	"math/rand"

	"dinotracker/flow"
)

// constFlows returns flows of a video translating by (dx, dy) per frame, with
// exact direct flows.
func constFlows(T, W, H int, dx, dy float32) *MemFlows {
	fill := func(u, v float32) *flow.Field {
		f := flow.NewField(W, H)
		for i := range f.U {
			f.U[i], f.V[i] = u, v
		}
		return f
	}
	m := &MemFlows{}
	for range T - 1 {
		m.Fwd = append(m.Fwd, fill(dx, dy))
		m.Bwd = append(m.Bwd, fill(-dx, -dy))
	}
	m.DirectFunc = func(from, to int) (*flow.Field, error) {
		k := float32(to - from)
		return fill(k*dx, k*dy), nil
	}
	return m
}

// smoothFlows returns a T-frame W×H video's flows: smooth random forward
// fields, backward fields that invert them up to a small error except on one
// inconsistent disk per frame, direct flows composed along the chain with a
// disagreeing disk, and backward direct flows with an inconsistent disk. It
// exercises every kill rule of the chaining. All direct pairs are built
// eagerly (small videos only).
func smoothFlows(T, W, H int, seed int64) *MemFlows {
	rng := rand.New(rand.NewSource(seed))
	type wave struct{ a, fx, fy, ph float64 }
	type motion struct {
		du, dv float64
		u, v   [3]wave
	}
	mk := func() wave {
		return wave{a: rng.Float64() * 2, fx: rng.Float64() * 2 * math.Pi / float64(W) * 2, fy: rng.Float64() * 2 * math.Pi / float64(H) * 2, ph: rng.Float64() * 2 * math.Pi}
	}
	ms := make([]motion, T-1)
	for t := range ms {
		ms[t] = motion{du: rng.NormFloat64(), dv: rng.NormFloat64()}
		for k := range 3 {
			ms[t].u[k], ms[t].v[k] = mk(), mk()
		}
	}
	eval := func(m motion, x, y float64) (float64, float64) {
		u, v := m.du, m.dv
		for k := range 3 {
			w := m.u[k]
			u += w.a * math.Sin(w.fx*x+w.fy*y+w.ph)
			w = m.v[k]
			v += w.a * math.Sin(w.fx*x+w.fy*y+w.ph)
		}
		return u, v
	}
	disk := func(f *flow.Field, ou, ov float32) {
		cx, cy, r := rng.Float64()*float64(W), rng.Float64()*float64(H), 2+rng.Float64()*float64(min(W, H))/5
		for y := range H {
			for x := range W {
				if math.Hypot(float64(x)-cx, float64(y)-cy) < r {
					f.U[y*W+x] += ou
					f.V[y*W+x] += ov
				}
			}
		}
	}
	// chainTo moves (x, y) of frame s to frame t > s.
	chainTo := func(s, t int, x, y float64) (float64, float64) {
		for k := s; k < t; k++ {
			u, v := eval(ms[k], x, y)
			x, y = x+u, y+v
		}
		return x, y
	}
	// chainBack inverts chainTo by fixed-point iteration.
	chainBack := func(s, t int, x, y float64) (float64, float64) {
		sx, sy := x, y
		for range 20 {
			fx, fy := chainTo(s, t, sx, sy)
			sx, sy = sx+(x-fx), sy+(y-fy)
		}
		return sx, sy
	}
	field := func(s, t int) *flow.Field {
		f := flow.NewField(W, H)
		for y := range H {
			for x := range W {
				var tx, ty float64
				if t > s {
					tx, ty = chainTo(s, t, float64(x), float64(y))
				} else {
					tx, ty = chainBack(t, s, float64(x), float64(y))
				}
				f.U[y*W+x], f.V[y*W+x] = float32(tx-float64(x)), float32(ty-float64(y))
			}
		}
		return f
	}
	m := &MemFlows{}
	for t := 0; t+1 < T; t++ {
		m.Fwd = append(m.Fwd, field(t, t+1))
		b := field(t+1, t)
		for i := range b.U {
			b.U[i] += float32(rng.NormFloat64() * 0.05)
			b.V[i] += float32(rng.NormFloat64() * 0.05)
		}
		disk(b, 2.6, -1.9)
		m.Bwd = append(m.Bwd, b)
	}
	direct := map[[2]int]*flow.Field{}
	for s := 0; s < T; s++ {
		for t := s + 2; t < T; t++ {
			d := field(s, t)
			for i := range d.U {
				d.U[i] += float32(rng.NormFloat64() * 0.15)
				d.V[i] += float32(rng.NormFloat64() * 0.15)
			}
			disk(d, -2.2, 2.4)
			direct[[2]int{s, t}] = d
			b := field(t, s)
			disk(b, 3, 2)
			direct[[2]int{t, s}] = b
		}
	}
	m.DirectFunc = func(from, to int) (*flow.Field, error) { return direct[[2]int{from, to}], nil }
	return m
}

func setsEqual(a, b *Set) bool {
	if a.T != b.T || a.N() != b.N() || len(a.XY) != len(b.XY) {
		return false
	}
	for i := range a.Start {
		if a.Start[i] != b.Start[i] || a.Len[i] != b.Len[i] || a.Off[i+1] != b.Off[i+1] {
			return false
		}
	}
	for i := range a.XY {
		if math.Float32bits(a.XY[i]) != math.Float32bits(b.XY[i]) {
			return false
		}
	}
	return true
}

func randomSet(rng *rand.Rand, T, n int) *Set {
	s := NewSet(T)
	for range n {
		st := rng.Intn(T)
		l := 1 + rng.Intn(T-st)
		xy := make([]float32, 2*l)
		for i := range xy {
			xy[i] = rng.Float32() * 100
		}
		s.Append(st, xy)
	}
	return s
}
