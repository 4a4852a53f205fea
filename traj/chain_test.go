package traj

import (
	"context"
	"errors"
	"fmt"
	"math"
	"math/big"
	"math/rand"
	"runtime"
	"strings"
	"testing"

	"dinotracker/flow"
)

// referenceChain is a literal, dense transcription of upstream
// save_trajectories (every pixel propagated at every step, per-coordinate
// masks, NaN padding, [N, T, 2] output) used to check Chain's compact,
// parallel bookkeeping.
func referenceChain(t *testing.T, m *MemFlows, T, W, H int, opt Options) []float32 {
	t.Helper()
	g := newGeom(W, H)
	masks, err := ConsistencyMasks(context.Background(), m, T, W, H, opt.Threshold)
	if err != nil {
		t.Fatal(err)
	}
	nan := float32(math.NaN())
	isNaN := func(v float32) bool { return v != v }
	var all []float32 // rows of T*2
	for s := 0; s < T-(opt.MinLength-1); s++ {
		traj := make([]float32, (T-s)*W*H*2)
		coords := make([]float32, W*H*2)
		mask := make([]bool, W*H*2)
		passed := make([]bool, W*H)
		for r := 0; r < len(all)/(2*T); r++ {
			x, y := all[(r*T+s)*2], all[(r*T+s)*2+1]
			if isNaN(x) || isNaN(y) {
				continue
			}
			rx, ry := math.RoundToEven(float64(x)), math.RoundToEven(float64(y))
			if rx >= 0 && ry >= 0 && rx <= float64(W-1) && ry <= float64(H-1) {
				passed[int(ry)*W+int(rx)] = true
			}
		}
		for p := 0; p < W*H; p++ {
			coords[2*p], coords[2*p+1] = float32(p%W), float32(p/W)
			mask[2*p] = !masks[s][p] || !passed[p]
			mask[2*p+1] = mask[2*p]
			for c := range 2 {
				traj[2*p+c] = nan
				if mask[2*p+c] {
					traj[2*p+c] = coords[2*p+c]
				}
			}
		}
		for idx := 0; idx < T-1-s; idx++ {
			fw, bw := m.Fwd[s+idx], m.Bwd[s+idx]
			var dmask []bool
			var df *flow.Field
			if opt.UseDirect {
				db := bw
				df = fw
				if idx > 0 {
					df, _ = m.Direct(s, s+idx+1)
					db, _ = m.Direct(s+idx+1, s)
				}
				dmask, _ = DirectMask(df, db, opt.Threshold, nil)
			}
			for p := 0; p < W*H; p++ {
				x, y := coords[2*p], coords[2*p+1]
				wu, wv := g.sampleZero(fw, x, y)
				x1, y1 := x+wu, y+wv
				bu, bv := g.sampleZero(bw, x1, y1)
				ok := norm2(x-(x1+bu), y-(y1+bv)) < opt.Threshold
				mask[2*p] = mask[2*p] && ok && x1 <= g.wm1 && x1 >= 0
				mask[2*p+1] = mask[2*p+1] && ok && y1 <= g.hm1 && y1 >= 0
				coords[2*p], coords[2*p+1] = x+wu, y+wv
				if opt.UseDirect {
					e := norm2(coords[2*p]-(float32(p%W)+df.U[p]), coords[2*p+1]-(float32(p/W)+df.V[p]))
					if !dmask[p] {
						e = 0
					}
					mask[2*p] = mask[2*p] && e < opt.DirectThreshold
					mask[2*p+1] = mask[2*p+1] && e < opt.DirectThreshold
				}
				for c := range 2 {
					traj[((idx+1)*W*H+p)*2+c] = nan
					if mask[2*p+c] {
						traj[((idx+1)*W*H+p)*2+c] = coords[2*p+c]
					}
				}
			}
		}
		for p := 0; p < W*H; p++ {
			row := make([]float32, 2*T)
			valid := 0
			for f := range T {
				row[2*f], row[2*f+1] = nan, nan
				if f < s {
					continue
				}
				x, y := traj[((f-s)*W*H+p)*2], traj[((f-s)*W*H+p)*2+1]
				if !isNaN(x) && !isNaN(y) {
					row[2*f], row[2*f+1] = x, y
					valid++
				}
			}
			if valid >= opt.MinLength {
				all = append(all, row...)
			}
		}
	}
	return all
}

