package nn

import (
	"fmt"
	"math"

	"dinotracker/internal/parallel"
)

// AdamUpdate is one step of torch.optim.Adam (amsgrad off, maximize off) on
// a parameter p with gradient g and moments m, v (same length), at step t
// (1 for the first update):
//
//	g' = g + weightDecay·p                  (skipped when weightDecay = 0)
//	m  = β1·m + (1-β1)·g'                  (as m += (1-β1)(g'-m), torch's lerp)
//	v  = β2·v + (1-β2)·g'²
//	p -= lr/(1-β1^t) · m / (√v/√(1-β2^t) + eps)
//
// eps is added after the square root of the bias-corrected v, as PyTorch does.
func AdamUpdate(p, g, m, v []float32, t int, lr, beta1, beta2, eps, weightDecay float32) {
	if t < 1 {
		panic(fmt.Sprintf("nn: AdamUpdate: step %d, want ≥ 1", t))
	}
	checkLen("AdamUpdate", "g", g, len(p))
	checkLen("AdamUpdate", "m", m, len(p))
	checkLen("AdamUpdate", "v", v, len(p))
	bc1 := 1 - math.Pow(float64(beta1), float64(t))
	bc2 := 1 - math.Pow(float64(beta2), float64(t))
	step := float32(float64(lr) / bc1)
	bc2s := float32(math.Sqrt(bc2))
	b1, b2 := beta1, beta2
	parallel.For(len(p), ewGrain, func(lo, hi int) {
		for i := lo; i < hi; i++ {
			gi := g[i]
			if weightDecay != 0 {
				gi += weightDecay * p[i]
			}
			m[i] += (1 - b1) * (gi - m[i]) // torch lerp_(g, 1-β1)
			v[i] = b2*v[i] + (1-b2)*gi*gi
			den := float32(math.Sqrt(float64(v[i])))/bc2s + eps
			p[i] -= step * (m[i] / den)
		}
	})
}

// Adam holds torch.optim.Adam's state for a list of parameter tensors.
// Defaults (NewAdam) are PyTorch's: β = (0.9, 0.999), eps 1e-8, no weight
// decay. LR may be changed between steps (a scheduler).
type Adam struct {
	Params                           []*Tensor
	LR, Beta1, Beta2, Eps, WeightDec float32
	// Steps counts the updates done so far.
	Steps int
	m, v  [][]float32
}

// NewAdam returns an Adam optimiser over params (each with a Grad).
func NewAdam(params []*Tensor, lr float32) *Adam {
	a := &Adam{Params: params, LR: lr, Beta1: 0.9, Beta2: 0.999, Eps: 1e-8}
	for _, p := range params {
		if p.Grad == nil {
			panic("nn: NewAdam: parameter without a gradient buffer")
		}
		a.m = append(a.m, make([]float32, p.Len()))
		a.v = append(a.v, make([]float32, p.Len()))
	}
	return a
}

// Step applies one update to every parameter from its current Grad. It
// does not zero the gradients.
func (a *Adam) Step() {
	a.Steps++
	for i, p := range a.Params {
		AdamUpdate(p.Data, p.Grad, a.m[i], a.v[i], a.Steps, a.LR, a.Beta1, a.Beta2, a.Eps, a.WeightDec)
	}
}

// ZeroGrad zeroes the gradient of every parameter.
func (a *Adam) ZeroGrad() {
	for _, p := range a.Params {
		p.ZeroGrad()
	}
}
