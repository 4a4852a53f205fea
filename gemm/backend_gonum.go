//go:build !openblas

package gemm

const backendName = "gonum"

// splitInGo is false: gonum's Sgemm already spreads large products over
// GOMAXPROCS goroutines.
const splitInGo = false
