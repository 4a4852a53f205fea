package dinotracker

import (
	"context"
	"fmt"
	"math"
)

// FeatureSource supplies refined feature maps, one per frame: Frame(t, dst)
// returns frame t as C×(GH·GW) values, channel-major over the token grid of
// NewHeadGeometry(W, H), and may reuse dst.
type FeatureSource interface {
	Frame(t int, dst []float32) ([]float32, error)
}

// MemoryFeatures is a FeatureSource over maps held in memory.
type MemoryFeatures [][]float32

// Frame returns frame t.
func (m MemoryFeatures) Frame(t int, _ []float32) ([]float32, error) {
	if t < 0 || t >= len(m) {
		return nil, fmt.Errorf("dinotracker: feature frame %d outside 0…%d", t, len(m)-1)
	}
	return m[t], nil
}

// TrackFeatures runs Track's engine (cost volumes, refiner head, soft-argmax,
// occlusion, confidence; spec §5) on refined features the caller already
// has — features saved from an earlier run, or a model of one's own — with
// the given head, on the CPU. W×H is the model resolution the features were
// computed at (multiples of 7 plus 7, as NewHeadGeometry takes), C their
// channel count and T the frame count; queries and the returned tracks are
// in model-resolution pixels. opt works as for Track (its CPU field is
// ignored: this path has no GPU session).
func TrackFeatures(ctx context.Context, W, H, C, T int, head *Head, feats FeatureSource, queries []Query, opt TrackOptions) (*Tracks, error) {
	if head == nil || feats == nil {
		return nil, fmt.Errorf("dinotracker: track features: need a head and a feature source")
	}
	if W < 14 || H < 14 || C < 1 || T < 1 {
		return nil, fmt.Errorf("dinotracker: track features: %d×%d model resolution, %d channels, %d frames: need at least 14×14, 1 channel and 1 frame", W, H, C, T)
	}
	for i, q := range queries {
		if math.IsNaN(q.X) || math.IsNaN(q.Y) || math.IsInf(q.X, 0) || math.IsInf(q.Y, 0) {
			return nil, fmt.Errorf("dinotracker: track features: query %d (%g, %g, frame %d): %w: NaN or infinite coordinate", i, q.X, q.Y, q.T, ErrBadQuery)
		}
		if q.X < 0 || q.Y < 0 || q.X > float64(W) || q.Y > float64(H) {
			return nil, fmt.Errorf("dinotracker: track features: query %d (%g, %g): %w: outside the %d×%d frame", i, q.X, q.Y, ErrBadQuery, W, H)
		}
		if q.T < 0 || q.T >= T {
			return nil, fmt.Errorf("dinotracker: track features: query %d: %w: frame %d outside 0…%d", i, ErrBadQuery, q.T, T-1)
		}
	}
	if opt.Occlusion == (OcclusionSettings{}) {
		opt.Occlusion = DefaultOcclusion()
	}
	out := NewTracks(W, H, T, queries)
	if len(queries) == 0 {
		return out, nil
	}
	core, err := newTrackCore(ctx, NewHeadGeometry(W, H), C, T, head, feats)
	if err != nil {
		return nil, fmt.Errorf("dinotracker: track features: %w", err)
	}
	if err := trackBatches(ctx, core, queries, 1, 1, opt, nil, out); err != nil {
		return nil, fmt.Errorf("dinotracker: track features: %w", err)
	}
	return out, nil
}

// trackBatches runs the engine over the queries in batches of opt.Batch
// (default: about 256 MB of query features) and fills out. sx, sy scale
// input pixels to model pixels; prog may be nil.
func trackBatches(ctx context.Context, core *trackCore, queries []Query, sx, sy float64, opt TrackOptions, prog func(stage string, done, total int), out *Tracks) error {
	T := core.t
	batch := opt.Batch
	if batch <= 0 {
		batch = max(1, int((256<<20)/(int64(T)*int64(core.c)*4)))
	}
	for b0 := 0; b0 < len(queries); b0 += batch {
		b1 := min(b0+batch, len(queries))
		cq := make([]coreQuery, b1-b0)
		for i, q := range queries[b0:b1] {
			cq[i] = coreQuery{X: q.X * sx, Y: q.Y * sy, T: q.T}
		}
		res, err := core.run(ctx, cq, opt.Occlusion, false, prog)
		if err != nil {
			return err
		}
		for i := range cq {
			k := b0 + i
			for f := 0; f < T; f++ {
				p := res.traj[i][f]
				out.Points[k][f] = [2]float32{float32(float64(p[0]) / sx), float32(float64(p[1]) / sy)}
				out.Occluded[k][f] = res.occluded[i][f]
				out.Confidence[k][f] = res.conf[i][f]
			}
			q := queries[k]
			out.Points[k][q.T] = [2]float32{float32(q.X), float32(q.Y)}
			out.Occluded[k][q.T] = false
			out.Confidence[k][q.T] = 1
		}
	}
	return nil
}
