package nn

import (
	"fmt"
	"math"
	"math/rand/v2"

	"dinotracker/internal/parallel"
)

// DeltaDINOStage is one Conv2d → BatchNorm2d [→ ReLU → BlurPool] stage of
// Delta-DINO. Parameter tensors carry gradient buffers.
type DeltaDINOStage struct {
	Cin, Cout, Kernel, Dilation int
	// Weight [Cout, Cin, K, K] and Bias [Cout] of the reflect-padded conv.
	Weight, Bias *Tensor
	// Gamma and Beta [Cout] of the BatchNorm.
	Gamma, Beta *Tensor
	// RunningMean and RunningVar [Cout]: BatchNorm state (not parameters).
	RunningMean, RunningVar []float32
	// NumBatchesTracked counts training forwards (PyTorch state).
	NumBatchesTracked int64
	// ReLU and Blur: whether the stage ends with ReLU and BlurPool (all but
	// the last stage).
	ReLU, Blur bool
}

func (s *DeltaDINOStage) conv(n, h, w int) ConvShape {
	p := (s.Kernel + (s.Kernel-1)*(s.Dilation-1)) / 2
	return ConvShape{N: n, Cin: s.Cin, H: h, W: w, Cout: s.Cout, KH: s.Kernel, KW: s.Kernel,
		Dilation: s.Dilation, Mode: PadReflect}.Pad(p)
}

// stageCache holds one stage's activations of a training forward.
type stageCache struct {
	in []float32 // stage input [n, Cin, h, w] (aliases the previous stage's output)
	// conv is the conv output [n, Cout, h, w] (BatchNorm input) of a
	// training forward, in DeltaDINO.convSlab; nil for the first stage,
	// whose conv output Backward recomputes (see convSlab).
	conv     []float32
	mask     []uint64  // ReLU mask of a training forward: bit i set where the activation is > 0
	mean, vr []float32 // BN batch statistics
	out      []float32 // BlurPool output (the next stage's input) or nil
	h, w     int
}

// DeltaDINO is DINO-Tracker's residual CNN (models/networks/delta_dino.py)
// with its CNN-to-ViT alignment (models/utils.py:align_cnn_vit_features):
//
//	frames [N, 3, H, W] in [0, 1]  →  Δ [N, 1024, gh, gw]
//
// with gh = (H-Patch)/VitStride + 1 and gw likewise (67×121 at 476×854).
// Four stages (spec §2.2): 5×5 reflect convs 3→64→128→256→1024 (the last
// with dilation 2), each followed by BatchNorm; ReLU and BlurPool after the
// first three. The 60×107 CNN map is then sampled bilinearly at the ViT
// token centres (AlignGrid; align_corners, border padding).
//
// Forward in training mode keeps what Backward needs: each stage's input,
// the conv outputs of all stages but the first (whose Backward recomputes
// it from the frames: see convSlab), the ReLU mask as bits, and the
// BatchNorm statistics (about 155 MB per 476×854 frame, plus the scratch
// below, about 105 MB per frame). Every stage's BatchNorm/ReLU output,
// which only its BlurPool (or, for the last stage, the alignment) reads,
// lives in one scratch buffer shared by all stages. Backward needs no
// buffer of its own beyond it: the scratch holds each stage's activation
// gradient, and each stage input's gradient overwrites that input (dead
// once its weight gradient is done; see Conv2dBackward).
// Eval mode keeps only the BlurPool outputs. A DeltaDINO must not be used
// from two goroutines at once.
type DeltaDINO struct {
	Stages               []*DeltaDINOStage
	VitStride, Patch     int     // 7, 14
	Momentum, Eps        float32 // BatchNorm momentum 0.1, eps 1e-5
	ws                   ConvWorkspace
	blurFilt             map[int][]float32
	cache                []stageCache
	n, gh, gw, h8, w8    int
	cnnOut, grid, output []float32
	trained              bool      // the latest Forward was a training one (and no Backward has run since)
	scratch              []float32 // Forward: every stage's BN/ReLU output (and its conv output in eval mode); Backward: activation gradients
	// convSlab holds the later stages' conv outputs of a training forward,
	// back to back. The first stage's (as large as those together at
	// 476×854: 64 channels at full resolution) is not kept: Backward
	// recomputes it (3 input channels, about 0.4 % of the step's FLOP) into
	// the slab once the later stages are done with it.
	convSlab []float32
}

