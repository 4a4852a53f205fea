package dinotracker

import (
	"math"
	"strconv"
	"strings"
	"testing"

	"dinotracker/internal/golden"
)

// metricsGoldenTol is the golden case's suggested tolerance: the metrics are
// ratios of integer counts, so float64 results agree to rounding.
const metricsGoldenTol = 1e-12

// metricsSameF64 reports whether got matches want within tol, NaN matching NaN only.
func metricsSameF64(got, want, tol float64) bool {
	if math.IsNaN(got) || math.IsNaN(want) {
		return math.IsNaN(got) && math.IsNaN(want)
	}
	return math.Abs(got-want) <= tol
}

// metricsField returns the TAPVidMetrics field named by a tapnet metric key
// (occlusion_accuracy, pts_within_δ, jaccard_δ, average_jaccard,
// average_pts_within_thresh).
func metricsField(m *TAPVidMetrics, key string) (float64, bool) {
	switch key {
	case "occlusion_accuracy":
		return m.OcclusionAccuracy, true
	case "average_jaccard":
		return m.AverageJaccard, true
	case "average_pts_within_thresh":
		return m.AveragePtsWithin, true
	}
	for i, thr := range TAPVidThresholds() {
		suffix := "_" + strconv.FormatFloat(thr, 'g', -1, 64)
		switch key {
		case "pts_within" + suffix:
			return m.PtsWithin[i], true
		case "jaccard" + suffix:
			return m.Jaccard[i], true
		}
	}
	return 0, false
}

// TestTAPVidMetricsGolden checks ComputeTAPVid and ComputeTAPVidTrackwise
// against upstream compute_tapvid_metrics outputs (numpy float64), for both
// query modes, per video and per track, NaN matching NaN.
func TestTAPVidMetricsGolden(t *testing.T) {
	golden.ForEach(t, "tapvid_metrics", func(t *testing.T, c *golden.Case) {
		if thr, ok := c.Ints("config", "thresholds"); ok {
			want := TAPVidThresholds()
			if len(thr) != len(want) {
				t.Fatalf("case thresholds %v, implementation %v", thr, want)
			}
			for i := range thr {
				if float64(thr[i]) != want[i] {
					t.Fatalf("case thresholds %v, implementation %v", thr, want)
				}
			}
		}
		gtTr, shp := c.F64(t, "gt_tracks")
		if len(shp) != 4 || shp[3] != 2 {
			t.Fatalf("gt_tracks shape %v, want [B,N,T,2]", shp)
		}
		B, N, T := shp[0], shp[1], shp[2]
		for k, want := range map[string]int{"B": B, "N": N, "T": T} {
			if v := c.Number(-1, "config", k); v >= 0 && int(v) != want {
				t.Fatalf("config %s = %v, tensors say %d", k, v, want)
			}
		}
		predTr, pshp := c.F64(t, "pred_tracks")
		if !metricsSameShape(pshp, shp) {
			t.Fatalf("pred_tracks shape %v, want %v", pshp, shp)
		}
		gtOcc := metricsBoolTensor(t, c, "gt_occluded", []int{B, N, T})
		predOcc := metricsBoolTensor(t, c, "pred_occluded", []int{B, N, T})

		// input builds video b's TAPVidInput from the [B,N,3] (t, y, x) queries.
		input := func(b int, qp []float64) *TAPVidInput {
			in := &TAPVidInput{
				QueryFrames:  make([]int, N),
				GTOccluded:   make([][]bool, N),
				GTTracks:     make([][][2]float64, N),
				PredOccluded: make([][]bool, N),
				PredTracks:   make([][][2]float64, N),
			}
			for n := 0; n < N; n++ {
				in.QueryFrames[n] = QueryFrameFromT(qp[(b*N+n)*3])
				off := (b*N + n) * T
				in.GTOccluded[n] = gtOcc[off : off+T]
				in.PredOccluded[n] = predOcc[off : off+T]
				in.GTTracks[n] = make([][2]float64, T)
				in.PredTracks[n] = make([][2]float64, T)
				for tt := 0; tt < T; tt++ {
					i := (off + tt) * 2
					in.GTTracks[n][tt] = [2]float64{gtTr[i], gtTr[i+1]}
					in.PredTracks[n][tt] = [2]float64{predTr[i], predTr[i+1]}
				}
			}
			return in
		}

		checked := map[string]bool{}
		for _, mode := range []QueryMode{QueryFirst, QueryStrided} {
			qp, qshp := c.F64(t, "query_points_"+mode.String())
			if !metricsSameShape(qshp, []int{B, N, 3}) {
				t.Fatalf("query_points_%v shape %v, want [%d %d 3]", mode, qshp, B, N)
			}
			perVideo := make([]TAPVidMetrics, B)
			perTrack := make([][]TAPVidMetrics, B)
			for b := 0; b < B; b++ {
				in := input(b, qp)
				var err error
				if perVideo[b], err = ComputeTAPVid(in, mode); err != nil {
					t.Fatal(err)
				}
				if perTrack[b], err = ComputeTAPVidTrackwise(in, mode); err != nil {
					t.Fatal(err)
				}
			}
			for _, trackwise := range []bool{false, true} {
				prefix := mode.String() + "/"
				if trackwise {
					prefix = mode.String() + "_trackwise/"
				}
				nKeys := 0
				for _, name := range c.File.Names() {
					if !strings.HasPrefix(name, prefix) {
						continue
					}
					key := strings.TrimPrefix(name, prefix)
					want, wshp := c.F64(t, name)
					wantShape := []int{B}
					if trackwise {
						wantShape = []int{B, N}
					}
					if !metricsSameShape(wshp, wantShape) {
						t.Fatalf("%s: shape %v, want %v", name, wshp, wantShape)
					}
					var maxAbs float64
					nNaN := 0
					for i, w := range want {
						m := &perVideo[i%B]
						where := ""
						if trackwise {
							m = &perTrack[i/N][i%N]
							where = "track "
						}
						got, ok := metricsField(m, key)
						if !ok {
							t.Fatalf("%s: unknown metric %q", name, key)
						}
						if !metricsSameF64(got, w, metricsGoldenTol) {
							t.Errorf("%s[%s%d]: got %v, want %v", name, where, i, got, w)
						}
						if math.IsNaN(w) {
							nNaN++
						} else if d := math.Abs(got - w); d > maxAbs {
							maxAbs = d
						}
					}
					t.Logf("%s: %d values (%d NaN), max |Δ| %.3g", name, len(want), nNaN, maxAbs)
					checked[name] = true
					nKeys++
				}
				if nKeys != 2+2*NumTAPVidThresholds+1 {
					t.Errorf("%s*: checked %d metrics, want %d", prefix, nKeys, 2+2*NumTAPVidThresholds+1)
				}
			}
		}
		for _, name := range c.File.Names() {
			if strings.Contains(name, "/") && !checked[name] {
				t.Errorf("output tensor %s not checked", name)
			}
		}
	})
}

