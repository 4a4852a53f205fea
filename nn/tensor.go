package nn

import "fmt"

// Tensor is a dense row-major float32 array with an optional gradient of
// the same length. A nil Grad means the tensor needs no gradient; tape ops
// then skip it.
type Tensor struct {
	Shape []int
	Data  []float32
	Grad  []float32
}

// NewTensor returns a zero tensor of the given shape, without a gradient.
func NewTensor(shape ...int) *Tensor {
	return &Tensor{Shape: append([]int(nil), shape...), Data: make([]float32, numel(shape))}
}

// NewParam returns a zero tensor of the given shape with a zero gradient.
func NewParam(shape ...int) *Tensor {
	t := NewTensor(shape...)
	t.Grad = make([]float32, len(t.Data))
	return t
}

// FromData wraps data (not copied) as a tensor of the given shape.
func FromData(data []float32, shape ...int) *Tensor {
	if len(data) != numel(shape) {
		panic(fmt.Sprintf("nn: FromData: %d values for shape %v", len(data), shape))
	}
	return &Tensor{Shape: append([]int(nil), shape...), Data: data}
}

// Len is the number of elements.
func (t *Tensor) Len() int { return len(t.Data) }

// RequiresGrad reports whether the tensor has a gradient buffer.
func (t *Tensor) RequiresGrad() bool { return t.Grad != nil }

// EnsureGrad allocates a zero gradient if the tensor has none and returns it.
func (t *Tensor) EnsureGrad() []float32 {
	if t.Grad == nil {
		t.Grad = make([]float32, len(t.Data))
	}
	return t.Grad
}

// ZeroGrad sets the gradient to zero (no-op without a gradient).
func (t *Tensor) ZeroGrad() { clear(t.Grad) }

func numel(shape []int) int {
	n := 1
	for _, d := range shape {
		if d < 0 {
			panic(fmt.Sprintf("nn: negative dimension in shape %v", shape))
		}
		n *= d
	}
	return n
}

// Tape records backward closures during a forward pass and runs them in
// reverse order. It is glue only: every closure calls a backward kernel of
// this package. A Tape is not safe for concurrent use.
type Tape struct {
	backs []func()
}

// Record appends a backward closure. Closures run in reverse recording order.
func (tp *Tape) Record(back func()) {
	if tp != nil {
		tp.backs = append(tp.backs, back)
	}
}

// Len is the number of recorded closures.
func (tp *Tape) Len() int { return len(tp.backs) }

// Backward seeds loss.Grad with 1 (loss must hold one value and have a
// gradient buffer), runs every recorded closure in reverse order and then
// clears the tape. Parameter gradients accumulate; zero them between steps.
func (tp *Tape) Backward(loss *Tensor) {
	if loss.Len() != 1 || loss.Grad == nil {
		panic("nn: Tape.Backward needs a one-element loss with a gradient buffer")
	}
	loss.Grad[0] = 1
	for i := len(tp.backs) - 1; i >= 0; i-- {
		tp.backs[i]()
	}
	tp.Reset()
}

// Reset drops the recorded closures without running them.
func (tp *Tape) Reset() {
	clear(tp.backs)
	tp.backs = tp.backs[:0]
}

func checkLen(op, name string, x []float32, n int) {
	if len(x) < n {
		panic(fmt.Sprintf("nn: %s: %s has %d values, need %d", op, name, len(x), n))
	}
}

// checkOpt is checkLen for optional (nil-able) gradient buffers.
func checkOpt(op, name string, x []float32, n int) {
	if x != nil {
		checkLen(op, name, x, n)
	}
}
