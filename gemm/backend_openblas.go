//go:build openblas

package gemm

import (
	"gonum.org/v1/gonum/blas/blas32"
	"gonum.org/v1/netlib/blas/netlib"
)

const backendName = "openblas"

// init routes gonum's blas32 calls to OpenBLAS. This is gonum's documented
// way of choosing a BLAS implementation; it happens only with -tags openblas.
func init() { blas32.Use(netlib.Implementation{}) }
