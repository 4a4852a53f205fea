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
		ks = append(ks, microKernel{name: "avx512", mr: 12, nr: 32, fn: kernel12x32})
	}
	if cpu.X86.HasAVX2 && cpu.X86.HasFMA {
		ks = append(ks, microKernel{name: "avx2", mr: 6, nr: 16, fn: kernel6x16})
	}
	return ks
}

// kernel6x16 is the AVX2/FMA kernel behind the microKernel signature.
func kernel6x16(kc int, a, b, c []float32, ldc int, set bool) {
	_ = c[5*ldc+15]
	if kc == 0 {
		if set {
			for i := 0; i < 6; i++ {
				clear(c[i*ldc : i*ldc+16])
			}
		}
		return
	}
	_ = a[kc*6-1]
	_ = b[kc*16-1]
	s := 0
	if set {
		s = 1
	}
	kernel6x16AVX2(kc, &a[0], &b[0], &c[0], ldc, s)
}

// kernel12x32 is the AVX-512 kernel behind the microKernel signature.
func kernel12x32(kc int, a, b, c []float32, ldc int, set bool) {
	_ = c[11*ldc+31]
	if kc == 0 {
		if set {
			for i := 0; i < 12; i++ {
				clear(c[i*ldc : i*ldc+32])
			}
		}
		return
	}
	_ = a[kc*12-1]
	_ = b[kc*32-1]
	s := 0
	if set {
		s = 1
	}
	kernel12x32AVX512(kc, &a[0], &b[0], &c[0], ldc, s)
}
