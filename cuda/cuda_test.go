//go:build cuda

package cuda

import (
	"fmt"
	"math"
	"math/rand/v2"
	"strings"
	"testing"

	"dinotracker/corr"
	"dinotracker/softargmax"
)

// Tolerances of the GPU head against the float64 CPU reference. The GPU
// accumulates dot products and convolutions in float32 (FMA), so the cost
// volume is good to ~√C·ε₃₂ ≈ 4e-6 at C = 1024 and the logits to a few
// float32 ulps of their largest terms; a logit error δ scales a
// probability by e^δ, and δ grows with the distance of the logit from the
// largest one, which is about |ln p|: probabilities are good to
// tolProb + tolProbLog·|ln p| relative (1e-5 near the peak, ~1e-4 for
// p ~ 1e-30). The window estimate, a weighted mean of centres within
// Radius = 35 px, is good to ~35·2e-5 px.
const (
	tolCost    = 2e-5 // abs, cost volume in [0, 1]
	tolProb    = 2e-5 // rel, probabilities
	tolProbLog = 1e-6 // rel per unit of |ln p|
	tolXY      = 1e-3 // px
	tolMass    = 1e-4 // rel, window mass and normaliser
)

// refiner is one set of (already normalised) refiner kernels.
type refiner struct {
	w1, b1, w2 []float32
	b2         float32
}

// refinerRef is the refiner in float64 with plain loops, as dinotracker's
// refinerForwardRef64 on normalised kernels: h_o = ReLU(b1[o] + w1[o] ⋆ in)
// with zero padding, out = b2 + Σ_o w2[o] ⋆ h_o.
func refinerRef(r refiner, in []float32, gh, gw int) []float32 {
	p := gh * gw
	at := func(m []float64, y, x int) float64 {
		if y < 0 || y >= gh || x < 0 || x >= gw {
			return 0
		}
		return m[y*gw+x]
	}
	in64 := make([]float64, p)
	for j, v := range in[:p] {
		in64[j] = float64(v)
	}
	out := make([]float64, p)
	h := make([]float64, p)
	for o := 0; o < RefinerHidden; o++ {
		for y := 0; y < gh; y++ {
			for x := 0; x < gw; x++ {
				s := float64(r.b1[o])
				for u := 0; u < 3; u++ {
					for v := 0; v < 3; v++ {
						s += float64(r.w1[o*9+u*3+v]) * at(in64, y+u-1, x+v-1)
					}
				}
				h[y*gw+x] = math.Max(s, 0)
			}
		}
		for y := 0; y < gh; y++ {
			for x := 0; x < gw; x++ {
				s := 0.0
				for u := 0; u < 3; u++ {
					for v := 0; v < 3; v++ {
						s += float64(r.w2[o*9+u*3+v]) * at(h, y+u-1, x+v-1)
					}
				}
				out[y*gw+x] += s
			}
		}
	}
	res := make([]float32, p)
	for j, v := range out {
		res[j] = float32(v + float64(r.b2))
	}
	return res
}

// headRef is the CPU reference of one query: corr.CosineRef with ReLU,
// softargmax.Argmax (or center when ≥ 0), refinerRef, SoftmaxRef,
// WindowRef. It returns the cost and probability maps too.
func headRef(q, frame []float32, c int, g softargmax.Grid, r refiner, center int) (res softargmax.Result, cost, prob []float32) {
	p := g.Size()
	cost = make([]float32, p)
	corr.CosineRef(cost, q, 1, c, frame, p, true)
	if center < 0 {
		center = softargmax.Argmax(cost)
	}
	logits := refinerRef(r, cost, g.GH, g.GW)
	prob = make([]float32, p)
	softargmax.SoftmaxRef(prob, logits)
	return softargmax.WindowRef(prob, g, center), cost, prob
}

// headCase is one comparison of Session.Heads with headRef.
type headCase struct {
	name       string
	c, gh, gw  int
	frames, n  int
	frame      int
	smooth     bool // spatially smooth maps (for the fallback case)
	ref        func(*rand.Rand) refiner
	batch      int  // maxBatch override (0 keeps it)
	wantFallbk bool // the reference must take the fallback for some query
	ties       bool // exact ties at the maximum cost (see makeData)
}

// mildRefiner has small mixed-sign kernels: logits of order 1, a broad
// softmax.
func mildRefiner(rng *rand.Rand) refiner {
	return randRefiner(rng, -0.2, 0.4, -0.1, 0.3, 0.1)
}

// sharpRefiner has large kernels: logits up to ~50, a peaked softmax.
func sharpRefiner(rng *rand.Rand) refiner {
	return randRefiner(rng, -0.2, 0.6, -0.5, 3, -0.3)
}