// convLens returns the conv output length of each stage for n frames of
// h×w.
func (d *DeltaDINO) convLens(n, h, w int) []int {
	lens := make([]int, len(d.Stages))
	for i, s := range d.Stages {
		lens[i] = s.conv(n, h, w).OutLen()
		if s.Blur {
			bs := BlurPoolShape(n, s.Cout, h, w)
			h, w = bs.OutH(), bs.OutW()
		}
	}
	return lens
}

// trainConvs points each stage's conv buffer into convSlab (grown to the
// larger of the later stages' total and the first stage's length).
func (d *DeltaDINO) trainConvs(n, h, w int) {
	lens := d.convLens(n, h, w)
	total := 0
	for _, l := range lens[1:] {
		total += l
	}
	d.convSlab = growF(d.convSlab, max(total, lens[0]))
	d.cache[0].conv = nil
	off := 0
	for i := 1; i < len(lens); i++ {
		d.cache[i].conv = d.convSlab[off : off+lens[i] : off+lens[i]]
		off += lens[i]
	}
}

// NewDeltaDINO returns Delta-DINO with DINO-Tracker's default architecture
// and initialisation: PyTorch's default conv init (kaiming_uniform(a=√5),
// bias U(±1/√fan_in)) from a PCG seeded with seed, BatchNorm gamma 1, beta
// 0, running statistics 0/1; the last conv all zero and the last gamma 0.05,
// so the residual starts at exactly 0.
func NewDeltaDINO(seed uint64) *DeltaDINO {
	chans := []int{3, 64, 128, 256, 1024}
	dils := []int{1, 1, 1, 2}
	r := rand.New(rand.NewPCG(seed, 0xde17a))
	d := &DeltaDINO{VitStride: 7, Patch: 14, Momentum: BNMomentum, Eps: BNEps, blurFilt: map[int][]float32{}}
	for i := 0; i < 4; i++ {
		last := i == 3
		s := &DeltaDINOStage{Cin: chans[i], Cout: chans[i+1], Kernel: 5, Dilation: dils[i], ReLU: !last, Blur: !last}
		s.Weight = NewParam(s.Cout, s.Cin, 5, 5)
		s.Bias = NewParam(s.Cout)
		s.Gamma, s.Beta = NewParam(s.Cout), NewParam(s.Cout)
		s.RunningMean, s.RunningVar = make([]float32, s.Cout), make([]float32, s.Cout)
		fanIn := s.Cin * 25
		if !last {
			KaimingUniform(s.Weight.Data, fanIn, r.Float64)
			KaimingUniform(s.Bias.Data, fanIn, r.Float64)
		}
		g := float32(1)
		if last {
			g = 0.05
		}
		for c := 0; c < s.Cout; c++ {
			s.Gamma.Data[c] = g
			s.RunningVar[c] = 1
		}
		d.Stages = append(d.Stages, s)
	}
	return d
}

// Params returns the trainable tensors in PyTorch's parameters() order
// (per stage: conv weight, conv bias, BN weight, BN bias).
func (d *DeltaDINO) Params() []*Tensor {
	var ps []*Tensor
	for _, s := range d.Stages {
		ps = append(ps, s.Weight, s.Bias, s.Gamma, s.Beta)
	}
	return ps
}

// StateDict returns the model state under PyTorch's state_dict names
// ("layers.0.weight", …, "layers.1.running_var", "layers.3.filt"). The
// slices alias the model (copy into them to load weights), except the
// BlurPool filters, which are constants. num_batches_tracked is the
// stages' NumBatchesTracked field.
func (d *DeltaDINO) StateDict() map[string][]float32 {
	m := map[string][]float32{}
	for i, s := range d.Stages {
		c, b := 4*i, 4*i+1
		m[fmt.Sprintf("layers.%d.weight", c)] = s.Weight.Data
		m[fmt.Sprintf("layers.%d.bias", c)] = s.Bias.Data
		m[fmt.Sprintf("layers.%d.weight", b)] = s.Gamma.Data
		m[fmt.Sprintf("layers.%d.bias", b)] = s.Beta.Data
		m[fmt.Sprintf("layers.%d.running_mean", b)] = s.RunningMean
		m[fmt.Sprintf("layers.%d.running_var", b)] = s.RunningVar
		if s.Blur {
			m[fmt.Sprintf("layers.%d.filt", 4*i+3)] = BlurFilter(s.Cout)
		}
	}
	return m
}

