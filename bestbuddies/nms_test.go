package bestbuddies

import (
	"math"
	"math/rand/v2"
	"slices"
	"testing"
)

// fullNMSTop2 is the specification of peakTop2: torchvision's greedy NMS
// over all K boxes, suppressed scores set to 0, then torch.topk(k=2).
func fullNMSTop2(c []cand, grid Grid, n NMS) (v1, v2 float32) {
	K := len(c)
	sup := make([]bool, K)
	for i := 0; i < K; i++ {
		if sup[i] {
			continue
		}
		ix, iy := grid.Centre(int(c[i].i))
		for j := i + 1; j < K; j++ {
			if sup[j] {
				continue
			}
			jx, jy := grid.Centre(int(c[j].i))
			if iouAbove(ix, iy, jx, jy, n.BoxHalf, n.IoU) {
				sup[j] = true
			}
		}
	}
	masked := make([]float32, K)
	for i := range c {
		if !sup[i] {
			masked[i] = c[i].v
		}
	}
	slices.SortFunc(masked, func(a, b float32) int {
		switch {
		case a > b:
			return -1
		case a < b:
			return 1
		}
		return 0
	})
	if K == 1 {
		return masked[0], 0
	}
	return masked[0], masked[1]
}

// iou64 is the IoU of two boxes in float64.
func iou64(ax, ay, bx, by, h float64) float64 {
	w := math.Max(0, math.Min(ax+h, bx+h)-math.Max(ax-h, bx-h))
	hh := math.Max(0, math.Min(ay+h, by+h)-math.Max(ay-h, by-h))
	inter := w * hh
	return inter / (8*h*h - inter)
}

func TestIoUHandMade(t *testing.T) {
	const h = 30
	// Two 60×60 boxes shifted by dx along x: IoU = 60(60−dx) / (7200 − 60(60−dx)).
	for _, c := range []struct {
		dx, dy float32
		want   bool
	}{
		{0, 0, true},    // identical
		{35, 0, true},   // 1500/5700 = 0.263
		{39, 0, true},   // 1260/5940 = 0.212
		{42, 0, false},  // 1080/6120 = 0.176
		{21, 21, true},  // 39·39 = 1521/5679 = 0.268
		{28, 28, false}, // 32·32 = 1024/6176 = 0.166
		{60, 0, false},  // touching
		{70, 7, false},  // apart
	} {
		if got := iouAbove(100, 100, 100+c.dx, 100+c.dy, h, 0.2); got != c.want {
			t.Errorf("offset (%v,%v): IoU %.4f, suppress = %v, want %v", c.dx, c.dy, iou64(0, 0, float64(c.dx), float64(c.dy), h), got, c.want)
		}
	}
	// IoU exactly 0.2 (dx = 40): float32(1200/6000) = 0.20000000298 > 0.2 in
	// double, so torchvision's CPU kernel suppresses; so do we. (DINO-Tracker's
	// 7-px grid never produces this case.)
	if !iouAbove(0, 0, 40, 0, h, 0.2) {
		t.Error("IoU exactly 0.2 in float32 should compare above the double threshold 0.2")
	}
	// Random boxes against float64, away from the threshold.
	rng := rand.New(rand.NewPCG(1, 2))
	for i := 0; i < 10000; i++ {
		dx, dy := float32(rng.IntN(140)-70), float32(rng.IntN(140)-70)
		ref := iou64(0, 0, float64(dx), float64(dy), h)
		if math.Abs(ref-0.2) < 1e-6 {
			continue
		}
		if got := iouAbove(350, 200, 350+dx, 200+dy, h, 0.2); got != (ref > 0.2) {
			t.Fatalf("offset (%v,%v): IoU %v, got suppress %v", dx, dy, ref, got)
		}
	}
}