// invertRefiner maps high cost to very low logits, so the window around
// the argmax holds almost no mass: the fallback path.
func invertRefiner(rng *rand.Rand) refiner {
	return randRefiner(rng, 0.05, 0.15, -6, -4, 0)
}

func randRefiner(rng *rand.Rand, w1lo, w1hi, w2lo, w2hi float64, b2 float32) refiner {
	u := func(lo, hi float64) float32 { return float32(lo + (hi-lo)*rng.Float64()) }
	r := refiner{make([]float32, RefinerHidden*9), make([]float32, RefinerHidden), make([]float32, RefinerHidden*9), b2}
	for i := range r.w1 {
		r.w1[i] = u(w1lo, w1hi)
		r.w2[i] = u(w2lo, w2hi)
	}
	for i := range r.b1 {
		r.b1[i] = u(-0.05, 0.05)
	}
	return r
}

// makeData returns frames [c, gh, gw] and n queries. Random maps have
// i.i.d. normal features; two thirds of the queries copy a token of the
// target frame plus noise (a clear argmax), the rest are random. Smooth
// maps are low-frequency sinusoids, so the cost is high in a wide
// neighbourhood of the query's token. With ties, each query's token is
// copied to a second token of the target frame (so the two costs are
// bit-identical and the argmax must take the lower index) and the last
// query is zero (all costs 0: the argmax is token 0).
func makeData(rng *rand.Rand, hc headCase) (frames [][]float32, queries []float32) {
	p := hc.gh * hc.gw
	type wave struct{ a, b, phi float64 }
	waves := make([]wave, hc.c)
	for ch := range waves {
		waves[ch] = wave{0.3 * (2*rng.Float64() - 1), 0.3 * (2*rng.Float64() - 1), 2 * math.Pi * rng.Float64()}
	}
	frames = make([][]float32, hc.frames)
	for t := range frames {
		f := make([]float32, hc.c*p)
		for ch := 0; ch < hc.c; ch++ {
			for j := 0; j < p; j++ {
				if hc.smooth {
					w := waves[ch]
					r, c := float64(j/hc.gw), float64(j%hc.gw)
					f[ch*p+j] = float32(math.Sin(w.a*r+w.b*c+w.phi) + 0.01*rng.NormFloat64())
				} else {
					f[ch*p+j] = float32(rng.NormFloat64())
				}
			}
		}
		frames[t] = f
	}
	queries = make([]float32, hc.n*hc.c)
	tgt := frames[hc.frame]
	for i := 0; i < hc.n; i++ {
		q := queries[i*hc.c : (i+1)*hc.c]
		j := rng.IntN(p)
		if hc.ties {
			if i == hc.n-1 {
				break
			}
			j2 := rng.IntN(p)
			for ch := 0; ch < hc.c; ch++ {
				tgt[ch*p+j2] = tgt[ch*p+j]
			}
		}
		planted := hc.smooth || i%3 != 2
		for ch := range q {
			if planted {
				q[ch] = tgt[ch*p+j] + float32(0.3*rng.NormFloat64())
			} else {
				q[ch] = float32(rng.NormFloat64())
			}
		}
	}
	return frames, queries
}

func needDevice(tb testing.TB) {
	tb.Helper()
	if err := Available(); err != nil {
		tb.Skipf("no CUDA device: %v", err)
	}
}

func TestHeadsMatchCPU(t *testing.T) {
	needDevice(t)
	dinoN := 100 // two 64-query tiles, the second partial
	if testing.Short() {
		dinoN = 4
	}
	cases := []headCase{
		{name: "odd", c: 37, gh: 9, gw: 13, frames: 2, n: 5, frame: 1, ref: mildRefiner},
		{name: "1x1", c: 3, gh: 1, gw: 1, frames: 1, n: 2, ref: mildRefiner},
		{name: "row", c: 20, gh: 1, gw: 40, frames: 1, n: 3, ref: sharpRefiner},
		{name: "column", c: 17, gh: 33, gw: 2, frames: 1, n: 3, ref: sharpRefiner},
		{name: "tiles", c: 70, gh: 35, gw: 50, frames: 3, n: 70, frame: 2, ref: sharpRefiner},
		{name: "split", c: 40, gh: 20, gw: 25, frames: 2, n: 20, frame: 0, ref: mildRefiner, batch: 7},
		{name: "ties", c: 16, gh: 20, gw: 30, frames: 1, n: 12, ref: mildRefiner, ties: true},
		{name: "fallback", c: 64, gh: 30, gw: 40, frames: 1, n: 6, smooth: true, ref: invertRefiner, wantFallbk: true},
		{name: "dino", c: 1024, gh: 67, gw: 121, frames: 2, n: dinoN, frame: 1, ref: sharpRefiner},
	}
	for k, hc := range cases {
		t.Run(hc.name, func(t *testing.T) {
			rng := rand.New(rand.NewPCG(uint64(k)+1, 7))
			frames, queries := makeData(rng, hc)
			r := hc.ref(rng)
			if hc.batch > 0 {
				old := maxBatch
				maxBatch = hc.batch
				defer func() { maxBatch = old }()
			}
			compareHeads(t, hc, frames, queries, r)
		})
	}
}