func TestChainMatchesDenseReference(t *testing.T) {
	const T, W, H = 7, 37, 23
	m := smoothFlows(T, W, H, 1)
	for _, opt := range []Options{
		DefaultOptions(),
		{Threshold: 1.5, DirectThreshold: 2.5, UseDirect: false, MinLength: 2},
		{Threshold: 1.0, DirectThreshold: 1.5, UseDirect: true, MinLength: 3},
		{Threshold: 1.5, UseDirect: false, MinLength: 1},
		{Threshold: 1.5, UseDirect: false, MinLength: 9}, // no start frame
	} {
		t.Run(fmt.Sprintf("%+v", opt), func(t *testing.T) {
			set, err := Chain(context.Background(), m, T, W, H, opt, nil)
			if err != nil {
				t.Fatal(err)
			}
			if err := set.Validate(); err != nil {
				t.Fatal(err)
			}
			want := referenceChain(t, m, T, W, H, opt)
			got := set.Dense()
			if len(got) != len(want) {
				t.Fatalf("got %d trajectories, want %d", set.N(), len(want)/(2*T))
			}
			for i := range want {
				if math.Float32bits(got[i]) != math.Float32bits(want[i]) && !(got[i] != got[i] && want[i] != want[i]) {
					t.Fatalf("trajectory %d frame %d coord %d: got %v want %v", i/(2*T), i/2%T, i%2, got[i], want[i])
				}
			}
			hist := make([]int, T+1)
			for _, l := range set.Len {
				hist[l]++
			}
			t.Logf("N=%d, length histogram %v", set.N(), hist)
		})
	}
}

// TestChainTranslation: a video translating by one pixel per frame. At the
// first frame every pixel is a seed and lives until it leaves the image. At
// later frames the only seeds are the pixels no forward-warped pixel hits
// (the entering column/row): every one of them survives to the last frame
// or the image border, and every other pixel is covered.
func TestChainTranslation(t *testing.T) {
	const T, W, H = 6, 17, 9 // W−1, H−1 powers of two: sampling is exact
	for _, d := range [][2]int{{1, 0}, {0, 1}, {1, 1}} {
		for _, direct := range []bool{false, true} {
			t.Run(fmt.Sprintf("d=%v/direct=%v", d, direct), func(t *testing.T) {
				m := constFlows(T, W, H, float32(d[0]), float32(d[1]))
				opt := DefaultOptions()
				opt.UseDirect = direct
				set, err := Chain(context.Background(), m, T, W, H, opt, nil)
				if err != nil {
					t.Fatal(err)
				}
				want := NewSet(T)
				for s := 0; s < T-1; s++ {
					for y := range H {
						for x := range W {
							if s > 0 && !(d[0] == 1 && x == 0 || d[1] == 1 && y == 0) {
								continue
							}
							l := T - s
							if d[0] == 1 {
								l = min(l, W-x)
							}
							if d[1] == 1 {
								l = min(l, H-y)
							}
							if l < 2 {
								continue
							}
							var xy []float32
							for k := range l {
								xy = append(xy, float32(x+k*d[0]), float32(y+k*d[1]))
							}
							want.Append(s, xy)
						}
					}
				}
				if !setsEqual(set, want) {
					t.Fatalf("got %d trajectories (%d positions), want %d (%d)", set.N(), len(set.XY)/2, want.N(), len(want.XY)/2)
				}
				t.Logf("N=%d", set.N())
			})
		}
	}
}

func TestChainDeterministicAcrossGOMAXPROCS(t *testing.T) {
	const T, W, H = 6, 160, 96
	m := smoothFlows(T, W, H, 7)
	defer runtime.GOMAXPROCS(runtime.GOMAXPROCS(0))
	var first *Set
	for _, procs := range []int{1, 2, 3, 8} {
		runtime.GOMAXPROCS(procs)
		set, err := Chain(context.Background(), m, T, W, H, DefaultOptions(), nil)
		if err != nil {
			t.Fatal(err)
		}
		if first == nil {
			first = set
			t.Logf("N=%d", set.N())
			continue
		}
		if !setsEqual(first, set) {
			t.Fatalf("GOMAXPROCS=%d changes the result", procs)
		}
	}
}

func TestChainProgressAndCancel(t *testing.T) {
	const T, W, H = 5, 20, 12
	m := constFlows(T, W, H, 1, 0)
	last, total := 0, 0
	_, err := Chain(context.Background(), m, T, W, H, DefaultOptions(), func(d, tot int) {
		if d <= last || d > tot {
			t.Errorf("progress %d/%d after %d", d, tot, last)
		}
		last, total = d, tot
	})
	if err != nil {
		t.Fatal(err)
	}
	if last != total || total != 5+4+3+2 {
		t.Errorf("final progress %d/%d, want 14/14", last, total)
	}
	ctx, cancel := context.WithCancel(context.Background())
	_, err = Chain(ctx, m, T, W, H, DefaultOptions(), func(d, tot int) { cancel() })
	if !errors.Is(err, context.Canceled) {
		t.Errorf("cancelled chain returned %v", err)
	}
}

