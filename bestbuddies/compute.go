package bestbuddies

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io/fs"
	"math/rand/v2"
	"slices"
	"time"

	"dinotracker/traj"
)

// FeatureSource gives one frame's raw DINO features as a [C, gh, gw]
// channel-major map (dinotracker.Features satisfies it). dst may be reused
// for the result when large enough; the returned slice is only read.
type FeatureSource interface {
	Frame(t int, dst []float32) ([]float32, error)
}

// Mode selects how much of the T(T−1) frame pairs Compute searches, and how.
type Mode int

const (
	// Bounded (the default) searches a per-frame budget of partner frames
	// (Options.Partners) and, with Options.ProjDim > 0, finds candidate
	// buddies in a reduced-dimension space before rescoring them exactly.
	Bounded Mode = iota
	// Exhaustive is the reference: every frame pair, full-dimension cosines.
	Exhaustive
)

// String names the mode.
func (m Mode) String() string {
	switch m {
	case Bounded:
		return "bounded"
	case Exhaustive:
		return "exhaustive"
	}
	return fmt.Sprintf("Mode(%d)", int(m))
}

// Options configures Compute. Start from DefaultOptions; zero NMS fields,
// Stride, Offset, BlockRows, Candidates and PCASamples take the defaults.
type Options struct {
	Mode Mode

	// Partners is the per-frame partner budget of the Bounded mode: frame s
	// is paired with s±1, s±2, s±4, … (at most Partners/4 strides each way)
	// and then with random frames until it has Partners partners of its own
	// choosing, so at most T·Partners unordered pairs are searched. ≤ 0, or
	// ≥ T−1, searches every pair.
	Partners int
	// ProjDim is the reduced dimension of the Bounded search (PCA of the
	// unit-length tokens). 0, or ≥ C, searches with the full features.
	ProjDim int
	// Candidates is how many best candidates per token the reduced search
	// keeps for exact rescoring (default 8).
	Candidates int
	// PCASamples is the number of tokens, spread over all frames, that the
	// PCA basis is fitted on (default 16384).
	PCASamples int
	// Seed drives the random partners and the PCA's random start.
	Seed uint64

	// Stride and Offset give the token-centre rule: token (i, j) sits at
	// pixel (Offset+Stride·j, Offset+Stride·i). Defaults 7 and 7.
	Stride int
	Offset float32
	// NMS holds the ambiguity-ratio parameters (default top-400, ±30 px, 0.2).
	NMS NMS
	// BlockRows is how many source tokens share one GEMM (default 512).
	BlockRows int

	// Checkpoint, when set, makes Compute resumable: pairs already in that
	// file (written by an earlier Compute with the same inputs and options)
	// are skipped, and the result so far is saved there (atomically) at
	// most every CheckpointEvery (default 2 minutes) and at the end.
	Checkpoint      string
	CheckpointEvery time.Duration
}

// DefaultOptions returns the bounded default: 16 partners per frame,
// 128-dimensional candidate search with 8 candidates per token, and the
// reference's grid and NMS parameters.
func DefaultOptions() Options {
	return Options{
		Mode:            Bounded,
		Partners:        16,
		ProjDim:         128,
		Candidates:      8,
		PCASamples:      16384,
		Seed:            1,
		Stride:          7,
		Offset:          7,
		NMS:             DefaultNMS(),
		BlockRows:       DefaultBlockRows,
		CheckpointEvery: 2 * time.Minute,
	}
}

// ExhaustiveOptions returns DefaultOptions in Exhaustive mode.
func ExhaustiveOptions() Options {
	o := DefaultOptions()
	o.Mode = Exhaustive
	return o
}

func (o Options) withDefaults() Options {
	d := DefaultOptions()
	if o.Stride <= 0 {
		o.Stride = d.Stride
	}
	if o.Offset == 0 {
		o.Offset = d.Offset
	}
	o.NMS = o.NMS.withDefaults()
	if o.BlockRows <= 0 {
		o.BlockRows = d.BlockRows
	}
	if o.Candidates <= 0 {
		o.Candidates = d.Candidates
	}
	if o.PCASamples <= 0 {
		o.PCASamples = d.PCASamples
	}
	if o.CheckpointEvery <= 0 {
		o.CheckpointEvery = d.CheckpointEvery
	}
	return o
}

// projDim is the reduced dimension actually used (0: full features).
func (o Options) projDim(C int) int {
	if o.Mode == Exhaustive || o.ProjDim <= 0 || o.ProjDim >= C {
		return 0
	}
	return o.ProjDim
}

