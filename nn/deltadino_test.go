package nn

import (
	"fmt"
	"math"
	"testing"

	"dinotracker/internal/golden"
)

func TestDeltaDINOInit(t *testing.T) {
	d := NewDeltaDINO(1)
	total := 0
	for _, p := range d.Params() {
		total += p.Len()
	}
	if total != 7586816 { // spec §2.2 and the golden's parameter_count_full_model
		t.Errorf("parameter count %d, want 7586816", total)
	}
	if got := len(d.ParamNames()); got != len(d.Params()) {
		t.Errorf("%d names for %d params", got, len(d.Params()))
	}
	if len(d.StateDict()) != 4*6+3 {
		t.Errorf("state dict has %d entries", len(d.StateDict()))
	}
	// Kaiming-uniform bound 1/√75 for the first conv.
	b := 1 / math.Sqrt(75)
	for _, v := range d.Stages[0].Weight.Data {
		if math.Abs(float64(v)) > b {
			t.Fatalf("first conv weight %g outside ±%g", v, b)
		}
	}
}

// smallDelta builds a Delta-DINO with reduced channels (the architecture
// otherwise unchanged) and random parameters.
func smallDelta(seed uint64) *DeltaDINO {
	d := NewDeltaDINO(seed)
	chans := []int{3, 4, 5, 6, 7}
	r := newRand(seed)
	for i, s := range d.Stages {
		s.Cin, s.Cout = chans[i], chans[i+1]
		s.Weight = NewParam(s.Cout, s.Cin, 5, 5)
		copy(s.Weight.Data, randSlice(r, s.Weight.Len(), -0.3, 0.3))
		s.Bias, s.Gamma, s.Beta = NewParam(s.Cout), NewParam(s.Cout), NewParam(s.Cout)
		copy(s.Bias.Data, randSlice(r, s.Cout, -0.2, 0.2))
		copy(s.Gamma.Data, randSlice(r, s.Cout, 0.5, 1.5))
		copy(s.Beta.Data, randSlice(r, s.Cout, -0.3, 0.3))
		s.RunningMean, s.RunningVar = randSlice(r, s.Cout, -0.1, 0.1), randSlice(r, s.Cout, 0.5, 1.5)
	}
	return d
}

// deltaRef is the float64 reference of DeltaDINO.Forward (training mode)
// composed from the reference ops; p holds the parameters in Params order.
func deltaRef(d *DeltaDINO, frames []float64, p [][]float64, n, h, w int) []float64 {
	x := frames
	h0, w0 := h, w
	for i, s := range d.Stages {
		c := convRef(x, p[4*i], p[4*i+1], s.conv(n, h, w))
		a, _, _ := bnTrainRef(c, p[4*i+2], p[4*i+3], n, s.Cout, h*w, BNEps)
		if s.ReLU {
			for j := range a {
				a[j] = math.Max(a[j], 0)
			}
		}
		x = a
		if s.Blur {
			bs := BlurPoolShape(n, s.Cout, h, w)
			x = convRef(a, f64s(BlurFilter(s.Cout)), nil, bs)
			h, w = bs.OutH(), bs.OutW()
		}
	}
	gh, gw := d.GridSize(h0, w0)
	one := f64s(AlignGrid(gh, gw, h, w, 8, 7, 14))
	var grid []float64
	for i := 0; i < n; i++ {
		grid = append(grid, one...)
	}
	return gridSampleRef(x, grid, n, d.Stages[3].Cout, h, w, gh, gw, alignOpts)
}

