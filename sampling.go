package dinotracker

import (
	"errors"
	"fmt"
	"math/rand/v2"
	"slices"
	"sort"

	"dinotracker/traj"
)

// The flow-pair sampler of spec §3.1 (upstream data/dataset.py
// LongRangeSampler / DinoTrackerSampler). Each iteration, separately for
// the foreground and the background trajectories:
//
//  1. draw NumFrames (4) distinct random frames;
//  2. keep the trajectories valid in at least 2 of them; with fewer than 2
//     such trajectories, draw the frames again;
//  3. pick up to BatchSize·FGRatio (fg) or the rest (bg) of them uniformly
//     without replacement;
//  4. for each, draw 2 distinct frames uniformly among its valid frames of
//     the 4, in random order: the source t1 and the target t2.
//
// frames_set_t is the sorted union of the frames the points use.
//
// Efficiency. A trajectory is valid on one contiguous span [Start, End) of
// frames, so it is valid in ≥ 2 of the sorted frames f0 < f1 < f2 < f3 iff
// its span holds the first of them at or after Start and the next one,
// i.e. End > f_{i+1} with i the first index where f_i ≥ Start. The sampler
// therefore indexes the trajectories once by start frame, each bucket
// sorted by End: a draw counts the qualifying trajectories of each start
// frame by one binary search (O(T log N) in all), picks k of the virtual
// concatenation of those suffixes by a sparse Fisher–Yates shuffle and
// maps each pick back with a binary search over the T bucket offsets
// (O(k log T)). Nothing scans the (possibly millions of) trajectories
// after construction, whose index costs 8 bytes per trajectory.
//
// Upstream re-draws the frames forever when fewer than 2 trajectories
// qualify; here MaxDraws bounds that and the error says why.

// ErrNoTrainingPairs reports that the trajectories cannot supply flow
// training pairs: too few of them span two of the sampled frames.
var ErrNoTrainingPairs = errors.New("too few trajectories span two of the sampled frames")

// FlowPoint is one flow-supervised training point: the trajectory's
// position (X, Y) at frame Frames[Src] must be tracked to (TX, TY) at
// Frames[Tgt].
type FlowPoint struct {
	X, Y     float32 // source position, pixels
	Src, Tgt int     // source and target frame, indices into FlowBatch.Frames
	TX, TY   float32 // target position, pixels
	// LX, LY are the label: (TX, TY) image-normalised in float32 as
	// upstream's RangeNormalizer does, (v/(W−1))·2 − 1.
	LX, LY float32
}

// FlowBatch is one iteration's flow sample.
type FlowBatch struct {
	Frames []int       // frames_set_t: the absolute frames the points use, ascending
	Points []FlowPoint // the foreground points first, then the background ones
	NumFG  int         // number of foreground points
}

// SamplerConfig sets the flow sampler (config/train.yaml).
type SamplerConfig struct {
	BatchSize int     // train_batch_size: points per iteration, fg and bg together (512)
	FGRatio   float64 // fg_traj_ratio: the fg share int(BatchSize·FGRatio) (0.5)
	NumFrames int     // batch_n_frames: random frames per set and iteration (4)
	// MaxDraws bounds the frame draws per set and iteration that find
	// fewer than 2 qualifying trajectories before Sample gives up.
	MaxDraws int
}

// DefaultSamplerConfig returns the reference settings with 1000 draws.
func DefaultSamplerConfig() SamplerConfig {
	return SamplerConfig{BatchSize: 512, FGRatio: 0.5, NumFrames: 4, MaxDraws: 1000}
}

// FlowSampler draws FlowBatches from foreground and background
// trajectories. It is deterministic given its seed; its generator state
// round-trips through MarshalBinary / UnmarshalBinary for checkpoints. Not
// safe for concurrent use.
type FlowSampler struct {
	cfg    SamplerConfig
	w, h   int
	t      int
	fg, bg *trajIndex
	nFG    int
	pcg    *rand.PCG
	rng    *rand.Rand
}

// trajIndex indexes the trajectories of one set that span ≥ 2 frames by
// start frame; each bucket is sorted by end frame (exclusive).
type trajIndex struct {
	name string
	set  *traj.Set
	ids  [][]int32 // [start frame] trajectory ids, by ascending end
	ends [][]int32 // [start frame] their end frames, ascending
	long int       // trajectories with ≥ 2 frames
}

