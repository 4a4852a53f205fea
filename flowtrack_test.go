package dinotracker

import (
	"context"
	"errors"
	"math"
	"strings"
	"testing"
)

// checkTranslation checks tracks of a video translating by (dx, dy) pixels
// per frame: every visible point within tol of the query moved by
// (t−T)·(dx, dy), and occlusion, once set, kept to the end of each
// direction with the last visible position.
func checkTranslation(t *testing.T, tr *Tracks, dx, dy, tol float64) (visible int) {
	t.Helper()
	if err := tr.Validate(); err != nil {
		t.Fatal(err)
	}
	for i, q := range tr.Queries {
		if p := tr.Points[i][q.T]; float64(p[0]) != float64(float32(q.X)) || float64(p[1]) != float64(float32(q.Y)) || tr.Occluded[i][q.T] || tr.Confidence[i][q.T] != 1 {
			t.Errorf("query %d: query frame holds %v occluded=%v conf=%v", i, p, tr.Occluded[i][q.T], tr.Confidence[i][q.T])
		}
		for _, dir := range []int{1, -1} {
			lost := false
			for f := q.T + dir; f >= 0 && f < tr.Frames; f += dir {
				p, occ, c := tr.Points[i][f], tr.Occluded[i][f], tr.Confidence[i][f]
				if (c == 1) == occ || (c != 0 && c != 1) {
					t.Errorf("query %d frame %d: confidence %v with occluded=%v", i, f, c, occ)
				}
				if lost && !occ {
					t.Errorf("query %d frame %d: visible again after an occlusion", i, f)
				}
				if occ {
					if prev := tr.Points[i][f-dir]; p != prev {
						t.Errorf("query %d frame %d: occluded point moved from %v to %v", i, f, prev, p)
					}
					lost = true
					continue
				}
				visible++
				ex, ey := q.X+float64(f-q.T)*dx, q.Y+float64(f-q.T)*dy
				if e := math.Hypot(float64(p[0])-ex, float64(p[1])-ey); e > tol {
					t.Errorf("query %d frame %d: (%.3f, %.3f), want (%.3f, %.3f): error %.3f px", i, f, p[0], p[1], ex, ey, e)
				}
			}
		}
	}
	return visible
}

func TestFlowTrackTranslation(t *testing.T) {
	const T, w, h, dx, dy = 6, 96, 64, 2, 1
	v := texturedVideo(t, T, w, h, dx, dy)
	queries := []Query{{40, 30, 0}, {50.5, 20.25, 3}, {30, 35, 5}, {61.3, 44.7, 2},
		{92, 30, 0}, // leaves through the right edge at frame 2 (x = 96)
		{3, 30, 4},  // leaves through the left edge at frame 2 going backward (x = −1)
	}
	var stages []string
	tr, err := TrackWithFlow(context.Background(), v, queries, FlowTrackOptions{Progress: func(p Progress) {
		if len(stages) == 0 || stages[len(stages)-1] != p.Stage {
			stages = append(stages, p.Stage)
		}
	}})
	if err != nil {
		t.Fatal(err)
	}
	if strings.Join(stages, ",") != "flow,track" {
		t.Errorf("progress stages %v", stages)
	}
	if tr.Width != w || tr.Height != h || tr.Frames != T || tr.Len() != len(queries) {
		t.Fatalf("tracks %dx%d, %d frames, %d queries", tr.Width, tr.Height, tr.Frames, tr.Len())
	}
	if n := checkTranslation(t, tr, dx, dy, 0.5); n < 20 {
		t.Errorf("only %d visible points", n)
	}
	// The interior queries stay visible throughout.
	for i := 0; i < 4; i++ {
		for f := 0; f < T; f++ {
			if tr.Occluded[i][f] {
				t.Errorf("interior query %d occluded at frame %d", i, f)
			}
		}
	}
	// The edge queries are lost where they leave the frame (or earlier).
	for f := 2; f < T; f++ {
		if !tr.Occluded[4][f] {
			t.Errorf("query leaving to the right is visible at frame %d: %v", f, tr.Points[4][f])
		}
	}
	for f := 0; f <= 2; f++ {
		if !tr.Occluded[5][f] {
			t.Errorf("query leaving to the left (backward) is visible at frame %d: %v", f, tr.Points[5][f])
		}
	}
}

func TestFlowTrackReducedResolution(t *testing.T) {
	const T, w, h, dx, dy = 5, 128, 96, 2, -2
	v := texturedVideo(t, T, w, h, dx, dy)
	queries := []Query{{60, 50, 0}, {70.5, 40.5, 2}, {50, 45, 4}}
	tr, err := TrackWithFlow(context.Background(), v, queries, FlowTrackOptions{Width: 64, Height: 48})
	if err != nil {
		t.Fatal(err)
	}
	if tr.Width != w || tr.Height != h {
		t.Fatalf("points in %dx%d, want the input's %dx%d", tr.Width, tr.Height, w, h)
	}
	if n := checkTranslation(t, tr, dx, dy, 0.5); n != len(queries)*(T-1) {
		t.Errorf("%d visible points, want all %d", n, len(queries)*(T-1))
	}
}

func TestFlowTrackErrors(t *testing.T) {
	v := texturedVideo(t, 3, 32, 24, 1, 0)
	ctx := context.Background()
	for _, c := range []struct {
		name string
		v    *Video
		q    []Query
		opt  FlowTrackOptions
		want string
	}{
		{"NaN", v, []Query{{math.NaN(), 3, 0}}, FlowTrackOptions{}, "finite"},
		{"frame", v, []Query{{3, 3, 0}, {3, 3, 3}}, FlowTrackOptions{}, "query 1 is at frame 3"},
		{"negative frame", v, []Query{{3, 3, -1}}, FlowTrackOptions{}, "frame -1"},
		{"outside", v, []Query{{33, 3, 0}}, FlowTrackOptions{}, "outside the 32x24 frame"},
		{"above", v, []Query{{3, -0.6, 0}}, FlowTrackOptions{}, "outside"},
		{"size", v, []Query{{3, 3, 0}}, FlowTrackOptions{Width: 16}, "flow resolution"},
		{"threshold", v, []Query{{3, 3, 0}}, FlowTrackOptions{Threshold: -1}, "threshold"},
		{"nil video", nil, nil, FlowTrackOptions{}, "no video frames"},
		{"one frame", &Video{Width: 32, Height: 24, Frames: v.Frames[:1]}, nil, FlowTrackOptions{}, "too few"},
	} {
		if _, err := TrackWithFlow(ctx, c.v, c.q, c.opt); err == nil || !strings.Contains(err.Error(), c.want) {
			t.Errorf("%s: %v, want an error containing %q", c.name, err, c.want)
		}
	}
	// The frame's edges, in both coordinate conventions, are accepted.
	if tr, err := TrackWithFlow(ctx, v, []Query{{-0.5, -0.5, 0}, {32, 24, 2}}, FlowTrackOptions{}); err != nil || tr.Points[1][2] != [2]float32{32, 24} {
		t.Errorf("edge queries: %v", err)
	}
	cctx, cancel := context.WithCancel(ctx)
	cancel()
	if _, err := TrackWithFlow(cctx, v, []Query{{3, 3, 0}}, FlowTrackOptions{}); !errors.Is(err, context.Canceled) {
		t.Errorf("cancelled: %v", err)
	}
}
