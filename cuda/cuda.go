// Package cuda runs the hot per-query loop of DINO-Tracker's tracker head
// on an NVIDIA GPU: for a batch of query features and one target frame it
// computes the ReLU'd cosine cost volume, its coarse argmax, the refiner
// CNN, the softmax over all tokens and the windowed soft-argmax, and
// returns one softargmax.Result per query.
//
// # Semantics
//
// Each stage is the GPU twin of a CPU function, which is its
// specification:
//
//  1. cost S[i, p] = max(⟨f_i, F_p⟩ / max(‖f_i‖·‖F_p‖, 1e-8), 0):
//     corr.Cosine with relu (token norms computed once on upload, in
//     float64 as corr.Norms);
//  2. coarse argmax of S[i, :]: softargmax.Argmax (ties → first index);
//  3. refiner: NormalizedConv2d(1→16, 3×3, pad 1) → ReLU →
//     NormalizedConv2d(16→1, 3×3, pad 1) as dinotracker's Refiner.Forward,
//     with kernels the caller has already normalised (RefinerKernels);
//  4. softmax over all GH·GW logits: softargmax.Softmax;
//  5. windowed soft-argmax around the argmax token: softargmax.Window.
//
// Products and convolutions accumulate in float32 (with fused
// multiply-adds), norms, softmax sums and window sums in float64, so
// results agree with the CPU path to float32 rounding (about 1e-5
// relative on the probabilities, 1e-3 px on the estimates).
//
// # Layout
//
// A frame is channel-major [C, GH, GW] (flat index ch·P + row·GW + col,
// P = GH·GW), as corr and the feature cache store it; queries are row-major
// [n, C].
//
// # Build tags and run time
//
// Without -tags cuda the package is a stub: Available reports ErrNotBuilt
// and NewSession fails with it. With -tags cuda it needs cgo but neither
// the CUDA SDK nor a GPU to build: it loads the driver library
// (libcuda.so.1, or the file named by $DINOTRACKER_LIBCUDA) with dlopen at
// run time and JIT-compiles the embedded kernels.ptx (generated from
// kernels.cu by `make ptx`, sm_70 and newer). When the library or a device
// is missing, Available says why, so callers can log one line and use the
// CPU kernels. The first device (ordinal 0) is used.
//
// # Concurrency
//
// A Session owns a CUDA context and its device buffers; its methods lock
// the calling goroutine to its OS thread and make the context current for
// the duration of the call, and a mutex serialises calls on one Session.
// Separate Sessions may be used from separate goroutines.
package cuda

import (
	"errors"
	"fmt"
	"math"

	"dinotracker/softargmax"
)

// ErrNotBuilt is what Available and NewSession return in a build without
// -tags cuda.
var ErrNotBuilt = errors.New("dinotracker/cuda: built without -tags cuda")

// RefinerHidden is the refiner's hidden channel count: w1 and w2 hold
// RefinerHidden·9 values, b1 RefinerHidden.
const RefinerHidden = 16

// kernelNames lists the .entry points of kernels.ptx that the cuda build
// launches (TestPTXEntries checks them in every build).
var kernelNames = []string{
	"dt_token_norms",
	"dt_query_norms",
	"dt_cosine",
	"dt_argmax",
	"dt_refine",
	"dt_softmax",
	"dt_window",
}

// maxBatch is the most queries one chain of launches handles; Heads splits
// larger batches. It bounds the device buffers at 2·maxBatch·P floats.
// Tests lower it to exercise the split.
var maxBatch = 1024

// checkSessionArgs validates NewSession's arguments.
func checkSessionArgs(frames [][]float32, c, gh, gw int, grid softargmax.Grid) error {
	if len(frames) == 0 {
		return errors.New("dinotracker/cuda: NewSession needs at least one frame")
	}
	if c < 1 || gh < 1 || gw < 1 {
		return fmt.Errorf("dinotracker/cuda: invalid map size C=%d GH=%d GW=%d", c, gh, gw)
	}
	if int64(c)*int64(gh)*int64(gw) > math.MaxInt32 {
		return fmt.Errorf("dinotracker/cuda: a %d×%d×%d map is too large for 32-bit kernel indices", c, gh, gw)
	}
	if grid.GH != gh || grid.GW != gw {
		return fmt.Errorf("dinotracker/cuda: grid is %d×%d but the maps are %d×%d", grid.GH, grid.GW, gh, gw)
	}
	if !(grid.Stride > 0) || !(grid.Radius >= 0) || math.IsInf(grid.Radius, 0) || math.IsNaN(grid.Offset) {
		return fmt.Errorf("dinotracker/cuda: invalid grid %+v (need stride > 0 and a finite radius ≥ 0)", grid)
	}
	for t, f := range frames {
		if len(f) < c*gh*gw {
			return fmt.Errorf("dinotracker/cuda: frame %d holds %d values, want %d×%d×%d", t, len(f), c, gh, gw)
		}
	}
	return nil
}

// checkRefinerArgs validates SetRefiner's arguments.
func checkRefinerArgs(w1, b1, w2 []float32) error {
	if len(w1) != RefinerHidden*9 || len(b1) != RefinerHidden || len(w2) != RefinerHidden*9 {
		return fmt.Errorf("dinotracker/cuda: refiner needs w1 [%d], b1 [%d], w2 [%d], got %d, %d, %d",
			RefinerHidden*9, RefinerHidden, RefinerHidden*9, len(w1), len(b1), len(w2))
	}
	return nil
}

// checkHeadsArgs validates Heads' arguments for a session with frames
// frames of c channels.
func checkHeadsArgs(out []softargmax.Result, queries []float32, n, frame, frames, c int) error {
	if n < 0 {
		return fmt.Errorf("dinotracker/cuda: negative query count %d", n)
	}
	if len(out) < n || len(queries) < n*c {
		return fmt.Errorf("dinotracker/cuda: Heads needs out ≥ %d results and queries ≥ %d×%d values, got %d and %d",
			n, n, c, len(out), len(queries))
	}
	if frame < 0 || frame >= frames {
		return fmt.Errorf("dinotracker/cuda: frame %d outside [0, %d)", frame, frames)
	}
	return nil
}