func compareHeads(t *testing.T, hc headCase, frames [][]float32, queries []float32, r refiner) {
	g := softargmax.DefaultGrid(hc.gh, hc.gw)
	s, err := NewSession(frames, hc.c, hc.gh, hc.gw, g)
	if err != nil {
		t.Fatal(err)
	}
	defer func() {
		if err := s.Close(); err != nil {
			t.Error(err)
		}
	}()
	if err := s.SetRefiner(r.w1, r.b1, r.w2, r.b2); err != nil {
		t.Fatal(err)
	}
	// Guard results after out[n] must stay untouched.
	out := make([]softargmax.Result, hc.n+2)
	guard := softargmax.Result{X: -12345, Center: -7}
	out[hc.n], out[hc.n+1] = guard, guard
	if err := s.Heads(out, queries, hc.n, hc.frame); err != nil {
		t.Fatal(err)
	}
	if out[hc.n] != guard || out[hc.n+1] != guard {
		t.Errorf("Heads wrote past out[:n]")
	}
	// Intermediate maps of the first queries of the last batch.
	last := (hc.n - 1) / maxBatch * maxBatch
	nm := min(hc.n-last, 3)
	gCost, gProb, gAmax, err := s.lastMaps(nm)
	if err != nil {
		t.Fatal(err)
	}
	p := g.Size()
	tgt := frames[hc.frame]
	var maxXY, maxMass, maxCost, maxProb float64
	fallbacks := 0
	for i := 0; i < hc.n; i++ {
		q := queries[i*hc.c : (i+1)*hc.c]
		got := out[i]
		want, cost, prob := headRef(q, tgt, hc.c, g, r, -1)
		if got.Center != want.Center && hc.ties {
			t.Errorf("query %d: argmax %d, want %d (exact tie: the lower index)", i, got.Center, want.Center)
			continue
		}
		if got.Center != want.Center {
			// A near-tie may flip under float32 rounding: accept it when
			// the reference costs agree, and compare the rest around the
			// GPU's choice.
			if got.Center < 0 || got.Center >= p || math.Abs(float64(cost[got.Center]-cost[want.Center])) > tolCost {
				t.Errorf("query %d: argmax %d (cost %g), want %d (cost %g)", i, got.Center, cost[max(got.Center, 0)%p], want.Center, cost[want.Center])
				continue
			}
			want, _, _ = headRef(q, tgt, hc.c, g, r, got.Center)
		}
		if want.Fallback {
			fallbacks++
		}
		dxy := math.Max(math.Abs(got.X-want.X), math.Abs(got.Y-want.Y))
		dm := math.Max(relErr(got.Mass, want.Mass, 1e-12), relErr(got.Sum, want.Sum, 1e-12))
		maxXY, maxMass = math.Max(maxXY, dxy), math.Max(maxMass, dm)
		if !(dxy <= tolXY) || !(dm <= tolMass) || got.Fallback != want.Fallback || got.Count != want.Count {
			t.Errorf("query %d:\n got %+v\nwant %+v", i, got, want)
		}
		if k := i - last; k >= 0 && k < nm {
			if int(gAmax[k]) != got.Center {
				t.Errorf("query %d: device argmax %d, result Center %d", i, gAmax[k], got.Center)
			}
			for j := 0; j < p; j++ {
				dc := math.Abs(float64(gCost[k*p+j] - cost[j]))
				dp := relErr(float64(gProb[k*p+j]), float64(prob[j]), 1e-30)
				maxCost, maxProb = math.Max(maxCost, dc), math.Max(maxProb, dp)
				tp := tolProb + tolProbLog*math.Abs(math.Log(float64(prob[j])))
				if !(dc <= tolCost) || !(dp <= tp) {
					t.Errorf("query %d token %d: cost %g want %g, prob %g want %g", i, j, gCost[k*p+j], cost[j], gProb[k*p+j], prob[j])
					break
				}
			}
		}
	}
	if hc.wantFallbk && fallbacks == 0 {
		t.Errorf("no query took the uniform fallback; the case does not test it")
	}
	t.Logf("%d queries: max |ΔX|,|ΔY| %.2g px, max rel Δmass %.2g, max |Δcost| %.2g, max rel Δprob %.2g, %d fallbacks",
		hc.n, maxXY, maxMass, maxCost, maxProb, fallbacks)
}

// relErr is |a − b| / max(|b|, floor).
func relErr(a, b, floor float64) float64 {
	if a == b {
		return 0
	}
	return math.Abs(a-b) / math.Max(math.Abs(b), floor)
}

