//go:build openblas

package gemm

/*
#cgo LDFLAGS: -lopenblas
void openblas_set_num_threads(int num_threads);
*/
import "C"

import (
	"gonum.org/v1/gonum/blas/blas32"
	"gonum.org/v1/netlib/blas/netlib"
)

const backendName = "openblas"

// splitInGo is true: OpenBLAS runs single-threaded and MatMul splits the
// work across goroutines itself, which avoids OpenBLAS's busy-waiting
// threads and lets callers run independent serial GEMMs in parallel.
const splitInGo = true

// init routes gonum's blas32 calls to OpenBLAS (gonum's documented way of
// choosing a BLAS implementation; only with -tags openblas).
func init() {
	C.openblas_set_num_threads(1)
	blas32.Use(netlib.Implementation{})
}