func newTrajIndex(name string, s *traj.Set) *trajIndex {
	x := &trajIndex{name: name, set: s, ids: make([][]int32, s.T), ends: make([][]int32, s.T)}
	count := make([]int, s.T)
	for i, l := range s.Len {
		if l >= 2 {
			count[s.Start[i]]++
		}
	}
	keys := make([][]uint64, s.T)
	for t, n := range count {
		keys[t] = make([]uint64, 0, n)
		x.long += n
	}
	for i, l := range s.Len {
		if l >= 2 {
			st := s.Start[i]
			keys[st] = append(keys[st], uint64(st+l)<<32|uint64(i))
		}
	}
	for t, k := range keys {
		slices.Sort(k)
		x.ids[t], x.ends[t] = make([]int32, len(k)), make([]int32, len(k))
		for j, v := range k {
			x.ends[t][j], x.ids[t][j] = int32(v>>32), int32(uint32(v))
		}
	}
	return x
}

// draw picks up to k trajectories valid in ≥ 2 of the sorted frames,
// uniformly without replacement and in random order. ok is false when
// fewer than 2 qualify.
func (x *trajIndex) draw(rng *rand.Rand, frames []int, k int) (picks []int32, ok bool) {
	type bucket struct{ start, lo, off int }
	var bs []bucket
	total := 0
	for s := range x.ids {
		if len(x.ids[s]) == 0 {
			continue
		}
		i := sort.SearchInts(frames, s) // first frame ≥ s
		if i+1 >= len(frames) {
			continue
		}
		f := int32(frames[i+1])
		ends := x.ends[s]
		lo := sort.Search(len(ends), func(j int) bool { return ends[j] > f })
		if lo < len(ends) {
			bs = append(bs, bucket{start: s, lo: lo, off: total})
			total += len(ends) - lo
		}
	}
	if total < 2 {
		return nil, false
	}
	k = min(k, total)
	swap := make(map[int]int, 2*k)
	at := func(v int) int {
		if u, ok := swap[v]; ok {
			return u
		}
		return v
	}
	picks = make([]int32, k)
	for i := 0; i < k; i++ {
		j := i + rng.IntN(total-i)
		vi, vj := at(i), at(j)
		swap[j] = vi
		swap[i] = vj
		b := bs[sort.Search(len(bs), func(m int) bool { return bs[m].off > vj })-1]
		picks[i] = x.ids[b.start][b.lo+vj-b.off]
	}
	return picks, true
}

// NewFlowSampler indexes the foreground and background trajectories (both
// of a T-frame video at the W×H model resolution, in pixels) and seeds the
// sampler's PCG generator with seed. It fails when the video has fewer
// than 2 frames (ErrTooFewFrames) or when a set that must supply points
// has fewer than 2 trajectories spanning 2 frames (ErrNoTrainingPairs),
// instead of letting Sample re-draw in vain.
func NewFlowSampler(fg, bg *traj.Set, w, h int, cfg SamplerConfig, seed uint64) (*FlowSampler, error) {
	switch {
	case fg == nil || bg == nil:
		return nil, errors.New("dinotracker: the flow sampler needs foreground and background trajectory sets (empty ones are fine if unused)")
	case fg.T != bg.T:
		return nil, fmt.Errorf("dinotracker: foreground trajectories cover %d frames, background ones %d", fg.T, bg.T)
	case fg.T < 2:
		return nil, fmt.Errorf("dinotracker: the flow sampler needs 2 frames, the video has %d: %w", fg.T, ErrTooFewFrames)
	case w < 2 || h < 2:
		return nil, fmt.Errorf("dinotracker: invalid model resolution %d×%d", w, h)
	case cfg.BatchSize < 1 || !(cfg.FGRatio >= 0 && cfg.FGRatio <= 1) || cfg.NumFrames < 2 || cfg.MaxDraws < 1:
		return nil, fmt.Errorf("dinotracker: invalid sampler configuration %+v (need BatchSize ≥ 1, 0 ≤ FGRatio ≤ 1, NumFrames ≥ 2, MaxDraws ≥ 1)", cfg)
	}
	for _, s := range []*traj.Set{fg, bg} {
		if err := s.Validate(); err != nil {
			return nil, fmt.Errorf("dinotracker: flow sampler: %w", err)
		}
	}
	pcg := rand.NewPCG(seed, 0x9e3779b97f4a7c15)
	sp := &FlowSampler{cfg: cfg, w: w, h: h, t: fg.T, nFG: int(float64(cfg.BatchSize) * cfg.FGRatio), pcg: pcg, rng: rand.New(pcg)}
	sp.fg, sp.bg = newTrajIndex("foreground", fg), newTrajIndex("background", bg)
	for _, x := range []*trajIndex{sp.fg, sp.bg} {
		if sp.share(x) > 0 && x.long < 2 {
			return nil, fmt.Errorf("dinotracker: %w: %d of the %d %s trajectories span 2 or more frames, need 2: is the video static or the flow broken (every flow check failing)?",
				ErrNoTrainingPairs, x.long, x.set.N(), x.name)
		}
	}
	return sp, nil
}