// TestDeltaDINOSmall checks the assembled forward against the float64
// reference composition and a sample of parameter gradients against finite
// differences (10 entries per tensor).
func TestDeltaDINOSmall(t *testing.T) {
	n, h, w := 2, 40, 48 // CNN map 5×6 (the dilated reflect pad needs ≥ 5), ViT grid 4×5
	d := smallDelta(31)
	r := newRand(32)
	frames := randSlice(r, n*3*h*w, 0, 1)
	out, gh, gw := d.Forward(frames, n, h, w, true)
	if gh != 4 || gw != 5 {
		t.Fatalf("grid %dx%d, want 4x5", gh, gw)
	}
	var p64 [][]float64
	for _, p := range d.Params() {
		p64 = append(p64, f64s(p.Data))
	}
	f64frames := f64s(frames)
	checkForward(t, "delta-dino", out, deltaRef(d, f64frames, p64, n, h, w), 1e-5)
	rr := f64s(randSlice(r, len(out), -1, 1))
	dout := make([]float32, len(rr))
	for i, v := range rr {
		dout[i] = float32(v)
	}
	d.Backward(dout)
	for k, p := range d.Params() {
		if k%4 == 1 {
			// Conv bias before train-mode BN: the exact gradient is 0.
			if m, wm := maxAbs(p.Grad), maxAbs(d.Params()[k-1].Grad); m > 1e-5*wm {
				t.Errorf("%s: gradient %g, want 0 up to noise (≤ 1e-5·%g)", d.ParamNames()[k], m, wm)
			}
			continue
		}
		idx := make([]int, 10)
		for i := range idx {
			idx[i] = r.IntN(p.Len())
		}
		an := make([]float32, len(idx))
		for i, j := range idx {
			an[i] = p.Grad[j]
		}
		checkGradH(t, "delta-dino/"+d.ParamNames()[k], an, p.Data, 1e-6, 1e-4, idx, func(v []float64) float64 {
			q := append([][]float64(nil), p64...)
			q[k] = v
			return dot64(deltaRef(d, f64frames, q, n, h, w), rr)
		})
	}
}

// TestDeltaDINOReserve checks that after Reserve for n frames, training
// forwards and backwards of up to n frames keep every activation buffer
// (the same backing arrays), and give the values a fresh model gives.
func TestDeltaDINOReserve(t *testing.T) {
	const n, h, w = 3, 40, 48
	d, fresh := smallDelta(31), smallDelta(31)
	d.Reserve(n, h, w, true)
	first := func(b []float32) *float32 { return &b[:1][0] }
	type bufs struct{ scratch, grid, output, convSlab *float32 }
	snap := func() (bufs, []*float32) {
		var st []*float32
		for i, c := range d.cache {
			if (i == 0) != (c.conv == nil) {
				t.Fatalf("stage %d: conv buffer kept %v; want only the first stage's recomputed", i, c.conv != nil)
			}
			st = append(st, first(c.mean)) // conv buffers are views of convSlab, checked below
			if c.out != nil {
				st = append(st, first(c.out))
			}
		}
		return bufs{first(d.scratch), first(d.grid), first(d.output), first(d.convSlab)}, st
	}
	b0, s0 := snap()
	r := newRand(33)
	for _, m := range []int{2, 3, 1} {
		frames := randSlice(r, m*3*h*w, 0, 1)
		got, _, _ := d.Forward(frames, m, h, w, true)
		want, _, _ := fresh.Forward(frames, m, h, w, true)
		for i := range want {
			if got[i] != want[i] {
				t.Fatalf("%d frames: output %d = %v, a model without Reserve gives %v", m, i, got[i], want[i])
			}
		}
		dout := randSlice(r, len(got), -1, 1)
		d.Backward(dout)
		fresh.Backward(dout)
		b1, s1 := snap()
		if b1 != b0 || len(s1) != len(s0) {
			t.Fatalf("%d frames: shared buffers were replaced", m)
		}
		for i := range s0 {
			if s0[i] != s1[i] {
				t.Fatalf("%d frames: stage buffer %d was replaced", m, i)
			}
		}
	}
}