// ParamNames returns the state_dict name of every tensor of Params, in order.
func (d *DeltaDINO) ParamNames() []string {
	var ns []string
	for i := range d.Stages {
		ns = append(ns, fmt.Sprintf("layers.%d.weight", 4*i), fmt.Sprintf("layers.%d.bias", 4*i),
			fmt.Sprintf("layers.%d.weight", 4*i+1), fmt.Sprintf("layers.%d.bias", 4*i+1))
	}
	return ns
}

// GridSize returns the ViT token grid (gh, gw) for an H×W input.
func (d *DeltaDINO) GridSize(h, w int) (int, int) {
	return (h-d.Patch)/d.VitStride + 1, (w-d.Patch)/d.VitStride + 1
}

func (d *DeltaDINO) filt(c int) []float32 {
	if d.blurFilt == nil {
		d.blurFilt = map[int][]float32{}
	}
	f, ok := d.blurFilt[c]
	if !ok {
		f = BlurFilter(c)
		d.blurFilt[c] = f
	}
	return f
}

// Forward runs Delta-DINO on frames [n, 3, h, w] and returns the aligned
// residual [n, Cout, gh, gw] (owned by d; valid until the next Forward).
// With train set, BatchNorm uses batch statistics (n·h·w values per channel
// must exceed 1), updates the running statistics, and the activations are
// kept for Backward; otherwise BatchNorm uses the running statistics.
// Activation buffers are reused across calls of the same size.
func (d *DeltaDINO) Forward(frames []float32, n, h, w int, train bool) (out []float32, gh, gw int) {
	checkLen("DeltaDINO.Forward", "frames", frames, n*d.Stages[0].Cin*h*w)
	d.Reserve(n, h, w, train) // every buffer below, at its length for n frames
	d.n, d.trained = n, train
	d.gh, d.gw = d.GridSize(h, w)
	x := frames
	nblur := 0
	for i, s := range d.Stages {
		cs := s.conv(n, h, w)
		c := &d.cache[i]
		c.in, c.h, c.w = x, h, w
		hw := h * w
		// act: the BN (and ReLU) output, in the shared scratch: only the
		// stage's BlurPool reads it (Backward needs just the ReLU mask), or
		// for the last stage the alignment below.
		var conv []float32
		act := d.scratchFor(cs.OutLen())
		if train && c.conv != nil {
			conv = c.conv
		} else {
			conv = act // both BatchNorm forwards work in place
		}
		Conv2dForward(conv, x, s.Weight.Data, s.Bias.Data, cs, &d.ws)
		if train {
			BatchNormTrainForward(act, c.mean, c.vr, conv, s.Gamma.Data, s.Beta.Data, n, s.Cout, hw, d.Eps)
			BatchNormRunningUpdate(s.RunningMean, s.RunningVar, c.mean, c.vr, n*hw, d.Momentum)
			s.NumBatchesTracked++
		} else {
			BatchNormEvalForward(act, conv, s.Gamma.Data, s.Beta.Data, s.RunningMean, s.RunningVar, n, s.Cout, hw, d.Eps)
		}
		if s.ReLU {
			if train {
				reluForwardMask(act, c.mask)
			} else {
				ReLUForward(act, act)
			}
		}
		x = act
		if s.Blur {
			bs := BlurPoolShape(n, s.Cout, h, w)
			Conv2dForward(c.out, act, d.filt(s.Cout), nil, bs, &d.ws)
			h, w = bs.OutH(), bs.OutW()
			x = c.out
			nblur++
		}
	}
	d.cnnOut, d.h8, d.w8 = x, h, w
	cout := d.Stages[len(d.Stages)-1].Cout
	one := AlignGrid(d.gh, d.gw, h, w, 1<<nblur, d.VitStride, d.Patch)
	for i := 0; i < n; i++ {
		copy(d.grid[i*len(one):], one)
	}
	GridSampleForward(d.output, x, d.grid, n, cout, h, w, d.gh, d.gw, alignOpts)
	return d.output, d.gh, d.gw
}

