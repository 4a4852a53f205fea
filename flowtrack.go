package dinotracker

// The chained optical-flow tracking baseline (the "RAFT (chained flow)" row
// of the paper's Table 1, with this package's flow estimator).

import (
	"context"
	"fmt"
	"math"
	"time"

	"dinotracker/flow"
	"dinotracker/imgproc"
	"dinotracker/internal/parallel"
	"dinotracker/traj"
)

// FlowTrackOptions configures TrackWithFlow. The zero value is usable: the
// flow package's default preset at the video's own resolution with the
// reference's 1.5 px consistency threshold.
type FlowTrackOptions struct {
	// Flow is the estimator's configuration; the zero Options selects
	// flow.DefaultOptions().
	Flow flow.Options
	// Width and Height are the resolution the flow is estimated and the
	// points are chained at (frames resized with PIL's LANCZOS); 0, 0 means
	// the video's own size. Lower values trade accuracy for time (the
	// estimator's cost is about proportional to the pixel count).
	Width, Height int
	// Threshold is the forward–backward consistency limit in pixels of the
	// flow resolution; 0 means traj.DefaultOptions().Threshold (1.5, the
	// reference's).
	Threshold float32
	// Progress, if set, receives "flow" reports (frame pairs done out of
	// T−1) and one "track" report at the end.
	Progress func(Progress)
}

// TrackWithFlow tracks queries through v by chaining dense optical flow,
// the classical baseline DINO-Tracker compares against (spec §6.4, "RAFT
// (chained flow)"):
//
//  1. The forward flows F[t] (t→t+1) and backward flows B[t] (t+1→t) of
//     every pair of consecutive frames are estimated at the flow
//     resolution (opt.Width×opt.Height, default the video's).
//  2. A query (X, Y, T) is mapped to the flow resolution — pixel centres
//     are matched, x_f = (X + ½)·w_f/W − ½, as LANCZOS resizing aligns
//     them — clamped into [0, w_f−1]×[0, h_f−1], and followed forward
//     from frame T to the last frame and backward from T to frame 0: the
//     step t→t+1 moves p to p' = p + F[t](p), the step t→t−1 to
//     p' = p + B[t−1](p), the flow sampled bilinearly (align_corners=True,
//     zero padding, as traj.Chain samples it).
//  3. Every step is checked as traj.Chain checks it (the per-point form of
//     traj.ConsistencyMask's forward–backward test): the step is accepted
//     when p' lies in [0, w_f−1]×[0, h_f−1] and the round trip comes back,
//     ‖p − (p' + G(p'))‖ < Threshold, G being the flow of the opposite
//     direction (B[t] going forward, F[t−1] going backward). The first
//     failing step makes the point occluded in that frame and in every
//     later frame of that direction (tracking stops there); occluded
//     frames keep the last accepted position, so the track stays put
//     where the point was last seen.
//
// Points are returned in input pixels (x_in = (x_f + ½)·W/w_f − ½).
// Confidence is 1 where visible and 0 where occluded; the query frame holds
// exactly the query position, visible.
//
// Queries must lie in the frame — X in [−½, W], Y in [−½, H], which covers
// both the pixel-centre convention of this package and TAP-Vid's raster
// convention whose bottom-right corner is (W, H) — at a frame T in
// [0, v.Len()), with finite coordinates; otherwise TrackWithFlow returns an
// error naming the query. The flows take 2·(T−1) fields of w_f×h_f in
// memory. It returns ctx.Err() when ctx is cancelled.
func TrackWithFlow(ctx context.Context, v *Video, queries []Query, opt FlowTrackOptions) (*Tracks, error) {
	if v == nil || v.Len() == 0 {
		return nil, fmt.Errorf("dinotracker: flow track: %w", ErrNoFrames)
	}
	T := v.Len()
	if T < MinFrames {
		return nil, fmt.Errorf("dinotracker: flow track: %w: the video has %d frame", ErrTooFewFrames, T)
	}
	W, H := v.Width, v.Height
	for i, q := range queries {
		if math.IsNaN(q.X) || math.IsNaN(q.Y) || math.IsInf(q.X, 0) || math.IsInf(q.Y, 0) {
			return nil, fmt.Errorf("dinotracker: flow track: query %d is (%v, %v): coordinates must be finite", i, q.X, q.Y)
		}
		if q.T < 0 || q.T >= T {
			return nil, fmt.Errorf("dinotracker: flow track: query %d is at frame %d, outside the video's [0, %d)", i, q.T, T)
		}
		if q.X < -0.5 || q.X > float64(W) || q.Y < -0.5 || q.Y > float64(H) {
			return nil, fmt.Errorf("dinotracker: flow track: query %d at (%g, %g) lies outside the %dx%d frame", i, q.X, q.Y, W, H)
		}
	}
	fw, fh := opt.Width, opt.Height
	if fw == 0 && fh == 0 {
		fw, fh = W, H
	}
	if fw <= 0 || fh <= 0 {
		return nil, fmt.Errorf("dinotracker: flow track: flow resolution %dx%d: give both width and height, positive (or neither)", opt.Width, opt.Height)
	}
	thr := opt.Threshold
	if thr == 0 {
		thr = traj.DefaultOptions().Threshold
	}
	if !(thr > 0) || math.IsInf(float64(thr), 0) {
		return nil, fmt.Errorf("dinotracker: flow track: consistency threshold %v must be positive and finite", thr)
	}
	fopt := opt.Flow
	if fopt == (flow.Options{}) {
		fopt = flow.DefaultOptions()
	}

	start := time.Now()
	frames := v.Frames
	if fw != W || fh != H {
		frames = make([]*imgproc.RGB8, T)
		if err := forEachParallel(ctx, T, func(t int) error {
			r, err := imgproc.ResizeLanczos(v.Frames[t], fw, fh)
			frames[t] = r
			return err
		}); err != nil {
			return nil, fmt.Errorf("dinotracker: flow track: resize: %w", err)
		}
	}
	fwd, bwd := make([]*flow.Field, T-1), make([]*flow.Field, T-1)
	for t := 0; t+1 < T; t++ {
		var err error
		if fwd[t], bwd[t], err = flow.ForwardBackward(ctx, frames[t], frames[t+1], fopt); err != nil {
			if ctx.Err() != nil {
				return nil, ctx.Err()
			}
			return nil, fmt.Errorf("dinotracker: flow track: flow %d↔%d: %w", t, t+1, err)
		}
		if opt.Progress != nil {
			opt.Progress(Progress{Stage: "flow", Done: t + 1, Total: T - 1, Elapsed: time.Since(start)})
		}
	}

	tr := NewTracks(W, H, T, queries)
	ch := flowChainer{fwd: fwd, bwd: bwd, w: float32(fw - 1), h: float32(fh - 1), thr: thr,
		sx: float64(fw) / float64(W), sy: float64(fh) / float64(H)}
	parallel.For(len(queries), 64, func(lo, hi int) {
		for i := lo; i < hi; i++ {
			ch.track(queries[i], tr.Points[i], tr.Occluded[i], tr.Confidence[i])
		}
	})
	if opt.Progress != nil {
		opt.Progress(Progress{Stage: "track", Done: len(queries), Total: len(queries), Elapsed: time.Since(start)})
	}
	return tr, nil
}