// TestDeltaDINOGolden runs the upstream PyTorch case delta_dino: a
// train-mode forward (cnn_out_train, aligned_train, loss = Σ aligned·R, BN
// running statistics after one update), its backward (parameter gradients)
// and an eval-mode forward with given running statistics, at the case's
// suggested tolerances.
func TestDeltaDINOGolden(t *testing.T) {
	golden.ForEach(t, "delta_dino", func(t *testing.T, c *golden.Case) {
		frames, fs := c.F32(t, "frames")
		n, h, w := fs[0], fs[2], fs[3]
		d := NewDeltaDINO(0)
		sd := d.StateDict()
		for i := range d.Stages {
			name := fmt.Sprintf("layers.%d.weight", 4*i)
			codes, _ := c.F32(t, "param_u8/"+name)
			scale := c.Number(math.NaN(), "weight_scales", name)
			for j, v := range codes {
				sd[name][j] = (v - 128) * float32(scale)
			}
			for _, nm := range []string{fmt.Sprintf("layers.%d.bias", 4*i), fmt.Sprintf("layers.%d.weight", 4*i+1), fmt.Sprintf("layers.%d.bias", 4*i+1)} {
				v, _ := c.F32(t, "param/"+nm)
				copy(sd[nm], v)
			}
		}
		rc, rs := c.F32(t, "R_u8")
		R := make([]float32, len(rc))
		for i, v := range rc {
			R[i] = (v - 128) / 64
		}

		// Train-mode forward from PyTorch's default running statistics.
		out, gh, gw := d.Forward(frames, n, h, w, true)
		if gh != rs[2] || gw != rs[3] {
			t.Fatalf("grid %dx%d, want %dx%d", gh, gw, rs[2], rs[3])
		}
		closeRelMax(t, c, "cnn_out_train", d.CNNOut(), 1e-4, 1e-5)
		closeRelMax(t, c, "aligned_train", out, 1e-4, 1e-5)
		loss := DotForward(out, R)
		wantLoss, _ := c.F32(t, "loss")
		if e := math.Abs(float64(loss-wantLoss[0])) / math.Abs(float64(wantLoss[0])); e > 1e-4 {
			t.Errorf("loss %g, want %g (rel %.2g)", loss, wantLoss[0], e)
		}
		for i, s := range d.Stages {
			b := 4*i + 1
			closeRelMax(t, c, fmt.Sprintf("bn_after_train/layers.%d.running_mean", b), s.RunningMean, 1e-5, 0)
			closeRelMax(t, c, fmt.Sprintf("bn_after_train/layers.%d.running_var", b), s.RunningVar, 1e-5, 0)
			nbt, _ := c.F64(t, fmt.Sprintf("bn_after_train/layers.%d.num_batches_tracked", b))
			if float64(s.NumBatchesTracked) != nbt[0] {
				t.Errorf("num_batches_tracked %d, want %v", s.NumBatchesTracked, nbt[0])
			}
		}

		// Backward of L = Σ aligned·R.
		d.Backward(R)
		for i, s := range d.Stages {
			conv, bn := 4*i, 4*i+1
			wname := fmt.Sprintf("layers.%d.weight", conv)
			var wmax float64
			if c.Has("grad/" + wname) {
				wmax = gradClose(t, c, "grad/"+wname, s.Weight.Grad)
			} else {
				wmax = gradSliceClose(t, c, wname, s.Weight.Grad, s.Cout)
			}
			// Conv biases feed train-mode BN: their gradient is 0 up to noise.
			if m := maxAbs(s.Bias.Grad); m > 1e-4*wmax {
				t.Errorf("layers.%d.bias grad max %g > 1e-4·%g", conv, m, wmax)
			} else {
				t.Logf("layers.%d.bias grad max %.3g (zero up to noise; bound %.3g)", conv, m, 1e-4*wmax)
			}
			gradClose(t, c, fmt.Sprintf("grad/layers.%d.weight", bn), s.Gamma.Grad)
			gradClose(t, c, fmt.Sprintf("grad/layers.%d.bias", bn), s.Beta.Grad)
		}

		// Eval-mode forward with the given running statistics.
		for i, s := range d.Stages {
			m, _ := c.F32(t, fmt.Sprintf("eval_given/layers.%d.running_mean", 4*i+1))
			v, _ := c.F32(t, fmt.Sprintf("eval_given/layers.%d.running_var", 4*i+1))
			copy(s.RunningMean, m)
			copy(s.RunningVar, v)
		}
		out, _, _ = d.Forward(frames, n, h, w, false)
		chIdx, _ := c.F64(t, "eval_channel_idx")
		cout := d.Stages[3].Cout
		pick := func(x []float32, hw int) []float32 {
			var y []float32
			for b := 0; b < n; b++ {
				for _, ch := range chIdx {
					o := (b*cout + int(ch)) * hw
					y = append(y, x[o:o+hw]...)
				}
			}
			return y
		}
		closeRelMax(t, c, "cnn_out_eval", pick(d.CNNOut(), d.h8*d.w8), 1e-4, 1e-5)
		closeRelMax(t, c, "aligned_eval", pick(out, gh*gw), 1e-4, 1e-5)
	})
}