// Reserve sizes the activation buffers for a Forward of n frames of h×w
// (with train, also what Backward needs), each sliced to its length for n
// frames; Forward calls it first. Called ahead with the largest batch, it
// makes later calls with up to n frames of that size allocate none of them:
// a trainer whose batches grow to n frames over its first steps would
// otherwise replace every buffer each time, and the replaced ones
// (gigabytes at 476×854) count toward the peak memory until collected.
func (d *DeltaDINO) Reserve(n, h, w int, train bool) {
	if len(d.cache) != len(d.Stages) {
		d.cache = make([]stageCache, len(d.Stages))
	}
	if n < 1 || h < 1 || w < 1 {
		return
	}
	gh, gw := d.GridSize(h, w)
	largest := 0
	hh, ww := h, w
	for _, s := range d.Stages {
		largest = max(largest, s.conv(n, hh, ww).OutLen())
		if s.Blur {
			bs := BlurPoolShape(n, s.Cout, hh, ww)
			hh, ww = bs.OutH(), bs.OutW()
		}
	}
	d.scratchFor(largest)
	if train {
		d.trainConvs(n, h, w)
	}
	for i, s := range d.Stages {
		cs := s.conv(n, h, w)
		c := &d.cache[i]
		if train {
			c.mean, c.vr = growF(c.mean, s.Cout), growF(c.vr, s.Cout)
			if s.ReLU {
				c.mask = growU(c.mask, (cs.OutLen()+63)/64)
			}
		}
		if s.Blur {
			bs := BlurPoolShape(n, s.Cout, h, w)
			c.out = growF(c.out, bs.OutLen())
			h, w = bs.OutH(), bs.OutW()
		}
	}
	d.grid = growF(d.grid, n*gh*gw*2)
	d.output = growF(d.output, n*d.Stages[len(d.Stages)-1].Cout*gh*gw)
}

// scratchFor returns the scratch as a buffer of n values; it is sized for
// the largest stage, so that it is allocated once.
func (d *DeltaDINO) scratchFor(n int) []float32 {
	if cap(d.scratch) < n {
		d.scratch = nil // not kept alive beside its replacement
		d.scratch = growF(nil, n)
	}
	return d.scratch[:n]
}

// ForwardTape runs a training Forward on frames [n, 3, h, w] and records
// Backward on tp. The result [n, Cout, gh, gw] has a gradient buffer; its
// Data is owned by d and valid until the next Forward, so record at most one
// DeltaDINO forward per tape pass. frames must stay unchanged until the tape
// runs.
func (d *DeltaDINO) ForwardTape(tp *Tape, frames *Tensor) *Tensor {
	n, h, w := frames.Shape[0], frames.Shape[2], frames.Shape[3]
	out, gh, gw := d.Forward(frames.Data, n, h, w, true)
	t := FromData(out, n, d.Stages[len(d.Stages)-1].Cout, gh, gw)
	t.EnsureGrad()
	tp.Record(func() { d.Backward(t.Grad) })
	return t
}

// alignOpts are align_cnn_vit_features' grid_sample options.
var alignOpts = GridSampleOptions{AlignCorners: true, Padding: GridPadBorder}

