package nn

import "fmt"

// Tape ops: each runs a forward kernel into a new tensor and, when any input
// has a gradient buffer, gives the output one and records the matching
// backward kernel. They hold no maths of their own.

func anyGrad(ts ...*Tensor) bool {
	for _, t := range ts {
		if t != nil && t.Grad != nil {
			return true
		}
	}
	return false
}

func grad(t *Tensor) []float32 {
	if t == nil {
		return nil
	}
	return t.Grad
}

func data(t *Tensor) []float32 {
	if t == nil {
		return nil
	}
	return t.Data
}

func scalar(v float32, withGrad bool) *Tensor {
	t := &Tensor{Shape: []int{1}, Data: []float32{v}}
	if withGrad {
		t.Grad = make([]float32, 1)
	}
	return t
}

func sameLen(op string, a, b *Tensor) {
	if a.Len() != b.Len() {
		panic(fmt.Sprintf("nn: Tape.%s: %v and %v differ in size", op, a.Shape, b.Shape))
	}
}

// Conv2d records Conv2dForward: x [N, Cin, H, W], w, b (b may be nil) as in
// ConvShape; the output is [N, Cout, OutH, OutW]. ws may be nil.
func (tp *Tape) Conv2d(x, w, b *Tensor, s ConvShape, ws *ConvWorkspace) *Tensor {
	if ws == nil {
		ws = new(ConvWorkspace)
	}
	out := NewTensor(s.N, s.Cout, s.OutH(), s.OutW())
	Conv2dForward(out.Data, x.Data, w.Data, data(b), s, ws)
	if anyGrad(x, w, b) {
		out.EnsureGrad()
		tp.Record(func() { Conv2dBackward(x.Grad, w.Grad, grad(b), out.Grad, x.Data, w.Data, s, ws) })
	}
	return out
}

// BatchNorm2dTrain records BatchNormTrainForward on x [N, C, H, W] and
// updates runMean/runVar (if non-nil) with momentum.
func (tp *Tape) BatchNorm2dTrain(x, gamma, beta *Tensor, runMean, runVar []float32, momentum, eps float32) *Tensor {
	n, c, hw := x.Shape[0], x.Shape[1], numel(x.Shape[2:])
	out := NewTensor(x.Shape...)
	mean, vr := make([]float32, c), make([]float32, c)
	BatchNormTrainForward(out.Data, mean, vr, x.Data, gamma.Data, beta.Data, n, c, hw, eps)
	if runMean != nil {
		BatchNormRunningUpdate(runMean, runVar, mean, vr, n*hw, momentum)
	}
	if anyGrad(x, gamma, beta) {
		out.EnsureGrad()
		tp.Record(func() {
			BatchNormTrainBackward(x.Grad, gamma.Grad, beta.Grad, out.Grad, x.Data, mean, vr, gamma.Data, n, c, hw, eps)
		})
	}
	return out
}

// ReLU records ReLUForward.
func (tp *Tape) ReLU(x *Tensor) *Tensor {
	out := NewTensor(x.Shape...)
	ReLUForward(out.Data, x.Data)
	if anyGrad(x) {
		out.EnsureGrad()
		tp.Record(func() { ReLUBackward(x.Grad, out.Grad, out.Data) })
	}
	return out
}

// GridSample records GridSampleForward for x [N, C, H, W] and grid
// [N, Ho, Wo, 2]; the output is [N, C, Ho, Wo].
func (tp *Tape) GridSample(x, grid *Tensor, o GridSampleOptions) *Tensor {
	n, c, h, w := x.Shape[0], x.Shape[1], x.Shape[2], x.Shape[3]
	ho, wo := grid.Shape[1], grid.Shape[2]
	out := NewTensor(n, c, ho, wo)
	GridSampleForward(out.Data, x.Data, grid.Data, n, c, h, w, ho, wo, o)
	if anyGrad(x, grid) {
		out.EnsureGrad()
		tp.Record(func() {
			GridSampleBackward(x.Grad, grid.Grad, out.Grad, x.Data, grid.Data, n, c, h, w, ho, wo, o)
		})
	}
	return out
}

// Add records a + b (same size; the output takes a's shape).
func (tp *Tape) Add(a, b *Tensor) *Tensor {
	sameLen("Add", a, b)
	out := NewTensor(a.Shape...)
	AddForward(out.Data, a.Data, b.Data)
	if anyGrad(a, b) {
		out.EnsureGrad()
		tp.Record(func() { AccumulateGrad(a.Grad, out.Grad); AccumulateGrad(b.Grad, out.Grad) })
	}
	return out
}

// Mul records a ⊙ b (same size).
func (tp *Tape) Mul(a, b *Tensor) *Tensor {
	sameLen("Mul", a, b)
	out := NewTensor(a.Shape...)
	MulForward(out.Data, a.Data, b.Data)
	if anyGrad(a, b) {
		out.EnsureGrad()
		tp.Record(func() { MulBackward(a.Grad, b.Grad, out.Grad, a.Data, b.Data) })
	}
	return out
}

// Scale records s·a.
func (tp *Tape) Scale(a *Tensor, s float32) *Tensor {
	out := NewTensor(a.Shape...)
	ScaleForward(out.Data, a.Data, s)
	if anyGrad(a) {
		out.EnsureGrad()
		tp.Record(func() { ScaleBackward(a.Grad, out.Grad, s) })
	}
	return out
}