func metricsSameShape(a, b []int) bool {
	if len(a) != len(b) {
		return false
	}
	for i := range a {
		if a[i] != b[i] {
			return false
		}
	}
	return true
}

func metricsBoolTensor(t *testing.T, c *golden.Case, name string, shape []int) []bool {
	t.Helper()
	x := c.Tensor(t, name)
	if x.DType != "BOOL" || !metricsSameShape(x.Shape, shape) {
		t.Fatalf("%s: dtype %s shape %v, want BOOL %v", name, x.DType, x.Shape, shape)
	}
	out := make([]bool, len(x.Raw))
	for i, v := range x.Raw {
		out[i] = v != 0
	}
	return out
}

// metricsInput bundles explicit slices into a TAPVidInput.
func metricsInput(q []int, gtOcc, predOcc [][]bool, gt, pred [][][2]float64) *TAPVidInput {
	return &TAPVidInput{QueryFrames: q, GTOccluded: gtOcc, GTTracks: gt, PredOccluded: predOcc, PredTracks: pred}
}

// TestTAPVidHandComputed checks one small video whose counts are worked out by hand.
func TestTAPVidHandComputed(t *testing.T) {
	// One track, 5 frames, query at frame 1. Offsets (pred-gt) per frame:
	// t0 (0,0) visible/pred visible, t1 query, t2 (3,4) d=5 visible/pred visible,
	// t3 (1,0) d=1 visible/pred occluded, t4 GT occluded, pred visible.
	gt := [][][2]float64{{{10, 10}, {10, 10}, {10, 10}, {10, 10}, {10, 10}}}
	pred := [][][2]float64{{{10, 10}, {0, 0}, {13, 14}, {11, 10}, {50, 50}}}
	gtOcc := [][]bool{{false, false, false, false, true}}
	predOcc := [][]bool{{false, false, false, true, false}}
	in := metricsInput([]int{1}, gtOcc, predOcc, gt, pred)

	// strided: frames 0,2,3,4. OA: t0 ok, t2 ok, t3 wrong, t4 wrong → 2/4.
	// visible: t0,t2,t3 = 3. within δ (d² < δ²): t0 d=0 all; t3 d=1: δ≥2; t2 d=5: δ≥8.
	//   δ=1: 1/3, δ=2: 2/3, δ=4: 2/3, δ=8: 3/3, δ=16: 3/3.
	// TP (pvis & vis & within): t0 always, t2 for δ≥8 (t3 pred occluded).
	//   δ=1,2,4: 1; δ=8,16: 2.
	// FP (pvis & (occ | !within)): t4 always; t2 for δ<8 → δ=1,2,4: 2; δ=8,16: 1.
	// jaccard = TP/(3+FP): 1/5, 1/5, 1/5, 2/4, 2/4.
	m, err := ComputeTAPVid(in, QueryStrided)
	if err != nil {
		t.Fatal(err)
	}
	want := TAPVidMetrics{
		OcclusionAccuracy: 0.5,
		PtsWithin:         [5]float64{1.0 / 3, 2.0 / 3, 2.0 / 3, 1, 1},
		Jaccard:           [5]float64{0.2, 0.2, 0.2, 0.5, 0.5},
	}
	want.AverageJaccard = (0.2 + 0.2 + 0.2 + 0.5 + 0.5) / 5
	want.AveragePtsWithin = (1.0/3 + 2.0/3 + 2.0/3 + 1 + 1) / 5
	metricsExpectEqual(t, "strided", m, want)

	// first: frames 2,3,4 only. OA: t2 ok, t3 wrong, t4 wrong → 1/3.
	// visible 2 (t2,t3). within: δ=1: 0, δ=2,4: 1 (t3), δ=8,16: 2.
	// TP: δ<8: 0, δ≥8: 1 (t2). FP: t4 + (t2 if δ<8): 2,2,2,1,1.
	m, err = ComputeTAPVid(in, QueryFirst)
	if err != nil {
		t.Fatal(err)
	}
	want = TAPVidMetrics{
		OcclusionAccuracy: 1.0 / 3,
		PtsWithin:         [5]float64{0, 0.5, 0.5, 1, 1},
		Jaccard:           [5]float64{0, 0, 0, 1.0 / 3, 1.0 / 3},
	}
	want.AverageJaccard = (1.0/3 + 1.0/3) / 5
	want.AveragePtsWithin = (0.5 + 0.5 + 1 + 1) / 5
	metricsExpectEqual(t, "first", m, want)

	tw, err := ComputeTAPVidTrackwise(in, QueryFirst)
	if err != nil {
		t.Fatal(err)
	}
	if len(tw) != 1 {
		t.Fatalf("trackwise: %d rows, want 1", len(tw))
	}
	metricsExpectEqual(t, "first trackwise", tw[0], want)
}