// Backward accumulates the parameter gradients (Weight.Grad, Bias.Grad,
// Gamma.Grad, Beta.Grad of every stage) of the latest training Forward,
// given dout = ∂L/∂Δ [n, Cout, gh, gw]. No gradient flows to the frames or
// to the alignment grid. The frames passed to Forward must be unchanged.
func (d *DeltaDINO) Backward(dout []float32) {
	if !d.trained {
		panic("nn: DeltaDINO.Backward without a training Forward")
	}
	n := d.n
	last := d.Stages[len(d.Stages)-1]
	checkLen("DeltaDINO.Backward", "dout", dout, n*last.Cout*d.gh*d.gw)
	d.trained = false // the activations are overwritten below
	// ∂L/∂(CNN output) replaces the CNN output (in the scratch), which the
	// grid sample's input gradient does not read.
	g := d.cnnOut
	clear(g)
	GridSampleBackward(g, nil, dout, d.cnnOut, d.grid, n, last.Cout, d.h8, d.w8, d.gh, d.gw, alignOpts)
	for i := len(d.Stages) - 1; i >= 0; i-- {
		s, c := d.Stages[i], &d.cache[i]
		cs := s.conv(n, c.h, c.w)
		conv := c.conv
		if conv == nil {
			// The first stage: the later stages are done with the slab.
			conv = d.convSlab[:cs.OutLen()]
		}
		dact := g
		if s.Blur {
			// g is the previous iteration's dx, in this stage's BlurPool
			// output buffer; the scratch is free again.
			dact = d.scratch[:len(conv)]
			clear(dact)
			// The input gradient of the (fixed-filter) depthwise BlurPool does
			// not read its input: any buffer of the right length will do.
			Conv2dBackward(dact, nil, nil, g, conv, d.filt(s.Cout), BlurPoolShape(n, s.Cout, c.h, c.w), &d.ws)
		}
		if s.ReLU {
			reluMaskBits(dact, c.mask)
		}
		if c.conv == nil {
			// The same product as the forward's, so the same values.
			Conv2dForward(conv, c.in, s.Weight.Data, s.Bias.Data, cs, &d.ws)
		}
		// BatchNorm backward in place: dact becomes ∂L/∂conv.
		batchNormTrainBackward(dact, s.Gamma.Grad, s.Beta.Grad, dact, conv, c.mean, c.vr, s.Gamma.Data, n, s.Cout, c.h*c.w, d.Eps, false)
		// ∂L/∂(stage input) overwrites the input (the previous stage's
		// BlurPool output) once the weight gradient has read it; the first
		// stage's input is the caller's frames and gets none.
		var dx []float32
		if i > 0 {
			dx = c.in
		}
		Conv2dBackward(dx, s.Weight.Grad, s.Bias.Grad, dact, c.in, s.Weight.Data, cs, &d.ws)
		g = dx
	}
}

// CNNOut returns the last stage's output [n, Cout, h8, w8] of the latest
// Forward, before alignment (owned by d; valid until the next Forward or
// Backward).
func (d *DeltaDINO) CNNOut() []float32 { return d.cnnOut }

// reluForwardMask applies ReLU to act in place (max(x, 0), as ReLUForward:
// NaN stays NaN) and records the mask: bit i of mask is set where
// act[i] > 0 (ReLU's backward passes the gradient there). Branch-free: the
// signs of activations are close to random.
func reluForwardMask(act []float32, mask []uint64) {
	words := (len(act) + 63) / 64
	parallel.For(words, ewGrain/64, func(lo, hi int) {
		lo += reluMaskWordsAsm(act[lo*64:min(len(act), hi*64)], mask[lo:hi])
		for wd := lo; wd < hi; wd++ {
			var m uint64
			seg := act[wd*64 : min(len(act), wd*64+64)]
			for b, v := range seg {
				var bit uint64
				if v > 0 {
					bit = 1
				}
				m |= bit << uint(b)
				seg[b] = max(v, 0)
			}
			mask[wd] = m
		}
	})
}

// reluMaskBits zeroes g where the mask bit is clear (ReLU backward in place
// on a scratch gradient that this package owns), branch-free.
func reluMaskBits(g []float32, mask []uint64) {
	words := (len(g) + 63) / 64
	parallel.For(words, ewGrain/64, func(lo, hi int) {
		lo += applyMaskWordsAsm(g[lo*64:min(len(g), hi*64)], mask[lo:hi])
		for wd := lo; wd < hi; wd++ {
			m := mask[wd]
			if m == ^uint64(0) {
				continue
			}
			seg := g[wd*64 : min(len(g), wd*64+64)]
			for b, v := range seg {
				keep := -uint32((m >> uint(b)) & 1) // all ones or zero
				seg[b] = math.Float32frombits(math.Float32bits(v) & keep)
			}
		}
	})
}
