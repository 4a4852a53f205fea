//go:build openblas

package gemm

import (
	"gonum.org/v1/gonum/blas/blas32"
	"gonum.org/v1/netlib/blas/netlib"

	"dinotracker/gemm/internal/openblas"
)

const backendName = "openblas"

// splitInGo is true: OpenBLAS runs single-threaded and MatMul splits the
// work across goroutines itself, which avoids OpenBLAS's busy-waiting
// threads and lets callers run independent serial GEMMs in parallel.
const splitInGo = true

// init routes gonum's blas32 calls to OpenBLAS (gonum's documented way of
// choosing a BLAS implementation; only with -tags openblas). The packed
// products (implicit-GEMM convolutions, the fused attention) keep the
// project's micro-kernel, which OpenBLAS has no interface for.
func init() {
	openblas.SetThreads(1)
	blas32.Use(netlib.Implementation{})
}