// TestTAPVidStrictThreshold checks that a distance exactly equal to a
// threshold is not within it (d² < δ², strict).
func TestTAPVidStrictThreshold(t *testing.T) {
	gt := [][][2]float64{{{0, 0}, {0, 0}}}
	pred := [][][2]float64{{{0, 0}, {0, 2}}} // d = 2 exactly at frame 1
	occ := [][]bool{{false, false}}
	m, err := ComputeTAPVid(metricsInput([]int{0}, occ, occ, gt, pred), QueryFirst)
	if err != nil {
		t.Fatal(err)
	}
	want := [5]float64{0, 0, 1, 1, 1}
	if m.PtsWithin != want || m.Jaccard != want {
		t.Errorf("pts_within %v, jaccard %v; want both %v", m.PtsWithin, m.Jaccard, want)
	}
}

// TestTAPVidEmptyVideo covers videos without GT-visible evaluated points and
// without tracks.
func TestTAPVidEmptyVideo(t *testing.T) {
	gt := [][][2]float64{{{1, 1}, {1, 1}, {1, 1}}, {{5, 5}, {5, 5}, {5, 5}}}
	allOcc := [][]bool{{true, true, true}, {true, true, true}}

	// Everything occluded, everything predicted occluded: OA 1, the rest NaN.
	m, err := ComputeTAPVid(metricsInput([]int{0, 1}, allOcc, allOcc, gt, gt), QueryStrided)
	if err != nil {
		t.Fatal(err)
	}
	if m.OcclusionAccuracy != 1 {
		t.Errorf("OA %v, want 1", m.OcclusionAccuracy)
	}
	for i := range m.PtsWithin {
		if !math.IsNaN(m.PtsWithin[i]) || !math.IsNaN(m.Jaccard[i]) {
			t.Errorf("δ %d: pts_within %v jaccard %v, want NaN NaN", i, m.PtsWithin[i], m.Jaccard[i])
		}
	}
	if !math.IsNaN(m.AverageJaccard) || !math.IsNaN(m.AveragePtsWithin) {
		t.Errorf("averages %v %v, want NaN", m.AverageJaccard, m.AveragePtsWithin)
	}

	// Everything occluded, one frame predicted visible: jaccard 0 (all FP), pts_within NaN.
	predOcc := [][]bool{{true, true, false}, {true, true, true}}
	m, err = ComputeTAPVid(metricsInput([]int{0, 1}, allOcc, predOcc, gt, gt), QueryStrided)
	if err != nil {
		t.Fatal(err)
	}
	if m.OcclusionAccuracy != 3.0/4 {
		t.Errorf("OA %v, want 0.75", m.OcclusionAccuracy)
	}
	for i := range m.PtsWithin {
		if !math.IsNaN(m.PtsWithin[i]) || m.Jaccard[i] != 0 {
			t.Errorf("δ %d: pts_within %v jaccard %v, want NaN 0", i, m.PtsWithin[i], m.Jaccard[i])
		}
	}
	if m.AverageJaccard != 0 || !math.IsNaN(m.AveragePtsWithin) {
		t.Errorf("AJ %v δavg %v, want 0 NaN", m.AverageJaccard, m.AveragePtsWithin)
	}

	// No tracks at all: every field NaN, no error.
	m, err = ComputeTAPVid(&TAPVidInput{}, QueryFirst)
	if err != nil {
		t.Fatal(err)
	}
	if !metricsAllNaN(m) {
		t.Errorf("empty video: %+v, want all NaN", m)
	}
	tw, err := ComputeTAPVidTrackwise(&TAPVidInput{}, QueryFirst)
	if err != nil || len(tw) != 0 {
		t.Errorf("empty trackwise: %v, %v", tw, err)
	}
}

