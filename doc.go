// Package dinotracker is a pure-Go re-implementation of DINO-Tracker
// ("Taming DINO for Self-Supervised Point Tracking in a Single Video",
// Tumanyan, Singer, Bagon and Dekel, ECCV 2024): per-video self-supervised
// point tracking on top of frozen DINOv2 features.
//
// # Pipeline
//
//  1. Video: frames are loaded (a folder of JPG/PNG in name order, a movie
//     through ffmpeg, or in-memory images), decoded as PIL/libjpeg does and
//     resized with PIL's LANCZOS to the working resolution (476×854 in the
//     paper; any multiple of 14).
//  2. Features: a frozen DINOv2 ViT (package vit; ViT-L/14, block 15, patch
//     stride 7 in the paper) gives a [C, h', w'] map per frame, h' = 1 +
//     (H−14)/7. Features are cached on disk per video.
//  3. Preprocessing (Preprocess): pure-Go optical flow (package flow),
//     chained trajectories with forward-backward and direct-flow checks
//     (package traj), foreground masks and the fg/bg split (package fgmask)
//     and DINO best-buddies with their NMS ambiguity ratio (package
//     bestbuddies), written to a resumable folder.
//  4. Fit: a residual CNN (Delta-DINO, package nn) refines the features,
//     trained per video with the reference's losses (losses.go) on pairs
//     drawn from the trajectories (sampling.go); the tracker head (head.go,
//     refiner.go) samples query features, builds cosine cost volumes
//     (package corr), refines them and takes a windowed soft-argmax
//     (package softargmax).
//  5. Track: the refined features of every frame are computed once (in
//     memory, or streamed to the work folder and read lazily when large);
//     each query's feature is matched against every frame (one GEMM per
//     frame for a whole batch of queries, the refiner's logits over the
//     map, the soft-argmax on the window, with an exact fallback to the
//     full head when the window could hold too little of the mass),
//     forward and backward in time. Occlusion follows the reference: similarity along the track,
//     anchor frames, back-projections into the anchors, lower medians and
//     the max-over-anchors threshold (trackcore.go); a confidence score
//     agrees with the flag at its threshold. Results are Tracks, written as
//     JSON, CSV or .npy (tracks_io.go) and drawn by package render.
//  6. Metrics: TAP-Vid (AJ, δ_avg, OA, per threshold, query modes first and
//     strided) and BADJA (δ_seg, δ_3px), as the reference scores them.
//
// # Coordinates
//
// Points are (x, y) in pixels of the frame they refer to, x to the right and
// y down, with pixel centres at integer coordinates as PyTorch's
// align_corners=True sampling and the reference's soft-argmax use them.
// Token (i, j) of a stride-s grid covers input rows s·i…s·i+13 and columns
// s·j…s·j+13; DINO-Tracker takes its centre as pixel (s·j+s, s·i+s) at s=7.
// Tracks are [N][T] points in input-frame pixels; conversions to model
// resolution and to TAP-Vid's 256×256 raster (ToRaster256) are explicit.
//
// # Build tags
//
//   - (none): pure Go everywhere; CGO_ENABLED=0 go build ./... works. On
//     amd64, matrix products use a packed SGEMM with a Go-assembly
//     micro-kernel (AVX-512 12×32 where the CPU has it, else AVX2/FMA 6×16;
//     both give identical bits), convolutions are implicit GEMMs on the same
//     kernel, the ViT's attention is fused (online softmax, scores written
//     in the kernel's packed layout) and the softmax exponential, BlurPool
//     and the refiner rows have Go-assembly kernels; elsewhere the Go loops
//     run.
//   - noasm: forces the Go loops (SGEMM through gonum's implementation).
//   - openblas: matrix products go to OpenBLAS through gonum.org/v1/netlib
//     (apt-get install libopenblas-dev; CGO_LDFLAGS=-lopenblas). Results
//     agree with the pure-Go build within float32 rounding.
//   - cuda: Track's head (cost volume, argmax, refiner, softmax, windowed
//     soft-argmax) on an NVIDIA GPU through package cuda, which loads
//     libcuda.so.1 at run time and needs no CUDA SDK to build; without a
//     device Track logs one line and uses the Go kernels.
//
// # Errors and cancellation
//
// Long operations take a context.Context first and stop when it is
// cancelled. Errors wrap their cause (errors.Is works with the exported
// sentinels such as ErrTooFewFrames) and say what to do about them. Files
// the package writes are written atomically (temporary file, then rename).
package dinotracker