// FramePairs lists the unordered frame pairs {s, t}, s < t, that Compute
// searches for a T-frame video, sorted. Exhaustive mode (or a Partners
// budget of ≤ 0 or ≥ T−1) gives all T(T−1)/2 pairs.
func FramePairs(T int, opt Options) [][2]int {
	var out [][2]int
	if opt.Mode == Exhaustive || opt.Partners <= 0 || opt.Partners >= T-1 {
		for s := 0; s < T; s++ {
			for t := s + 1; t < T; t++ {
				out = append(out, [2]int{s, t})
			}
		}
		return out
	}
	has := make(map[[2]int]bool)
	add := func(s, t int) bool {
		key := [2]int{min(s, t), max(s, t)}
		if has[key] {
			return false
		}
		has[key] = true
		out = append(out, key)
		return true
	}
	strides := max(1, opt.Partners/4)
	for s := 0; s < T; s++ {
		chosen := map[int]bool{s: true}
		n := 0
		for k, d := 0, 1; k < strides && d < T; k, d = k+1, 2*d {
			for _, t := range [2]int{s + d, s - d} {
				if t >= 0 && t < T && !chosen[t] {
					chosen[t] = true
					add(s, t)
					n++
				}
			}
		}
		rng := rand.New(rand.NewPCG(opt.Seed, uint64(s)))
		for _, t := range rng.Perm(T) {
			if n >= opt.Partners {
				break
			}
			if !chosen[t] {
				chosen[t] = true
				add(s, t)
				n++
			}
		}
	}
	slices.SortFunc(out, func(a, b [2]int) int {
		if a[0] != b[0] {
			return a[0] - b[0]
		}
		return a[1] - b[1]
	})
	return out
}

// ErrCheckpointMismatch is wrapped by Compute's error when Options.Checkpoint
// names a file made from other features, trajectories or options.
var ErrCheckpointMismatch = errors.New("bestbuddies: checkpoint does not match")

// Result holds the best buddies of a video: for each searched ordered frame
// pair (s, t), the flow-filtered pairs with their ambiguity ratios (the
// reference's dino_best_buddies_filtered.pt). Frame pairs that were not
// searched (Bounded mode) are absent from Pairs; searched pairs with no best
// buddies map to an empty *Pairs.
type Result struct {
	T        int
	C        int
	Grid     Grid
	Filtered bool              // trajectories were given, so the flow filter ran
	Pairs    map[[2]int]*Pairs // key {s, t}: source frame s, target frame t
	Config   string            // fingerprint of inputs and options, for resuming
}

// Get returns the pairs of the ordered frame pair (s, t), or nil when that
// pair was not searched.
func (r *Result) Get(s, t int) *Pairs { return r.Pairs[[2]int{s, t}] }

// Keys lists the ordered frame pairs present, sorted.
func (r *Result) Keys() [][2]int {
	keys := make([][2]int, 0, len(r.Pairs))
	for k := range r.Pairs {
		keys = append(keys, k)
	}
	slices.SortFunc(keys, func(a, b [2]int) int {
		if a[0] != b[0] {
			return a[0] - b[0]
		}
		return a[1] - b[1]
	})
	return keys
}

// frameCache loads frames through a FeatureSource and keeps the few most
// recently used ones.
type frameCache struct {
	src   FeatureSource
	C, N  int
	basis *Basis
	buf   []float32
	keep  int
	ts    []int    // cached frame indices, least recently used first
	fs    []*Frame // their tokens
}

func (c *frameCache) get(t int) (*Frame, error) {
	for i, x := range c.ts {
		if x == t {
			f := c.fs[i]
			// Move to the back: the front is evicted first.
			c.ts = append(append(c.ts[:i:i], c.ts[i+1:]...), t)
			c.fs = append(append(c.fs[:i:i], c.fs[i+1:]...), f)
			return f, nil
		}
	}
	if c.buf == nil {
		c.buf = make([]float32, c.C*c.N)
	}
	d, err := c.src.Frame(t, c.buf)
	if err != nil {
		return nil, fmt.Errorf("bestbuddies: features of frame %d: %w", t, err)
	}
	if len(d) < c.C*c.N {
		return nil, fmt.Errorf("bestbuddies: features of frame %d hold %d values, want C·gh·gw = %d", t, len(d), c.C*c.N)
	}
	var f *Frame
	if len(c.ts) >= c.keep {
		f = c.fs[0]
		c.ts, c.fs = c.ts[1:], c.fs[1:]
	} else {
		f = &Frame{}
	}
	f.set(d, c.C, c.N)
	if c.basis != nil {
		c.basis.Project(f)
	}
	c.ts, c.fs = append(c.ts, t), append(c.fs, f)
	return f, nil
}