// TestTAPVidQueryAtLastFrame checks a query at the last frame in first mode:
// the track has no evaluated frame (all NaN per track) and adds nothing to the
// video's counts.
func TestTAPVidQueryAtLastFrame(t *testing.T) {
	gt := [][][2]float64{{{0, 0}, {0, 0}, {0, 0}}, {{0, 0}, {0, 0}, {0, 0}}}
	pred := [][][2]float64{{{0, 0}, {0, 0}, {0, 0}}, {{0, 0}, {9, 0}, {0, 0}}}
	occ := [][]bool{{false, false, false}, {false, false, false}}
	in := metricsInput([]int{0, 2}, occ, occ, gt, pred)

	tw, err := ComputeTAPVidTrackwise(in, QueryFirst)
	if err != nil {
		t.Fatal(err)
	}
	if !metricsAllNaN(tw[1]) {
		t.Errorf("track queried at the last frame: %+v, want all NaN", tw[1])
	}
	if tw[0].AverageJaccard != 1 || tw[0].OcclusionAccuracy != 1 {
		t.Errorf("track 0: %+v, want perfect", tw[0])
	}
	m, err := ComputeTAPVid(in, QueryFirst)
	if err != nil {
		t.Fatal(err)
	}
	if m.AverageJaccard != 1 || m.AveragePtsWithin != 1 || m.OcclusionAccuracy != 1 {
		t.Errorf("video: %+v, want perfect (the last-frame query contributes nothing)", m)
	}

	// Alone, it leaves the video with nothing to evaluate: all NaN.
	m, err = ComputeTAPVid(metricsInput([]int{2}, occ[1:], occ[1:], gt[1:], pred[1:]), QueryFirst)
	if err != nil {
		t.Fatal(err)
	}
	if !metricsAllNaN(m) {
		t.Errorf("only a last-frame query: %+v, want all NaN", m)
	}
	// In strided mode its frames 0 and 1 are scored: frame 1 is 9 px off.
	m, err = ComputeTAPVid(metricsInput([]int{2}, occ[1:], occ[1:], gt[1:], pred[1:]), QueryStrided)
	if err != nil {
		t.Fatal(err)
	}
	if want := [5]float64{0.5, 0.5, 0.5, 0.5, 1}; m.PtsWithin != want {
		t.Errorf("strided pts_within %v, want %v", m.PtsWithin, want)
	}
}