func TestChainErrors(t *testing.T) {
	const T, W, H = 4, 10, 8
	ctx := context.Background()
	check := func(name string, err error, want ...string) {
		t.Helper()
		if err == nil {
			t.Errorf("%s: no error", name)
			return
		}
		for _, w := range want {
			if !strings.Contains(err.Error(), w) {
				t.Errorf("%s: error %q does not mention %q", name, err, w)
			}
		}
	}
	_, err := Chain(ctx, constFlows(2, W, H, 1, 0), 1, W, H, DefaultOptions(), nil)
	check("T=1", err, "1 frame", "at least 2")

	m := constFlows(T, W, H, 1, 0)
	m.Fwd[2] = flow.NewField(W+1, H)
	_, err = Chain(ctx, m, T, W, H, DefaultOptions(), nil)
	check("size", err, "forward flow 2", "frame 2→3", "11×8", "10×8")

	m = constFlows(T, W, H, 1, 0)
	m.Bwd[1].V[4*W+3] = float32(math.NaN())
	_, err = Chain(ctx, m, T, W, H, DefaultOptions(), nil)
	check("NaN", err, "backward flow 1", "frame 2→1", "x=3, y=4", "NaN")

	m = constFlows(T, W, H, 1, 0)
	df := m.DirectFunc
	m.DirectFunc = func(from, to int) (*flow.Field, error) {
		f, _ := df(from, to)
		if from == 2 && to == 0 {
			f.U[5] = float32(math.Inf(1))
		}
		return f, nil
	}
	_, err = Chain(ctx, m, T, W, H, DefaultOptions(), nil)
	check("Inf direct", err, "direct flow (frame 2→0)", "x=5, y=0", "+Inf")

	sentinel := errors.New("raft failed")
	m.DirectFunc = func(from, to int) (*flow.Field, error) { return nil, sentinel }
	_, err = Chain(ctx, m, T, W, H, DefaultOptions(), nil)
	if !errors.Is(err, sentinel) {
		t.Errorf("provider error not wrapped: %v", err)
	}
	check("provider", err, "frame 0→2")
	m.DirectFunc = nil
	_, err = Chain(ctx, m, T, W, H, DefaultOptions(), nil)
	check("no direct", err, "no direct flows")
	opt := DefaultOptions()
	opt.UseDirect = false
	if _, err := Chain(ctx, m, T, W, H, opt, nil); err != nil {
		t.Errorf("without direct flows: %v", err)
	}

	m = constFlows(T, W, H, 1, 0)
	m.Fwd = m.Fwd[:2]
	_, err = Chain(ctx, m, T, W, H, DefaultOptions(), nil)
	check("missing", err, "forward flow 2")

	for _, o := range []Options{{Threshold: 0, MinLength: 2}, {Threshold: 1.5, MinLength: 0}, {Threshold: 1.5, UseDirect: true, MinLength: 2}} {
		_, err = Chain(ctx, constFlows(T, W, H, 1, 0), T, W, H, o, nil)
		check(fmt.Sprintf("options %+v", o), err)
	}
	_, err = ConsistencyMask(flow.NewField(W, H), flow.NewField(W, H+1), 1.5, nil)
	check("mask size", err, "backward flow", "10×9")
	_, err = ConsistencyMasks(ctx, constFlows(T, W, H, 1, 0), T, W+2, H, 1.5)
	check("masks size", err, "forward flow 0", "10×8", "12×8")
	_, err = DirectMask(flow.NewField(W, H), nil, 1.5, nil)
	check("direct nil", err)

	// Large fields are scanned in parallel chunks; the first bad pixel in
	// row-major order is reported.
	big := flow.NewField(300, 300)
	big.U[80000] = float32(math.NaN())
	big.V[70000] = float32(math.Inf(-1))
	_, err = ConsistencyMask(flow.NewField(300, 300), big, 1.5, nil)
	check("first bad pixel", err, "x=100, y=233", "-Inf")
}

// TestConsistencyMaskTranslation checks the hit rule: with a shift of +0.5 px
// in y, rounding half to even hits only even rows.
func TestConsistencyMaskTranslation(t *testing.T) {
	const W, H = 9, 9
	m := constFlows(2, W, H, 1, 0.5)
	got, err := ConsistencyMask(m.Fwd[0], m.Bwd[0], 1.5, nil)
	if err != nil {
		t.Fatal(err)
	}
	for y := range H {
		for x := range W {
			want := x >= 1 && y%2 == 0
			if got[y*W+x] != want {
				t.Fatalf("pixel (%d,%d): got %v want %v", x, y, got[y*W+x], want)
			}
		}
	}
}

