package dinotracker

import (
	"context"
	"errors"
	"math"
	"path/filepath"
	"testing"

	"dinotracker/cuda"
)

// TestTrack fits a tiny translating video and checks Track: exact query
// points, batch independence, agreement with the per-query head, the
// on-disk refined features, LoadTracker, input-pixel scaling and bad input.
func TestTrack(t *testing.T) {
	const T, W, H, dx, dy = 5, 98, 70, 2, 1
	v := texturedVideo(t, T, W, H, dx, dy)
	masks := boxMasks(t, T, W, H)
	cfg := tinyConfig(40)
	dir := t.TempDir()
	ctx := context.Background()
	tr, err := NewTracker(cfg, WithWorkDir(dir), WithMasks(masks), WithLogger(discardLogger()))
	if err != nil {
		t.Fatal(err)
	}
	defer tr.Close()
	if _, err := tr.Track(ctx, []Query{{X: 10, Y: 10}}); !errors.Is(err, ErrNotFitted) {
		t.Fatalf("Track before Fit: %v, want ErrNotFitted", err)
	}
	if err := tr.Fit(ctx, v); err != nil {
		t.Fatal(err)
	}
	var qs []Query
	for y := 12.0; y < H-12; y += 9.5 {
		for x := 12.0; x < W-12; x += 11.25 {
			qs = append(qs, Query{X: x, Y: y, T: len(qs) % T})
		}
	}
	var stages []string
	tr.progress = func(p Progress) {
		if len(stages) == 0 || stages[len(stages)-1] != p.Stage {
			stages = append(stages, p.Stage)
		}
	}
	all, err := tr.Track(ctx, qs)
	if err != nil {
		t.Fatal(err)
	}
	if err := all.Validate(); err != nil {
		t.Fatal(err)
	}
	t.Logf("progress stages %v", stages)
	if all.Width != W || all.Height != H || all.Frames != T || all.Len() != len(qs) {
		t.Fatalf("tracks %d×%d, %d frames, %d queries", all.Width, all.Height, all.Frames, all.Len())
	}

	t.Run("query frame", func(t *testing.T) {
		for i, q := range qs {
			p := all.Points[i][q.T]
			if p != [2]float32{float32(q.X), float32(q.Y)} || all.Occluded[i][q.T] || all.Confidence[i][q.T] != 1 {
				t.Fatalf("query %d %+v: own frame gives %v occluded=%v confidence %g", i, q, p, all.Occluded[i][q.T], all.Confidence[i][q.T])
			}
		}
	})
	t.Run("motion", func(t *testing.T) {
		var sum float64
		n := 0
		for i, q := range qs {
			for f := 0; f < T; f++ {
				if f == q.T || all.Occluded[i][f] {
					continue
				}
				ex, ey := q.X+float64((f-q.T)*dx), q.Y+float64((f-q.T)*dy)
				sum += math.Hypot(float64(all.Points[i][f][0])-ex, float64(all.Points[i][f][1])-ey)
				n++
			}
		}
		t.Logf("mean error %.2f px over %d visible predictions", sum/float64(n), n)
		if n == 0 || sum/float64(n) > 4 {
			t.Errorf("mean error %.2f px over %d visible points", sum/float64(n), n)
		}
	})
	t.Run("batch independence", func(t *testing.T) {
		tr.trackOpt = &TrackOptions{Occlusion: DefaultOcclusion(), Batch: 3}
		defer func() { tr.trackOpt = nil }()
		for _, sub := range [][]Query{qs[5:6], qs[2:9], {qs[7], qs[1], qs[5]}} {
			got, err := tr.Track(ctx, sub)
			if err != nil {
				t.Fatal(err)
			}
			for k, q := range sub {
				i := indexOf(qs, q)
				for f := 0; f < T; f++ {
					if got.Points[k][f] != all.Points[i][f] || got.Occluded[k][f] != all.Occluded[i][f] || got.Confidence[k][f] != all.Confidence[i][f] {
						t.Fatalf("query %d frame %d: %v/%v/%g in a batch of %d, %v/%v/%g in the full batch",
							i, f, got.Points[k][f], got.Occluded[k][f], got.Confidence[k][f], len(sub), all.Points[i][f], all.Occluded[i][f], all.Confidence[i][f])
					}
				}
			}
		}
	})
	t.Run("matches per-query head", func(t *testing.T) {
		s := tr.sess
		g := NewHeadGeometry(s.W, s.H)
		ws := NewHeadWorkspace(g, s.refined.C)
		for i, q := range qs[:10] {
			src, _ := s.refined.Frame(q.T, nil)
			for f := 0; f < T; f++ {
				if f == q.T {
					continue
				}
				tgt, _ := s.refined.Frame(f, nil)
				tr.model.Head.Forward(ws, src, tgt, nil, q.X, q.Y) // model = input size here
				xn, yn := g.Normalize(ws.PredPx[0], ws.PredPx[1])
				x, y := g.Unnormalize(xn, yn)
				if d := math.Hypot(x-float64(all.Points[i][f][0]), y-float64(all.Points[i][f][1])); d > 1e-3 {
					t.Fatalf("query %d frame %d: engine (%v), head (%.4f, %.4f)", i, f, all.Points[i][f], x, y)
				}
			}
		}
	})
	t.Run("refined on disk", func(t *testing.T) {
		tr2, err := LoadTracker(ctx, dir, v, WithLogger(discardLogger()), WithTrackOptions(TrackOptions{MemoryBytes: 1}))
		if err != nil {
			t.Fatal(err)
		}
		defer tr2.Close()
		got, err := tr2.Track(ctx, qs)
		if err != nil {
			t.Fatal(err)
		}
		if tr2.sess.refined.Path == "" {
			t.Fatal("refined features stayed in memory")
		}
		if filepath.Dir(tr2.sess.refined.Path) != dir {
			t.Errorf("refined features at %s, want in %s", tr2.sess.refined.Path, dir)
		}
		sameTracks(t, got, all)
	})
	t.Run("load from recorded path", func(t *testing.T) {
		// texturedVideo frames are in memory: fit.json has no video path.
		if _, err := LoadTracker(ctx, dir, nil, WithLogger(discardLogger())); err == nil {
			t.Fatal("LoadTracker without a video or a recorded path succeeded")
		}
	})
	t.Run("input scaling", func(t *testing.T) {
		// A video given at twice the model size: queries and tracks are in
		// its pixels, exactly twice the model's.
		saved := *tr.sess
		defer func() { *tr.sess = saved }()
		tr.sess.inW, tr.sess.inH = 2*W, 2*H
		q2 := make([]Query, len(qs))
		for i, q := range qs {
			q2[i] = Query{X: 2 * q.X, Y: 2 * q.Y, T: q.T}
		}
		got, err := tr.Track(ctx, q2)
		if err != nil {
			t.Fatal(err)
		}
		if got.Width != 2*W || got.Height != 2*H {
			t.Fatalf("tracks are %d×%d", got.Width, got.Height)
		}
		for i := range qs {
			for f := 0; f < T; f++ {
				if got.Points[i][f] != [2]float32{2 * all.Points[i][f][0], 2 * all.Points[i][f][1]} || got.Occluded[i][f] != all.Occluded[i][f] {
					t.Fatalf("query %d frame %d: %v at 2×, %v at 1×", i, f, got.Points[i][f], all.Points[i][f])
				}
			}
		}
	})
	t.Run("bad queries", func(t *testing.T) {
		for _, q := range []Query{{X: -1, Y: 5}, {X: 5, Y: H + 1}, {X: math.NaN(), Y: 3}, {X: 5, Y: 5, T: T}, {X: 5, Y: 5, T: -1}} {
			if _, err := tr.Track(ctx, []Query{qs[0], q}); !errors.Is(err, ErrBadQuery) {
				t.Errorf("query %+v: %v, want ErrBadQuery", q, err)
			}
		}
		got, err := tr.Track(ctx, nil)
		if err != nil || got.Len() != 0 {
			t.Errorf("no queries: %v, %v", got, err)
		}
	})
	t.Run("cancel", func(t *testing.T) {
		c2, cancel := context.WithCancel(ctx)
		cancel()
		if _, err := tr.Track(c2, qs); !errors.Is(err, context.Canceled) {
			t.Errorf("cancelled Track: %v", err)
		}
	})
}

