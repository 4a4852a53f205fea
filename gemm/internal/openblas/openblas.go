//go:build openblas

// This file lives apart from package gemm because a package that uses cgo
// cannot also hold Go assembly (gemm's micro-kernels).

package openblas

/*
#cgo LDFLAGS: -lopenblas
void openblas_set_num_threads(int num_threads);
*/
import "C"

// SetThreads sets OpenBLAS's thread count.
func SetThreads(n int) { C.openblas_set_num_threads(C.int(n)) }
