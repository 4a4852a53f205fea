// Package nn holds the hand-written forward/backward kernels that
// DINO-Tracker's training needs: the Delta-DINO residual CNN (reflect-padded
// convolutions, BatchNorm, ReLU, BlurPool, bilinear alignment to the ViT
// grid), the tracker head (cosine cost volume, NormalizedConv2d, softmax,
// windowed soft-argmax) and the losses (Huber, InfoNCE, reductions), plus
// Adam.
//
// # Overview
//
// Every op is a pair of plain functions over []float32, XForward and
// XBackward, written next to each other in the style of karpathy/llm.c. The
// doc comment of the forward function gives the shape of every argument and
// what the caller must keep for the backward pass. Shapes use PyTorch
// notation: a tensor [N, C, H, W] is row-major (C-order), so element
// (n, c, y, x) is at index ((n*C+c)*H+y)*W+x.
//
// A minimal Tensor (shape, Data, Grad) and a Tape that records backward
// closures sit on top of the kernels for code that wants reverse-mode
// autodiff without writing the backward pass by hand; the tape adds no maths
// of its own. DeltaDINO composes the kernels directly, llm.c style.
//
// # Invariants
//
//   - Backward functions ACCUMULATE into every gradient buffer (dx += …),
//     never overwrite. The caller zeroes gradients once per step (Tensor.ZeroGrad,
//     or clear()). Fan-out therefore needs no special case.
//   - A nil gradient buffer in a backward call means "not needed": that
//     gradient is skipped.
//   - Inputs are never modified. Elementwise forward functions allow the output
//     to alias an input (the comment says so); all others require distinct
//     buffers.
//   - Shape or length mismatches are programming errors and panic with an
//     "nn: …" message.
//   - Reductions accumulate in float64 and round once.
//
// # Conventions
//
// Padding follows PyTorch: zeros, or reflect (ReflectionPad2d: the border
// sample is not repeated, so the pad must be smaller than the input size).
// Grid sampling follows F.grid_sample (2-D, bilinear, align_corners true or
// false, padding zeros or border). Normalised grid coordinates are (x, y) in
// [-1, 1]. BatchNorm follows nn.BatchNorm2d: training normalises with the
// biased batch variance and updates the running statistics with the unbiased
// one; eval mode uses the running statistics.
//
// # Testing
//
// Every kernel is tested against a float64 "obviously correct" reference
// loop (ref_test.go) and every backward against central finite differences
// of that reference (float64, h = 1e-6), with inputs built away from
// non-smooth points (ReLU kinks, integer grid-sample positions, the Huber
// knee, zero kernel sums, argmax ties). The composed model and head are
// checked against the upstream PyTorch goldens delta_dino, tracker_head*
// and losses (testdata/golden, skipped when absent).
//
// # Concurrency
//
// Kernels spread their work over internal/parallel (GOMAXPROCS goroutines)
// and large matrix products go through gemm.MatMul. A workspace (ConvWorkspace)
// or a DeltaDINO must not be used by two goroutines at once; the plain
// kernels are otherwise safe for concurrent use on distinct buffers.
package nn
