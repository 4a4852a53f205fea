//go:build !openblas

package gemm

const backendName = "gonum"