// share returns the number of points set x supplies per batch.
func (s *FlowSampler) share(x *trajIndex) int {
	if x == s.fg {
		return s.nFG
	}
	return s.cfg.BatchSize - s.nFG
}

// Rand returns the sampler's generator. A trainer may draw the losses'
// random choices from it too, so that one checkpointed state
// (MarshalBinary) covers every random decision of an iteration.
func (s *FlowSampler) Rand() *rand.Rand { return s.rng }

// MarshalBinary returns the generator state (rand.PCG's encoding).
func (s *FlowSampler) MarshalBinary() ([]byte, error) { return s.pcg.MarshalBinary() }

// UnmarshalBinary restores a generator state from MarshalBinary; the next
// Sample then repeats the one that followed the checkpoint.
func (s *FlowSampler) UnmarshalBinary(b []byte) error {
	if err := s.pcg.UnmarshalBinary(b); err != nil {
		return fmt.Errorf("dinotracker: flow sampler state: %w", err)
	}
	return nil
}

// sampled is a point before frames_set_t is known.
type sampled struct {
	x, y, tx, ty float32
	t1, t2       int
}

// drawSet draws one set's points (steps 1–4 above).
func (s *FlowSampler) drawSet(x *trajIndex, n int) ([]sampled, error) {
	if n <= 0 {
		return nil, nil
	}
	nf := min(s.cfg.NumFrames, s.t)
	frames := make([]int, nf)
	for d := 0; d < s.cfg.MaxDraws; d++ {
		// First nf of a random permutation of 0..T−1, by a partial shuffle.
		perm := make(map[int]int, 2*nf)
		for i := 0; i < nf; i++ {
			j := i + s.rng.IntN(s.t-i)
			vi, vj := i, j
			if v, ok := perm[i]; ok {
				vi = v
			}
			if v, ok := perm[j]; ok {
				vj = v
			}
			perm[j], perm[i] = vi, vj
			frames[i] = vj
		}
		slices.Sort(frames)
		picks, ok := x.draw(s.rng, frames, n)
		if !ok {
			continue
		}
		out := make([]sampled, len(picks))
		var valid [8]int
		for k, id := range picks {
			st, end := int(x.set.Start[id]), int(x.set.Start[id]+x.set.Len[id])
			v := valid[:0]
			for _, f := range frames {
				if f >= st && f < end {
					v = append(v, f)
				}
			}
			a := s.rng.IntN(len(v))
			b := s.rng.IntN(len(v) - 1)
			if b >= a {
				b++
			}
			t1, t2 := v[a], v[b]
			px, py, _ := x.set.At(int(id), t1)
			qx, qy, _ := x.set.At(int(id), t2)
			out[k] = sampled{x: px, y: py, tx: qx, ty: qy, t1: t1, t2: t2}
		}
		return out, nil
	}
	return nil, fmt.Errorf("dinotracker: %w: fewer than 2 %s trajectories span any 2 of %d random frames in %d draws (%d of %d trajectories span 2 or more of the %d frames): is the video static or the flow broken?",
		ErrNoTrainingPairs, x.name, nf, s.cfg.MaxDraws, x.long, x.set.N(), s.t)
}

// Sample draws one FlowBatch: up to int(BatchSize·FGRatio) foreground
// points, then up to the rest from the background trajectories, each set
// with its own NumFrames random frames.
func (s *FlowSampler) Sample() (*FlowBatch, error) {
	fg, err := s.drawSet(s.fg, s.nFG)
	if err != nil {
		return nil, err
	}
	bg, err := s.drawSet(s.bg, s.cfg.BatchSize-s.nFG)
	if err != nil {
		return nil, err
	}
	all := append(fg, bg...)
	used := make([]bool, s.t)
	for _, p := range all {
		used[p.t1], used[p.t2] = true, true
	}
	b := &FlowBatch{Points: make([]FlowPoint, len(all)), NumFG: len(fg)}
	index := make([]int, s.t)
	for t, u := range used {
		if u {
			index[t] = len(b.Frames)
			b.Frames = append(b.Frames, t)
		}
	}
	for i, p := range all {
		b.Points[i] = FlowPoint{X: p.x, Y: p.y, Src: index[p.t1], Tgt: index[p.t2], TX: p.tx, TY: p.ty,
			LX: rangeNorm(p.tx, s.w), LY: rangeNorm(p.ty, s.h)}
	}
	return b, nil
}