// flowChainer follows points through consecutive flows at the flow
// resolution.
type flowChainer struct {
	fwd, bwd []*flow.Field
	w, h     float32 // w_f − 1, h_f − 1
	thr      float32
	sx, sy   float64 // flow / input scale
}

func (c *flowChainer) inside(x, y float32) bool { return x >= 0 && x <= c.w && y >= 0 && y <= c.h }

// step moves (x, y) through f and checks the round trip through g.
func (c *flowChainer) step(f, g *flow.Field, x, y float32) (float32, float32, bool) {
	u, v := f.Sample(x, y)
	x1, y1 := x+u, y+v
	bu, bv := g.Sample(x1, y1)
	ok := c.inside(x1, y1) && norm2f(x-(x1+bu), y-(y1+bv)) < c.thr
	return x1, y1, ok
}

func norm2f(dx, dy float32) float32 {
	return float32(math.Sqrt(float64(dx)*float64(dx) + float64(dy)*float64(dy)))
}

// track fills one query's row of points, occlusion flags and confidences.
func (c *flowChainer) track(q Query, pts [][2]float32, occ []bool, conf []float32) {
	T := len(pts)
	x0 := float32(math.Min(math.Max((q.X+0.5)*c.sx-0.5, 0), float64(c.w)))
	y0 := float32(math.Min(math.Max((q.Y+0.5)*c.sy-0.5, 0), float64(c.h)))
	qp := [2]float32{float32(q.X), float32(q.Y)}
	pts[q.T], occ[q.T], conf[q.T] = qp, false, 1
	toInput := func(x, y float32) [2]float32 {
		return [2]float32{float32((float64(x)+0.5)/c.sx - 0.5), float32((float64(y)+0.5)/c.sy - 0.5)}
	}
	follow := func(dir int) {
		x, y, last, lost := x0, y0, qp, false
		for t := q.T + dir; t >= 0 && t < T; t += dir {
			if !lost {
				var ok bool
				var x1, y1 float32
				if dir > 0 {
					x1, y1, ok = c.step(c.fwd[t-1], c.bwd[t-1], x, y)
				} else {
					x1, y1, ok = c.step(c.bwd[t], c.fwd[t], x, y)
				}
				if ok {
					x, y = x1, y1
					last = toInput(x, y)
				} else {
					lost = true
				}
			}
			pts[t], occ[t] = last, lost
			if lost {
				conf[t] = 0
			} else {
				conf[t] = 1
			}
		}
	}
	follow(1)
	follow(-1)
}