func TestPeakTop2HandMade(t *testing.T) {
	grid := DefaultGrid(67, 121)
	tok := func(i, j int) int32 { return int32(i*grid.W + j) }
	n := DefaultNMS()
	sup := make([]bool, 8)
	// The peak at (10,10); its neighbour (10,12) is 14 px away (suppressed);
	// (10,16) is 42 px away: the second peak.
	c := []cand{{0.9, tok(10, 10)}, {0.8, tok(10, 12)}, {0.7, tok(10, 16)}, {0.1, tok(40, 100)}}
	if v1, v2 := peakTop2(c, grid, n, sup); v1 != 0.9 || v2 != 0.7 {
		t.Errorf("got (%v, %v), want (0.9, 0.7)", v1, v2)
	}
	// A second peak that is suppressed by the first; the next far one wins.
	c = []cand{{0.9, tok(10, 10)}, {0.85, tok(11, 11)}, {0.5, tok(30, 30)}}
	if v1, v2 := peakTop2(c, grid, n, sup); v1 != 0.9 || v2 != 0.5 {
		t.Errorf("got (%v, %v), want (0.9, 0.5)", v1, v2)
	}
	// Only one peak survives: v2 = 0 (a suppressed entry).
	c = []cand{{0.9, tok(10, 10)}, {0.85, tok(10, 11)}, {0.8, tok(11, 10)}}
	if v1, v2 := peakTop2(c, grid, n, sup); v1 != 0.9 || v2 != 0 {
		t.Errorf("got (%v, %v), want (0.9, 0)", v1, v2)
	}
	// The second surviving peak is negative and something was suppressed:
	// the suppressed zero outranks it.
	c = []cand{{0.9, tok(10, 10)}, {0.1, tok(10, 11)}, {-0.2, tok(40, 40)}}
	if v1, v2 := peakTop2(c, grid, n, sup); v1 != 0.9 || v2 != 0 {
		t.Errorf("got (%v, %v), want (0.9, 0)", v1, v2)
	}
	// Negative second peak and nothing suppressed: it is v2.
	c = []cand{{0.9, tok(10, 10)}, {-0.2, tok(40, 40)}, {-0.3, tok(60, 5)}}
	if v1, v2 := peakTop2(c, grid, n, sup); v1 != 0.9 || v2 != -0.2 {
		t.Errorf("got (%v, %v), want (0.9, -0.2)", v1, v2)
	}
	// Nothing suppressed by the first peak, but later boxes overlap each
	// other: the full greedy pass finds the suppression (zero beats −0.2).
	c = []cand{{0.9, tok(10, 10)}, {-0.2, tok(40, 40)}, {-0.3, tok(40, 41)}}
	if v1, v2 := peakTop2(c, grid, n, sup); v1 != 0.9 || v2 != 0 {
		t.Errorf("got (%v, %v), want (0.9, 0)", v1, v2)
	}
	// A single candidate.
	if v1, v2 := peakTop2(c[:1], grid, n, sup); v1 != 0.9 || v2 != 0 {
		t.Errorf("got (%v, %v), want (0.9, 0)", v1, v2)
	}
}

// TestPeakTop2VsFullNMS checks the early-exit NMS against the full greedy
// pass on random affinity maps, including all-negative and smooth ones.
func TestPeakTop2VsFullNMS(t *testing.T) {
	rng := rand.New(rand.NewPCG(3, 4))
	grid := DefaultGrid(20, 30)
	for trial := 0; trial < 400; trial++ {
		n := NMS{TopK: 1 + rng.IntN(120), BoxHalf: float32(10 + rng.IntN(40)), IoU: 0.05 + 0.5*rng.Float64()}
		row := make([]float32, grid.N())
		shift := float32(rng.Float64()*2 - 1.5)
		cx, cy := rng.Float64()*30, rng.Float64()*20
		for k := range row {
			i, j := k/grid.W, k%grid.W
			smooth := math.Exp(-((float64(j)-cx)*(float64(j)-cx) + (float64(i)-cy)*(float64(i)-cy)) / 30)
			row[k] = float32(smooth)*float32(rng.Float64()) + shift*float32(rng.Float64())
		}
		c := make([]cand, len(row))
		for j, v := range row {
			c[j] = cand{v, int32(j)}
		}
		c = topSorted(c, n.TopK)
		w1, w2 := fullNMSTop2(c, grid, n)
		g1, g2 := peakTop2(c, grid, n, make([]bool, len(c)))
		if g1 != w1 || g2 != w2 {
			t.Fatalf("trial %d (%+v): got (%v, %v), want (%v, %v)", trial, n, g1, g2, w1, w2)
		}
		p1, p2 := PeakAffinities(row, grid, n)
		if p1 != w1 || p2 != w2 {
			t.Fatalf("PeakAffinities: got (%v, %v), want (%v, %v)", p1, p2, w1, w2)
		}
	}
}

// TestTopSorted checks both top-K selections against a full sort, with
// many ties and some NaN.
func TestTopSorted(t *testing.T) {
	rng := rand.New(rand.NewPCG(5, 6))
	for trial := 0; trial < 300; trial++ {
		n := 1 + rng.IntN(500)
		c := make([]cand, n)
		for j := range c {
			c[j] = cand{float32(rng.IntN(20)) / 4, int32(j)}
		}
		if trial%7 == 0 {
			c[rng.IntN(n)].v = float32(math.NaN())
		}
		ref := slices.Clone(c)
		slices.SortFunc(ref, cmpCand)
		k := 1 + rng.IntN(n)
		got := topSorted(slices.Clone(c), k)
		row := make([]float32, n)
		for j := range c {
			row[j] = c[j].v
		}
		fast := topOfRow(row, k, true, make([]float32, n), make([]cand, n))
		if len(got) != k || len(fast) != k {
			t.Fatalf("trial %d: %d and %d candidates, want %d", trial, len(got), len(fast), k)
		}
		for i := 0; i < k; i++ {
			if got[i].i != ref[i].i || fast[i].i != ref[i].i {
				t.Fatalf("trial %d: position %d holds tokens %d (select) and %d (row), want %d", trial, i, got[i].i, fast[i].i, ref[i].i)
			}
		}
	}
}
