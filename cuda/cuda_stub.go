//go:build !cuda

package cuda

import "dinotracker/softargmax"

// Available reports nil when a CUDA device can be used, or an error saying
// why not. This build has no CUDA support: it always returns ErrNotBuilt.
func Available() error { return ErrNotBuilt }

// Session keeps the device buffers of one tracking pass: the uploaded
// frames, their token norms, the refiner kernels and the per-batch work
// buffers. In this build no Session can be created.
type Session struct{}

// NewSession uploads frames (each [c, gh, gw], channel-major) and their
// token norms to the device once. grid places the tokens and sets the
// soft-argmax window; its GH and GW must equal gh and gw. In this build it
// returns ErrNotBuilt.
func NewSession(frames [][]float32, c, gh, gw int, grid softargmax.Grid) (*Session, error) {
	return nil, ErrNotBuilt
}

// SetRefiner uploads the refiner's normalised kernels: w1 [16·9] and b1
// [16] of the first NormalizedConv2d, w2 [16·9] and b2 of the second (the
// layout of dinotracker's RefinerKernels.W0 and W2 and Refiner.B0 and B2).
func (s *Session) SetRefiner(w1, b1, w2 []float32, b2 float32) error { return ErrNotBuilt }

// Heads runs the tracker head for n queries (row-major [n, c]) against
// frame and writes one result per query into out[:n].
func (s *Session) Heads(out []softargmax.Result, queries []float32, n int, frame int) error {
	return ErrNotBuilt
}

// Close frees the session's device memory and context. It may be called
// more than once.
func (s *Session) Close() error { return nil }