// Sum records Σ a as a one-element tensor.
func (tp *Tape) Sum(a *Tensor) *Tensor {
	out := scalar(SumForward(a.Data), anyGrad(a))
	if out.Grad != nil {
		tp.Record(func() { SumBackward(a.Grad, out.Grad[0]) })
	}
	return out
}

// Mean records mean(a) as a one-element tensor.
func (tp *Tape) Mean(a *Tensor) *Tensor {
	out := scalar(MeanForward(a.Data), anyGrad(a))
	if out.Grad != nil {
		tp.Record(func() { MeanBackward(a.Grad, out.Grad[0]) })
	}
	return out
}

// Dot records Σ a⊙b as a one-element tensor.
func (tp *Tape) Dot(a, b *Tensor) *Tensor {
	sameLen("Dot", a, b)
	out := scalar(DotForward(a.Data, b.Data), anyGrad(a, b))
	if out.Grad != nil {
		tp.Record(func() { DotBackward(a.Grad, b.Grad, a.Data, b.Data, out.Grad[0]) })
	}
	return out
}

// Softmax records SoftmaxForward over the last axis of x.
func (tp *Tape) Softmax(x *Tensor) *Tensor {
	n := x.Shape[len(x.Shape)-1]
	rows := x.Len() / n
	out := NewTensor(x.Shape...)
	SoftmaxForward(out.Data, x.Data, rows, n)
	if anyGrad(x) {
		out.EnsureGrad()
		tp.Record(func() { SoftmaxBackward(x.Grad, out.Grad, out.Data, rows, n) })
	}
	return out
}

// LogSoftmax records LogSoftmaxForward over the last axis of x.
func (tp *Tape) LogSoftmax(x *Tensor) *Tensor {
	n := x.Shape[len(x.Shape)-1]
	rows := x.Len() / n
	out := NewTensor(x.Shape...)
	LogSoftmaxForward(out.Data, x.Data, rows, n)
	if anyGrad(x) {
		out.EnsureGrad()
		tp.Record(func() { LogSoftmaxBackward(x.Grad, out.Grad, out.Data, rows, n) })
	}
	return out
}

// Huber records HuberForward(pred, target, weight) (mean reduction); target
// and weight may lack gradients, weight may be nil.
func (tp *Tape) Huber(pred, target *Tensor, weight []float32, delta float32) *Tensor {
	sameLen("Huber", pred, target)
	n := pred.Len()
	out := scalar(HuberForward(pred.Data, target.Data, weight, n, delta), anyGrad(pred, target))
	if out.Grad != nil {
		tp.Record(func() {
			HuberBackward(pred.Grad, target.Grad, pred.Data, target.Data, weight, n, delta, out.Grad[0])
		})
	}
	return out
}

// InfoNCE records InfoNCEForward: pos [rows], logits [rows, k]; the output
// is the per-row loss [rows].
func (tp *Tape) InfoNCE(pos, logits *Tensor, temp float32) *Tensor {
	rows := pos.Len()
	k := logits.Len() / max(rows, 1)
	out := NewTensor(rows)
	lse := make([]float32, rows)
	InfoNCEForward(out.Data, lse, pos.Data, logits.Data, rows, k, temp)
	if anyGrad(pos, logits) {
		out.EnsureGrad()
		tp.Record(func() { InfoNCEBackward(pos.Grad, logits.Grad, out.Grad, lse, logits.Data, rows, k, temp) })
	}
	return out
}

// CosineCost records CosineCostForward: qv [n, c] against f [c, H, W] (or
// [c, hw]); the output is [n, hw].
func (tp *Tape) CosineCost(qv, f *Tensor, eps float32) *Tensor {
	n, c := qv.Shape[0], qv.Shape[1]
	hw := f.Len() / c
	out := NewTensor(n, hw)
	qn, fn := make([]float32, n), make([]float32, hw)
	CosineCostForward(out.Data, qn, fn, qv.Data, f.Data, n, c, hw, eps)
	if anyGrad(qv, f) {
		out.EnsureGrad()
		tp.Record(func() {
			CosineCostBackward(qv.Grad, f.Grad, out.Grad, out.Data, qn, fn, qv.Data, f.Data, n, c, hw, eps, nil)
		})
	}
	return out
}

// Normalize records NormalizeForward along axis 1 of x [n, c, …].
func (tp *Tape) Normalize(x *Tensor, eps float32) *Tensor {
	n, c := x.Shape[0], x.Shape[1]
	inner := numel(x.Shape[2:])
	out := NewTensor(x.Shape...)
	norms := make([]float32, n*inner)
	NormalizeForward(out.Data, norms, x.Data, n, c, inner, eps)
	if anyGrad(x) {
		out.EnsureGrad()
		tp.Record(func() { NormalizeBackward(x.Grad, out.Grad, out.Data, norms, n, c, inner, eps) })
	}
	return out
}

// ChannelNorm records ChannelNormForward along axis 1 of x [n, c, …]; the
// output is [n, …].
func (tp *Tape) ChannelNorm(x *Tensor) *Tensor {
	n, c := x.Shape[0], x.Shape[1]
	inner := numel(x.Shape[2:])
	out := NewTensor(append([]int{n}, x.Shape[2:]...)...)
	ChannelNormForward(out.Data, x.Data, n, c, inner)
	if anyGrad(x) {
		out.EnsureGrad()
		tp.Record(func() { ChannelNormBackward(x.Grad, out.Grad, out.Data, x.Data, n, c, inner) })
	}
	return out
}