// TestTAPVidShapeErrors checks that inconsistent inputs are rejected.
func TestTAPVidShapeErrors(t *testing.T) {
	good := func() *TAPVidInput {
		return metricsInput([]int{0},
			[][]bool{{false, false}}, [][]bool{{false, false}},
			[][][2]float64{{{0, 0}, {1, 1}}}, [][][2]float64{{{0, 0}, {1, 1}}})
	}
	if _, err := ComputeTAPVid(good(), QueryStrided); err != nil {
		t.Fatalf("valid input: %v", err)
	}
	cases := map[string]func(*TAPVidInput){
		"query count":      func(in *TAPVidInput) { in.QueryFrames = []int{0, 0} },
		"pred track count": func(in *TAPVidInput) { in.PredTracks = nil },
		"gt frames":        func(in *TAPVidInput) { in.GTTracks[0] = in.GTTracks[0][:1] },
		"pred occ frames":  func(in *TAPVidInput) { in.PredOccluded[0] = []bool{false, false, false} },
		"gt occ frames":    func(in *TAPVidInput) { in.GTOccluded[0] = nil },
		"query too late":   func(in *TAPVidInput) { in.QueryFrames[0] = 2 },
		"negative query":   func(in *TAPVidInput) { in.QueryFrames[0] = -1 },
		"no frames": func(in *TAPVidInput) {
			in.GTTracks[0], in.PredTracks[0], in.GTOccluded[0], in.PredOccluded[0] = nil, nil, nil, nil
		},
	}
	for name, mutate := range cases {
		in := good()
		mutate(in)
		if _, err := ComputeTAPVid(in, QueryStrided); err == nil {
			t.Errorf("%s: ComputeTAPVid accepted it", name)
		}
		if _, err := ComputeTAPVidTrackwise(in, QueryFirst); err == nil {
			t.Errorf("%s: ComputeTAPVidTrackwise accepted it", name)
		}
	}
	if _, err := ComputeTAPVid(good(), QueryMode(7)); err == nil {
		t.Error("unknown query mode accepted")
	}
}

func TestTAPVidMeanAndRaster(t *testing.T) {
	a := TAPVidMetrics{OcclusionAccuracy: 1, AverageJaccard: 0.5, AveragePtsWithin: math.NaN()}
	b := TAPVidMetrics{OcclusionAccuracy: 0.5, AverageJaccard: 0.25, AveragePtsWithin: 0.5}
	m := MeanTAPVidMetrics([]TAPVidMetrics{a, b})
	if m.OcclusionAccuracy != 0.75 || m.AverageJaccard != 0.375 || !math.IsNaN(m.AveragePtsWithin) {
		t.Errorf("MeanTAPVidMetrics: %+v", m)
	}
	m = NanMeanTAPVidMetrics([]TAPVidMetrics{a, b})
	if m.OcclusionAccuracy != 0.75 || m.AverageJaccard != 0.375 || m.AveragePtsWithin != 0.5 {
		t.Errorf("NanMeanTAPVidMetrics: %+v", m)
	}
	if !metricsAllNaN(MeanTAPVidMetrics(nil)) || !metricsAllNaN(NanMeanTAPVidMetrics(nil)) {
		t.Error("mean of no videos is not NaN")
	}

	if x, y := ToRaster256(854, 240, 854, 480); x != 256 || y != 128 {
		t.Errorf("ToRaster256 = %v, %v; want 256, 128", x, y)
	}
	in := [][][2]float64{{{427, 480}}}
	out := TracksToRaster256(in, 854, 480)
	if out[0][0] != [2]float64{128, 256} || in[0][0] != [2]float64{427, 480} {
		t.Errorf("TracksToRaster256: %v (input now %v)", out, in)
	}
	if QueryFrameFromT(2.5) != 2 || QueryFrameFromT(3.5) != 4 || QueryFrameFromT(4.4999) != 4 {
		t.Error("QueryFrameFromT does not round half to even")
	}
	if QueryFirst.String() != "first" || QueryStrided.String() != "strided" {
		t.Error("QueryMode.String")
	}
}

