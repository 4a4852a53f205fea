// Package openblas holds the one OpenBLAS call the gemm package makes
// outside gonum's netlib binding (built only with -tags openblas).
package openblas