// closeRelMax: |got - want| ≤ rel·max|want| + abs everywhere.
func closeRelMax(t *testing.T, c *golden.Case, name string, got []float32, rel, abs float64) {
	t.Helper()
	want, _ := c.F32(t, name)
	if len(got) != len(want) {
		t.Fatalf("%s: %d values, want %d", name, len(got), len(want))
	}
	e := relToMax(got, f64s(want))
	m := maxAbs(want)
	if e*m > rel*m+abs || math.IsNaN(e) {
		t.Errorf("%s: rel-to-max error %.3g > %.3g", name, e, rel+abs/m)
	} else {
		t.Logf("%s: rel-to-max %.2e", name, e)
	}
}

func maxAbs(x []float32) float64 {
	var m float64
	for _, v := range x {
		m = math.Max(m, math.Abs(float64(v)))
	}
	return m
}

// gradClose checks a full gradient: ‖g-ref‖/‖ref‖ ≤ 2e-3 and
// max|g-ref| ≤ 1e-2·max|ref|. It returns max|ref|.
func gradClose(t *testing.T, c *golden.Case, name string, got []float32) float64 {
	t.Helper()
	want, _ := c.F32(t, name)
	return gradCompare(t, name, got, want)
}

func gradCompare(t *testing.T, name string, got, want []float32) float64 {
	t.Helper()
	if len(got) != len(want) {
		t.Fatalf("%s: %d values, want %d", name, len(got), len(want))
	}
	var dn, rn float64
	for i := range want {
		d := float64(got[i]) - float64(want[i])
		dn += d * d
		rn += float64(want[i]) * float64(want[i])
	}
	l2 := math.Sqrt(dn / rn)
	rm := relToMax(got, f64s(want))
	if l2 > 2e-3 || rm > 1e-2 || math.IsNaN(l2) {
		t.Errorf("%s: rel L2 %.3g (≤ 2e-3), rel-to-max %.3g (≤ 1e-2)", name, l2, rm)
	} else {
		t.Logf("%s: rel L2 %.2e, rel-to-max %.2e", name, l2, rm)
	}
	return maxAbs(want)
}

// gradSliceClose checks the stored output-channel slice of a large conv
// weight gradient and the per-output-channel sums and sums of squares of
// the full gradient. It returns max|ref slice|.
func gradSliceClose(t *testing.T, c *golden.Case, wname string, got []float32, cout int) float64 {
	t.Helper()
	idx, _ := c.F64(t, "grad_slice_idx/"+wname)
	per := len(got) / cout
	var sl []float32
	for _, o := range idx {
		sl = append(sl, got[int(o)*per:(int(o)+1)*per]...)
	}
	want, _ := c.F32(t, "grad_slice/"+wname)
	m := gradCompare(t, "grad_slice/"+wname, sl, want)
	sums, _ := c.F64(t, "grad_sum_per_out/"+wname)
	sqs, _ := c.F64(t, "grad_sqsum_per_out/"+wname)
	var smax float64
	for _, v := range sums {
		smax = math.Max(smax, math.Abs(v))
	}
	var es, eq float64
	for o := 0; o < cout; o++ {
		var s, q float64
		for _, v := range got[o*per : (o+1)*per] {
			s += float64(v)
			q += float64(v) * float64(v)
		}
		es = math.Max(es, math.Abs(s-sums[o])/smax)
		if sqs[o] > 0 {
			eq = math.Max(eq, math.Abs(q-sqs[o])/sqs[o])
		}
	}
	if es > 1e-2 || eq > 1e-3 {
		t.Errorf("%s: per-channel sums rel-to-max %.3g (≤ 1e-2), sums of squares rel %.3g (≤ 1e-3)", wname, es, eq)
	} else {
		t.Logf("%s: per-channel sums rel-to-max %.2e, sums of squares rel %.2e", wname, es, eq)
	}
	return m
}
