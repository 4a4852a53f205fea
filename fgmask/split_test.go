package fgmask

import (
	"math"
	"slices"
	"strings"
	"testing"

	"dinotracker/traj"
)

func TestSplit(t *testing.T) {
	// 3 frames of 5×4 masks. Frame 0: column 2 is foreground. Frame 1:
	// pixel (4, 3) only. Frame 2: everything.
	m := New(3, 4, 5)
	for y := 0; y < 4; y++ {
		m.Data[(0*4+y)*5+2] = 1
	}
	m.Data[(1*4+3)*5+4] = 1
	for i := range m.Frame(2) {
		m.Frame(2)[i] = 1
	}
	s := traj.NewSet(3)
	type tr struct {
		start int
		xy    []float32
		fg    bool
	}
	trs := []tr{
		{0, []float32{2, 0, 3, 1}, true},         // on column 2
		{0, []float32{1.5, 3, 9, 9, 9, 9}, true}, // 1.5 rounds to 2 (half to even)
		{0, []float32{2.5, 1}, true},             // 2.5 rounds to 2
		{0, []float32{3.5, 1}, false},            // 3.5 rounds to 4
		{0, []float32{2.49, 2}, true},            // → 2
		{0, []float32{1.49, 2}, false},           // → 1
		{1, []float32{4, 3, 0, 0}, true},         // frame 1 pixel (4, 3); later frames ignored
		{1, []float32{3.5, 2.5, 4, 3}, false},    // (4, 2): background in frame 1
		{1, []float32{4.4, 3.4}, true},           // → (4, 3)
		{2, []float32{0, 0}, true},               // frame 2: all foreground
		{1, []float32{-0.5, -0.5, 2, 2}, false},  // −0.5 rounds to −0 = 0: in range, background
		{0, []float32{0.5, 2.5, 0, 0}, false},    // (0, 2): background
	}
	for _, x := range trs {
		s.Append(x.start, x.xy)
	}
	got, err := Classify(s, m)
	if err != nil {
		t.Fatal(err)
	}
	for i, x := range trs {
		if got[i] != x.fg {
			t.Errorf("trajectory %d starting at (%v, %v) frame %d: fg=%v want %v", i, x.xy[0], x.xy[1], x.start, got[i], x.fg)
		}
	}
	fg, bg, err := Split(s, m)
	if err != nil {
		t.Fatal(err)
	}
	if fg.N()+bg.N() != s.N() || fg.T != 3 || bg.T != 3 {
		t.Fatalf("sizes: fg %d + bg %d != %d", fg.N(), bg.N(), s.N())
	}
	// Both keep the original order and the whole trajectories.
	wantFg, wantBg := traj.NewSet(3), traj.NewSet(3)
	for _, x := range trs {
		if x.fg {
			wantFg.Append(x.start, x.xy)
		} else {
			wantBg.Append(x.start, x.xy)
		}
	}
	for _, c := range []struct {
		name      string
		got, want *traj.Set
	}{{"fg", fg, wantFg}, {"bg", bg, wantBg}} {
		g, w := c.got.Dense(), c.want.Dense()
		if len(g) != len(w) {
			t.Fatalf("%s: %d values, want %d", c.name, len(g), len(w))
		}
		for i := range g {
			if g[i] != w[i] && !(math.IsNaN(float64(g[i])) && math.IsNaN(float64(w[i]))) {
				t.Fatalf("%s: value %d is %v, want %v", c.name, i, g[i], w[i])
			}
		}
		if !slices.Equal(c.got.Off, c.want.Off) || !slices.Equal(c.got.Start, c.want.Start) {
			t.Fatalf("%s: layout differs", c.name)
		}
	}
	// The split shares nothing with s.
	fg.XY[0] = 99
	if s.XY[0] == 99 {
		t.Fatal("fg aliases the input")
	}

	// Empty input.
	fg, bg, err = Split(traj.NewSet(3), m)
	if err != nil || fg.N() != 0 || bg.N() != 0 || len(fg.Off) != 1 {
		t.Fatalf("empty set: %v %v %v", fg, bg, err)
	}
}

func TestSplitErrors(t *testing.T) {
	m := New(2, 4, 5)
	check := func(name string, s *traj.Set, m *Masks, want string) {
		t.Helper()
		_, _, err := Split(s, m)
		if err == nil {
			t.Errorf("%s: no error", name)
			return
		}
		if !strings.Contains(err.Error(), want) {
			t.Errorf("%s: %q does not mention %q", name, err, want)
		}
		t.Logf("%s: %v", name, err)
	}
	s := traj.NewSet(3)
	s.Append(0, []float32{1, 1})
	check("frame count", s, m, "masks have 2 frames but the trajectories 3")

	for _, c := range []struct {
		name string
		x, y float32
	}{{"x too large", 4.6, 0}, {"y too large", 0, 3.6}, {"negative", -0.6, 1}, {"NaN", float32(math.NaN()), 1}, {"Inf", 1, float32(math.Inf(1))}} {
		s := traj.NewSet(2)
		s.Append(0, []float32{1, 1})
		s.Append(1, []float32{c.x, c.y})
		check(c.name, s, m, "trajectory 1 starts at")
	}
	// y = 3.5 rounds to 4 ≥ H = 4: outside.
	s = traj.NewSet(2)
	s.Append(0, []float32{4.5, 3.5})
	if _, err := Classify(s, m); err == nil || !strings.Contains(err.Error(), "outside") {
		t.Errorf("3.5 → 4 should be outside 4 rows: %v", err)
	}
	// 4.5 and 2.5 round to 4 and 2 (half to even): inside the 5×4 masks.
	s = traj.NewSet(2)
	s.Append(1, []float32{4.5, 2.5})
	if _, err := Classify(s, m); err != nil {
		t.Errorf("(4.5, 2.5) rounds to (4, 2), inside: %v", err)
	}

	bad := traj.NewSet(2)
	bad.Append(5, []float32{1, 1})
	check("start frame", bad, m, "spans frames [5, 5+1)")
	bad = traj.NewSet(2)
	bad.Append(0, []float32{1, 1})
	bad.Off = bad.Off[:1]
	check("malformed", bad, m, "offsets")
	check("nil set", nil, m, "nil trajectory set")
	check("nil masks", traj.NewSet(2), nil, "nil masks")
	check("bad masks", traj.NewSet(2), &Masks{T: 2, H: 4, W: 5}, "hold 0 values")
}