// TestBADJAHandComputed checks ComputeBADJA on small hand-computed cases.
func TestBADJAHandComputed(t *testing.T) {
	// Mask areas: frame 0 is never scored; frame 1 area 100 → δ_seg threshold
	// 0.2·10 = 2; frame 2 area 2500 → threshold 10.
	area := []float64{1e6, 100, 2500}
	gt := [][][2]float64{
		{{0, 0}, {0, 0}, {0, 0}},
		{{5, 5}, {5, 5}, {5, 5}},
	}
	pred := [][][2]float64{
		{{99, 99}, {1.2, 1.6}, {6, 8}}, // frame 0 ignored; d=2 (not < 2, < 3); d=10 (not < 10, not < 3)
		{{5, 5}, {5, 6.5}, {5, 5}},     // d=1.5 (< 2, < 3); frame 2 occluded
	}
	occ := [][]bool{{false, false, false}, {false, false, true}}
	m, err := ComputeBADJA(gt, occ, pred, area)
	if err != nil {
		t.Fatal(err)
	}
	// Scored: (0,1) d=2, (0,2) d=10, (1,1) d=1.5 → 3 points.
	// δ_seg: only (1,1) → 1/3; δ_3px: (0,1), (1,1) → 2/3.
	if m.Count != 3 || math.Abs(m.DeltaSeg-100.0/3) > 1e-12 || math.Abs(m.Delta3px-200.0/3) > 1e-12 {
		t.Errorf("ComputeBADJA = %+v, want Count 3, DeltaSeg 33.33, Delta3px 66.67", m)
	}

	// Occlusion predictions do not exist for BADJA; all-occluded GT → NaN, Count 0.
	allOcc := [][]bool{{true, true, true}, {true, true, true}}
	m, err = ComputeBADJA(gt, allOcc, pred, area)
	if err != nil {
		t.Fatal(err)
	}
	if m.Count != 0 || !math.IsNaN(m.DeltaSeg) || !math.IsNaN(m.Delta3px) {
		t.Errorf("no visible point: %+v, want NaN NaN 0", m)
	}

	// Shapes.
	if _, err := ComputeBADJA(gt, occ[:1], pred, area); err == nil {
		t.Error("track count mismatch accepted")
	}
	if _, err := ComputeBADJA(gt, occ, pred, area[:2]); err == nil {
		t.Error("mask-area length mismatch accepted")
	}

	// Mean over videos: unweighted.
	mean := MeanBADJAMetrics([]BADJAMetrics{{DeltaSeg: 50, Delta3px: 10, Count: 2}, {DeltaSeg: 100, Delta3px: 0, Count: 10}})
	if mean.DeltaSeg != 75 || mean.Delta3px != 5 || mean.Count != 12 {
		t.Errorf("MeanBADJAMetrics = %+v", mean)
	}

	if a := BADJAMaskArea([]uint8{0, 255, 3, 0, 1}); a != 3 {
		t.Errorf("BADJAMaskArea = %v, want 3", a)
	}
}

func metricsAllNaN(m TAPVidMetrics) bool {
	if !math.IsNaN(m.OcclusionAccuracy) || !math.IsNaN(m.AverageJaccard) || !math.IsNaN(m.AveragePtsWithin) {
		return false
	}
	for i := range m.PtsWithin {
		if !math.IsNaN(m.PtsWithin[i]) || !math.IsNaN(m.Jaccard[i]) {
			return false
		}
	}
	return true
}

func metricsExpectEqual(t *testing.T, what string, got, want TAPVidMetrics) {
	t.Helper()
	ok := metricsSameF64(got.OcclusionAccuracy, want.OcclusionAccuracy, 1e-15) &&
		metricsSameF64(got.AverageJaccard, want.AverageJaccard, 1e-15) &&
		metricsSameF64(got.AveragePtsWithin, want.AveragePtsWithin, 1e-15)
	for i := range want.PtsWithin {
		ok = ok && metricsSameF64(got.PtsWithin[i], want.PtsWithin[i], 1e-15) &&
			metricsSameF64(got.Jaccard[i], want.Jaccard[i], 1e-15)
	}
	if !ok {
		t.Errorf("%s:\n got %+v\nwant %+v", what, got, want)
	}
}
