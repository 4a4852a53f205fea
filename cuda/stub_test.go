//go:build !cuda

package cuda

import (
	"errors"
	"testing"

	"dinotracker/softargmax"
)

// TestStub checks the build without -tags cuda: no device is ever
// available and the API fails with ErrNotBuilt.
func TestStub(t *testing.T) {
	if err := Available(); !errors.Is(err, ErrNotBuilt) {
		t.Fatalf("Available() = %v, want ErrNotBuilt", err)
	}
	if got := Available().Error(); got != "dinotracker/cuda: built without -tags cuda" {
		t.Errorf("Available() says %q", got)
	}
	frames := [][]float32{make([]float32, 2*3*4)}
	s, err := NewSession(frames, 2, 3, 4, softargmax.DefaultGrid(3, 4))
	if s != nil || !errors.Is(err, ErrNotBuilt) {
		t.Fatalf("NewSession = %v, %v; want nil, ErrNotBuilt", s, err)
	}
	var z Session
	if err := z.SetRefiner(nil, nil, nil, 0); !errors.Is(err, ErrNotBuilt) {
		t.Errorf("SetRefiner = %v", err)
	}
	if err := z.Heads(nil, nil, 0, 0); !errors.Is(err, ErrNotBuilt) {
		t.Errorf("Heads = %v", err)
	}
	if err := z.Close(); err != nil {
		t.Errorf("Close = %v", err)
	}
}
