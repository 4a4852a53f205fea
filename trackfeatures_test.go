package dinotracker

import (
	"context"
	"errors"
	"math/rand/v2"
	"testing"
)

// TestTrackFeatures checks that TrackFeatures returns what the engine
// computes (positions, flags, confidences; a query's own frame exact) and
// rejects bad queries and sizes.
func TestTrackFeatures(t *testing.T) {
	const W, H, C, T = 84, 56, 16, 3
	g := NewHeadGeometry(W, H)
	rng := rand.New(rand.NewPCG(4, 5))
	feats := make(MemoryFeatures, T)
	for k := range feats {
		feats[k] = make([]float32, C*g.Tokens())
		for i := range feats[k] {
			feats[k][i] = float32(rng.NormFloat64())
		}
	}
	head := NewHead(rng)
	qs := []Query{{X: 20, Y: 20}, {X: 40.5, Y: 30, T: 1}, {X: 70, Y: 12, T: 2}}
	ctx := context.Background()
	got, err := TrackFeatures(ctx, W, H, C, T, head, feats, qs, TrackOptions{Batch: 2})
	if err != nil {
		t.Fatal(err)
	}
	tc, err := newTrackCore(ctx, g, C, T, head, memFrames(feats))
	if err != nil {
		t.Fatal(err)
	}
	cq := []coreQuery{{X: 20, Y: 20}, {X: 40.5, Y: 30, T: 1}, {X: 70, Y: 12, T: 2}}
	res, err := tc.run(ctx, cq, DefaultOcclusion(), false, nil)
	if err != nil {
		t.Fatal(err)
	}
	for i, q := range qs {
		for f := 0; f < T; f++ {
			want, occ, conf := res.traj[i][f], res.occluded[i][f], res.conf[i][f]
			if f == q.T {
				want, occ, conf = [2]float32{float32(q.X), float32(q.Y)}, false, 1
			}
			if got.Points[i][f] != want || got.Occluded[i][f] != occ || got.Confidence[i][f] != conf {
				t.Errorf("query %d frame %d: %v/%v/%v, engine %v/%v/%v", i, f, got.Points[i][f], got.Occluded[i][f], got.Confidence[i][f], want, occ, conf)
			}
		}
	}
	for _, bad := range [][]Query{{{X: -1, Y: 3}}, {{X: 3, Y: 3, T: T}}, {{X: W + 1, Y: 0}}} {
		if _, err := TrackFeatures(ctx, W, H, C, T, head, feats, bad, TrackOptions{}); !errors.Is(err, ErrBadQuery) {
			t.Errorf("query %+v: error %v, want ErrBadQuery", bad[0], err)
		}
	}
	if _, err := TrackFeatures(ctx, W, H, C, T, nil, feats, qs, TrackOptions{}); err == nil {
		t.Error("nil head accepted")
	}
	short := MemoryFeatures{feats[0][:10], feats[1], feats[2]}
	if _, err := TrackFeatures(ctx, W, H, C, T, head, short, qs, TrackOptions{}); err == nil {
		t.Error("a frame with too few values was accepted")
	}
}