// Compute runs the whole best-buddies preprocessing (reference step 6 a, c,
// d) on a T-frame video: mutual nearest neighbours of the raw DINO tokens for
// every searched frame pair, the optical-flow filter against trajs (the
// trajectories without direct-flow filtering; nil skips the filter), and the
// symmetrised NMS ambiguity ratio. feats gives [C, gh, gw] maps.
//
// progress, when non-nil, is called on the calling goroutine after each
// unordered frame pair with the pairs done and the total. ctx is checked
// between frame pairs; on cancellation Compute saves the checkpoint (when
// Options.Checkpoint is set) and returns an error wrapping ctx.Err().
//
// # Cost
//
// With N = gh·gw tokens, C channels and P unordered frame pairs
// (T(T−1)/2 exhaustive, ≤ T·Partners bounded):
//
//   - search: P GEMMs of N×N×C (2·N²·C FLOP: 135 GFLOP at N = 8107,
//     C = 1024), or in the reduced search P GEMMs of N×N×ProjDim plus
//     2·N·Candidates exact dot products of length C, plus a PCA fit on
//     PCASamples tokens once per video;
//   - NMS: per kept pair and direction one row of N cosines (N·C) and a
//     top-K selection; in the reduced search, when N > 4·(TopK+100), a row
//     of N·ProjDim plus TopK+100 exact dot products of length C instead;
//   - memory: three frames of N·C floats, one BlockRows×N block, T·N
//     closest-trajectory indices, and the result.
//
// BenchmarkMutualNN and BenchmarkAmbiguityRatio give the per-pair times.
func Compute(ctx context.Context, feats FeatureSource, T, C, gh, gw int, trajs *traj.Set, opt Options, progress func(done, total int)) (*Result, error) {
	opt = opt.withDefaults()
	grid := Grid{H: gh, W: gw, Stride: opt.Stride, Offset: opt.Offset}
	if err := grid.validate(); err != nil {
		return nil, err
	}
	if T < 0 || C <= 0 {
		return nil, fmt.Errorf("bestbuddies: bad feature shape T=%d C=%d", T, C)
	}
	if opt.Mode != Bounded && opt.Mode != Exhaustive {
		return nil, fmt.Errorf("bestbuddies: unknown mode %d", int(opt.Mode))
	}
	if opt.ProjDim < 0 || opt.Partners < 0 {
		return nil, fmt.Errorf("bestbuddies: negative ProjDim or Partners")
	}
	if trajs != nil && trajs.T != T {
		return nil, fmt.Errorf("bestbuddies: trajectories span %d frames, features %d", trajs.T, T)
	}
	N := grid.N()
	D := opt.projDim(C)
	res := &Result{T: T, C: C, Grid: grid, Filtered: trajs != nil && trajs.N() > 0, Pairs: map[[2]int]*Pairs{}}
	res.Config = fingerprint(opt, T, C, grid, D, trajs)

	if opt.Checkpoint != "" {
		old, err := Load(opt.Checkpoint)
		switch {
		case err == nil:
			if old.Config != res.Config {
				return nil, fmt.Errorf("%w: %s was made with other inputs or options (%s); remove it to start over", ErrCheckpointMismatch, opt.Checkpoint, old.Config)
			}
			res.Pairs = old.Pairs
		case errors.Is(err, fs.ErrNotExist):
		default:
			return nil, err
		}
	}

	pairs := FramePairs(T, opt)
	total := len(pairs)
	var todo [][2]int
	for _, p := range pairs {
		if res.Get(p[0], p[1]) == nil || res.Get(p[1], p[0]) == nil {
			todo = append(todo, p)
		}
	}
	done := total - len(todo)
	if len(todo) == 0 {
		return res, nil
	}

	cache := &frameCache{src: feats, C: C, N: N, keep: 3}
	if D > 0 {
		b, err := fitBasis(ctx, cache, T, D, opt)
		if err != nil {
			return nil, err
		}
		cache.basis = b
		cache.ts, cache.fs = nil, nil // loaded before projection
	}
	closest := ClosestTrajectories(trajs, grid)

	lastSave := time.Now()
	save := func() error {
		if opt.Checkpoint == "" {
			return nil
		}
		lastSave = time.Now()
		return Save(opt.Checkpoint, res)
	}
	// The reduced NMS rescores TopK+nmsExtra candidates per pair with
	// scattered dot products; that only pays off when they are a small part
	// of the row (about N/4 at most) — at the reference's 8107 tokens, not
	// at a 1947-token grid.
	reducedNMS := D > 0 && 4*(opt.NMS.TopK+nmsExtra) < N
	var mw mnnWork
	var pw projWork
	for _, p := range todo {
		if err := ctx.Err(); err != nil {
			if serr := save(); serr != nil {
				return nil, serr
			}
			return nil, fmt.Errorf("bestbuddies: %w", err)
		}
		s, t := p[0], p[1]
		fsrc, err := cache.get(s)
		if err != nil {
			return nil, err
		}
		fdst, err := cache.get(t)
		if err != nil {
			return nil, err
		}
		var st, ts *Pairs
		if D > 0 {
			st, ts = pw.mutualProjected(fsrc, fdst, opt.Candidates, grid, opt.BlockRows)
		} else {
			st, ts = mw.mutualExact(fsrc, fdst, grid, opt.BlockRows)
		}
		if closest != nil {
			st = st.Select(FilterByFlow(st, s, t, closest, trajs, grid))
			ts = ts.Select(FilterByFlow(ts, t, s, closest, trajs, grid))
		}
		if reducedNMS {
			ambiguityProjected(fsrc, fdst, st, grid, opt.NMS, opt.BlockRows, nmsExtra)
			ambiguityProjected(fdst, fsrc, ts, grid, opt.NMS, opt.BlockRows, nmsExtra)
		} else {
			AmbiguityRatio(fsrc, fdst, st, grid, opt.NMS, opt.BlockRows)
			AmbiguityRatio(fdst, fsrc, ts, grid, opt.NMS, opt.BlockRows)
		}
		if err := Symmetrize(st, ts); err != nil {
			return nil, err
		}
		res.Pairs[[2]int{s, t}], res.Pairs[[2]int{t, s}] = st, ts
		done++
		if progress != nil {
			progress(done, total)
		}
		if opt.Checkpoint != "" && time.Since(lastSave) >= opt.CheckpointEvery {
			if err := save(); err != nil {
				return nil, err
			}
		}
	}
	if err := save(); err != nil {
		return nil, err
	}
	return res, nil
}

