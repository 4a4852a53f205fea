//go:build !openblas

package gemm

import "gonum.org/v1/gonum/blas/blas32"

const backendName = "go"

// splitInGo is true: the packed Sgemm is serial and MatMul splits large
// products across goroutines.
const splitInGo = true

// init installs the packed pure-Go Sgemm behind gonum's blas32 interface.
func init() { blas32.Use(Implementation{}) }