// TestArgChecks covers the argument checks, which need no device.
func TestArgChecks(t *testing.T) {
	g := softargmax.DefaultGrid(3, 4)
	f := [][]float32{make([]float32, 2*3*4)}
	bad := []struct {
		name   string
		frames [][]float32
		c      int
		grid   softargmax.Grid
		want   string
	}{
		{"no frames", nil, 2, g, "at least one frame"},
		{"short frame", [][]float32{make([]float32, 5)}, 2, g, "frame 0 holds 5"},
		{"grid size", f, 2, softargmax.DefaultGrid(4, 3), "grid is 4×3"},
		{"zero channels", f, 0, g, "invalid map size"},
		{"zero stride", f, 2, softargmax.Grid{GH: 3, GW: 4, Radius: 35}, "invalid grid"},
	}
	for _, b := range bad {
		if _, err := NewSession(b.frames, b.c, 3, 4, b.grid); err == nil || !strings.Contains(err.Error(), b.want) {
			t.Errorf("%s: NewSession error %v, want one containing %q", b.name, err, b.want)
		}
	}
	if err := checkRefinerArgs(make([]float32, 144), make([]float32, 15), make([]float32, 144)); err == nil {
		t.Error("checkRefinerArgs accepted a 15-value bias")
	}
	if err := checkHeadsArgs(make([]softargmax.Result, 1), make([]float32, 2), 1, 1, 1, 2); err == nil {
		t.Error("checkHeadsArgs accepted frame 1 of 1")
	}
	if err := checkHeadsArgs(make([]softargmax.Result, 1), make([]float32, 3), 2, 0, 1, 2); err == nil {
		t.Error("checkHeadsArgs accepted a short out")
	}
}

// TestSessionErrors covers misuse of a live session.
func TestSessionErrors(t *testing.T) {
	needDevice(t)
	g := softargmax.DefaultGrid(3, 4)
	s, err := NewSession([][]float32{make([]float32, 2*3*4)}, 2, 3, 4, g)
	if err != nil {
		t.Fatal(err)
	}
	out := make([]softargmax.Result, 1)
	q := []float32{1, 0}
	if err := s.Heads(out, q, 1, 0); err == nil || !strings.Contains(err.Error(), "before SetRefiner") {
		t.Errorf("Heads before SetRefiner: %v", err)
	}
	if err := s.SetRefiner(make([]float32, 9), make([]float32, 16), make([]float32, 144), 0); err == nil {
		t.Error("SetRefiner accepted a 9-value w1")
	}
	r := mildRefiner(rand.New(rand.NewPCG(1, 1)))
	if err := s.SetRefiner(r.w1, r.b1, r.w2, r.b2); err != nil {
		t.Fatal(err)
	}
	if err := s.Heads(out, q, 1, 1); err == nil {
		t.Error("Heads accepted frame 1 of 1")
	}
	if err := s.Heads(out, q, 0, 0); err != nil {
		t.Errorf("Heads with n = 0: %v", err)
	}
	if err := s.Close(); err != nil {
		t.Fatal(err)
	}
	if err := s.Close(); err != nil {
		t.Errorf("second Close: %v", err)
	}
	if err := s.Heads(out, q, 1, 0); err == nil || !strings.Contains(err.Error(), "closed") {
		t.Errorf("Heads after Close: %v", err)
	}
}

// BenchmarkHeads times Session.Heads at DINO-Tracker's size (C = 1024,
// 67×121 tokens) for several query batch sizes.
func BenchmarkHeads(b *testing.B) {
	needDevice(b)
	hc := headCase{c: 1024, gh: 67, gw: 121, frames: 1, n: 1024}
	rng := rand.New(rand.NewPCG(3, 3))
	frames, queries := makeData(rng, hc)
	s, err := NewSession(frames, hc.c, hc.gh, hc.gw, softargmax.DefaultGrid(hc.gh, hc.gw))
	if err != nil {
		b.Fatal(err)
	}
	defer s.Close()
	r := sharpRefiner(rng)
	if err := s.SetRefiner(r.w1, r.b1, r.w2, r.b2); err != nil {
		b.Fatal(err)
	}
	out := make([]softargmax.Result, hc.n)
	for _, n := range []int{1, 64, 256, 1024} {
		b.Run(fmt.Sprintf("cuda/Q=%d,C=1024,67x121", n), func(b *testing.B) {
			for b.Loop() {
				if err := s.Heads(out, queries, n, 0); err != nil {
					b.Fatal(err)
				}
			}
			b.ReportMetric(float64(n)*float64(b.N)/b.Elapsed().Seconds(), "queries/s")
			flops := 2 * float64(n) * 1024 * 67 * 121
			b.ReportMetric(flops*float64(b.N)/b.Elapsed().Seconds()/1e9, "corr-GFLOP/s")
		})
	}
}
