//go:build amd64 && !noasm

package gemm

import "golang.org/x/sys/cpu"

//go:noescape
func kernel6x16AVX2(kc int, a, b, c *float32, ldc int, set int)

//go:noescape
func kernel12x32AVX512(kc int, a, b, c *float32, ldc int, set int)

// assemblyKernels lists the assembly micro-kernels this CPU runs, fastest
// first. x/sys/cpu reports AVX-512 only when the OS saves the ZMM and mask
// registers.
func assemblyKernels() []microKernel {
	var ks []microKernel
	if cpu.X86.HasAVX512F {
		ks = append(ks, microKernel{name: "avx512", mr: 12, nr: 32, fn: asmKernel(12, 32, kernel12x32AVX512)})
	}
	if cpu.X86.HasAVX2 && cpu.X86.HasFMA {
		ks = append(ks, microKernel{name: "avx2", mr: 6, nr: 16, fn: asmKernel(6, 16, kernel6x16AVX2)})
	}
	return ks
}

// asmKernel puts an mr×nr assembly kernel behind the microKernel
// signature: bounds checks, and kc = 0 (nothing to add; zeros to store).
func asmKernel(mr, nr int, f func(kc int, a, b, c *float32, ldc int, set int)) func(kc int, a, b, c []float32, ldc int, set bool) {
	return func(kc int, a, b, c []float32, ldc int, set bool) {
		_ = c[(mr-1)*ldc+nr-1]
		if kc == 0 {
			if set {
				for i := 0; i < mr; i++ {
					clear(c[i*ldc : i*ldc+nr])
				}
			}
			return
		}
		_ = a[kc*mr-1]
		_ = b[kc*nr-1]
		s := 0
		if set {
			s = 1
		}
		f(kc, &a[0], &b[0], &c[0], ldc, s)
	}
}
