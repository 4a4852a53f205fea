//go:build !amd64 || noasm

package gemm

// assemblyKernels lists the assembly micro-kernels this CPU runs, fastest
// first: none in this build.
func assemblyKernels() []microKernel { return nil }