// nmsExtra is how many candidates beyond TopK the reduced NMS rescores.
const nmsExtra = 100

// fitBasis samples about opt.PCASamples tokens evenly over all frames and
// fits the projection basis.
func fitBasis(ctx context.Context, cache *frameCache, T, D int, opt Options) (*Basis, error) {
	N, C := cache.N, cache.C
	per := min(N, max(1, (opt.PCASamples+T-1)/max(T, 1)))
	sample := make([]float32, 0, T*per*C)
	for t := 0; t < T; t++ {
		if err := ctx.Err(); err != nil {
			return nil, fmt.Errorf("bestbuddies: %w", err)
		}
		f, err := cache.get(t)
		if err != nil {
			return nil, err
		}
		for j := 0; j < per; j++ {
			k := (j*N/per + t) % N
			sample = append(sample, f.X[k*C:(k+1)*C]...)
		}
	}
	return PCABasis(sample, len(sample)/C, C, D, opt.Seed)
}

// fingerprint describes everything that determines a Result, so a
// checkpoint is only resumed with the same inputs and options.
func fingerprint(opt Options, T, C int, grid Grid, D int, trajs *traj.Set) string {
	var nt, np int64
	if trajs != nil && len(trajs.Off) > 0 {
		nt, np = int64(trajs.N()), trajs.Off[len(trajs.Off)-1]
	}
	cfg := map[string]any{
		"mode": opt.Mode.String(), "T": T, "C": C, "grid": []any{grid.H, grid.W, grid.Stride, grid.Offset},
		"nms": []any{opt.NMS.TopK, opt.NMS.BoxHalf, opt.NMS.IoU}, "trajectories": []int64{nt, np},
	}
	if opt.Mode == Bounded {
		cfg["partners"] = opt.Partners
		cfg["seed"] = opt.Seed
		cfg["proj_dim"] = D
		if D > 0 {
			cfg["candidates"] = opt.Candidates
			cfg["pca_samples"] = opt.PCASamples
		}
	}
	b, _ := json.Marshal(cfg)
	return string(b)
}
