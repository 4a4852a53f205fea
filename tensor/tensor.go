// Package tensor defines the plain float32 tensor value that the weight and
// tensor-file readers of dinotracker return.
//
// A Tensor is a shape plus a contiguous, row-major (C-order) slice of float32:
// element (i0, i1, …, ik) lives at Data[((i0*S1+i1)*S2+i2)…]. There is no
// striding, broadcasting or autograd here; this is only a container.
package tensor

import (
	"fmt"
	"strings"
)

// Tensor is a dense row-major float32 array.
type Tensor struct {
	Shape []int
	Data  []float32
}

// New returns a zero tensor of the given shape.
func New(shape ...int) *Tensor {
	return &Tensor{Shape: append([]int(nil), shape...), Data: make([]float32, NumElements(shape))}
}

// NumElements is the product of the dimensions (1 for a scalar shape).
func NumElements(shape []int) int {
	n := 1
	for _, d := range shape {
		n *= d
	}
	return n
}

// Len is the number of elements.
func (t *Tensor) Len() int { return NumElements(t.Shape) }

// SameShape reports whether the tensor has exactly the given shape.
func (t *Tensor) SameShape(shape ...int) bool {
	if len(t.Shape) != len(shape) {
		return false
	}
	for i := range shape {
		if t.Shape[i] != shape[i] {
			return false
		}
	}
	return true
}

// ShapeString formats a shape as [a,b,c].
func ShapeString(shape []int) string {
	var b strings.Builder
	b.WriteByte('[')
	for i, d := range shape {
		if i > 0 {
			b.WriteByte(',')
		}
		fmt.Fprint(&b, d)
	}
	b.WriteByte(']')
	return b.String()
}