func TestSamplersMatchFieldSample(t *testing.T) {
	rng := rand.New(rand.NewSource(3))
	for _, sz := range [][2]int{{32, 24}, {854, 476}, {2, 2}} {
		W, H := sz[0], sz[1]
		f := flow.NewField(W, H)
		for i := range f.U {
			f.U[i], f.V[i] = rng.Float32()*2-1, rng.Float32()*2-1
		}
		g := newGeom(W, H)
		// The samplers map positions through grid_sample's normalised
		// coordinates, which moves them by a few ulps; with values in
		// [−1, 1] the gradient is at most 2 per pixel.
		ulp := float32(math.Nextafter32(float32(max(W, H)), 1e9)) - float32(max(W, H))
		tol := 1e-6 + 2*4*ulp
		for range 20000 {
			x := rng.Float32()*float32(W+4) - 2
			y := rng.Float32()*float32(H+4) - 2
			if rng.Intn(8) == 0 {
				x = float32(rng.Intn(W))
			}
			u, v := g.sampleZero(f, x, y)
			eu, ev := f.Sample(x, y)
			if d := max(abs32(u-eu), abs32(v-ev)); d > tol {
				t.Fatalf("%d×%d zero-padded sample at (%v,%v): (%v,%v), flow.Field.Sample (%v,%v)", W, H, x, y, u, v, eu, ev)
			}
			u, v = g.sampleBorder(f, x, y)
			eu, ev = f.Sample(min(max(x, 0), float32(W-1)), min(max(y, 0), float32(H-1)))
			if d := max(abs32(u-eu), abs32(v-ev)); d > tol {
				t.Fatalf("%d×%d border sample at (%v,%v): (%v,%v), want (%v,%v)", W, H, x, y, u, v, eu, ev)
			}
		}
	}
}

func abs32(x float32) float32 { return float32(math.Abs(float64(x))) }

func TestFMA32(t *testing.T) {
	rng := rand.New(rand.NewSource(5))
	exact := func(a, b, c float32) float32 {
		p := new(big.Float).SetPrec(200).SetFloat64(float64(a))
		p.Mul(p, new(big.Float).SetFloat64(float64(b)))
		p.Add(p, new(big.Float).SetFloat64(float64(c)))
		f, _ := p.Float32()
		return f
	}
	for i := range 200000 {
		a := float32(rng.NormFloat64() * 10)
		b := float32(rng.Float64())
		c := float32(rng.NormFloat64() * 10)
		if i%2 == 0 {
			// Hard cases: c cancels most of a·b, or sits far below it.
			c = -float32(float64(a) * float64(b))
			if i%4 == 0 {
				c = float32(float64(c) * 1e-9)
			}
			c += float32(rng.NormFloat64()) * 1e-6
		}
		if got, want := fma32(a, b, c), exact(a, b, c); math.Float32bits(got) != math.Float32bits(want) {
			t.Fatalf("fma32(%v, %v, %v) = %v, want %v", a, b, c, got, want)
		}
	}
	for range 100000 {
		var a, w [4]float32
		for k := range 4 {
			a[k], w[k] = float32(rng.NormFloat64()*5), rng.Float32()
		}
		want := fma32(a[3], w[3], fma32(a[2], w[2], fma32(a[1], w[1], a[0]*w[0])))
		if got := lerp4(a[0], a[1], a[2], a[3], w[0], w[1], w[2], w[3]); math.Float32bits(got) != math.Float32bits(want) {
			t.Fatalf("lerp4(%v, %v) = %v, want %v", a, w, got, want)
		}
	}
	// A double-rounding trap: a·b + c = 1 + 2^-23 + 2^-24 − 2^-70 rounds to
	// the float32 midpoint 1 + 2^-23 + 2^-24 in float64, and from there
	// (half to even) to 1 + 2^-22, but the correctly rounded result is
	// 1 + 2^-23.
	a := float32(math.Ldexp(1+0x1p-23, -12))
	b := float32(math.Ldexp(1-0x1p-23, -12))
	c := float32(1 + 0x1p-23)
	if naive := float32(float64(a)*float64(b) + float64(c)); naive != 1+0x1p-22 {
		t.Fatalf("trap not armed: naive result %v", naive)
	}
	if got := fma32(a, b, c); got != 1+0x1p-23 || got != exact(a, b, c) {
		t.Errorf("trap: fma32 = %v, want %v", got, float32(1+0x1p-23))
	}
	if got := lerp4(0, a, 0, 0, 0, b, 0, 0); got != float32(float64(a)*float64(b)) {
		t.Errorf("lerp4 product: %v", got)
	}
	if got := lerp4(c, a, 0, 0, 1, b, 0, 0); got != 1+0x1p-23 {
		t.Errorf("trap: lerp4 = %v, want %v", got, float32(1+0x1p-23))
	}
}