func indexOf(qs []Query, q Query) int {
	for i, x := range qs {
		if x == q {
			return i
		}
	}
	return -1
}

func sameTracks(t *testing.T, a, b *Tracks) {
	t.Helper()
	for i := range a.Points {
		for f := range a.Points[i] {
			if a.Points[i][f] != b.Points[i][f] || a.Occluded[i][f] != b.Occluded[i][f] || a.Confidence[i][f] != b.Confidence[i][f] {
				t.Fatalf("query %d frame %d: %v/%v/%g vs %v/%v/%g", i, f, a.Points[i][f], a.Occluded[i][f], a.Confidence[i][f], b.Points[i][f], b.Occluded[i][f], b.Confidence[i][f])
			}
		}
	}
}

// TestTrackGPUMatchesCPU compares Track on the CUDA device (-tags cuda and
// a device, or the CPU stand-in of `make cuda-emu`) with the CPU kernels.
func TestTrackGPUMatchesCPU(t *testing.T) {
	if err := cuda.Available(); err != nil {
		t.Skip(err)
	}
	const T, W, H = 3, 84, 56
	v := texturedVideo(t, T, W, H, 2, 1)
	dir := t.TempDir()
	ctx := context.Background()
	tr, err := NewTracker(tinyConfig(4), WithWorkDir(dir), WithMasks(boxMasks(t, T, W, H)), WithLogger(discardLogger()))
	if err != nil {
		t.Fatal(err)
	}
	defer tr.Close()
	if err := tr.Fit(ctx, v); err != nil {
		t.Fatal(err)
	}
	qs := []Query{{X: 20, Y: 20}, {X: 40.5, Y: 30, T: 1}, {X: 60, Y: 12, T: 2}}
	gpu, err := tr.Track(ctx, qs)
	if err != nil {
		t.Fatal(err)
	}
	tr.trackOpt = &TrackOptions{CPU: true}
	cpu, err := tr.Track(ctx, qs)
	if err != nil {
		t.Fatal(err)
	}
	for i := range qs {
		for f := 0; f < T; f++ {
			g, c := gpu.Points[i][f], cpu.Points[i][f]
			if d := math.Hypot(float64(g[0]-c[0]), float64(g[1]-c[1])); d > 1e-2 || gpu.Occluded[i][f] != cpu.Occluded[i][f] {
				t.Errorf("query %d frame %d: GPU %v occluded=%v, CPU %v occluded=%v", i, f, g, gpu.Occluded[i][f], c, cpu.Occluded[i][f])
			}
		}
	}
}
