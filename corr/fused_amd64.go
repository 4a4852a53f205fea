//go:build amd64 && !noasm

package corr

import (
	"golang.org/x/sys/cpu"

	"dinotracker/gemm"
)

//go:noescape
func dotsNormsAVX512(a *float32, lda, groups int, b *float32, ldb, n int, acc *float32, nacc *float64)

// fusedKernel reports whether dotsNormsPanel runs here: AVX-512, and the
// GEMM's kernel one of the FMA assembly kernels, whose sums it repeats.
func fusedKernel() bool { return cpu.X86.HasAVX512F && gemm.MicroKernel().Name() != "go" }

// dotsNormsPanel runs dotsNormsAVX512 (see there) with bounds checks.
func dotsNormsPanel(a []float32, lda, groups int, b []float32, ldb, n int, acc []float32, nacc []float64) {
	_ = a[3*lda+4*groups-1]
	_ = b[(4*groups-1)*ldb+n-1]
	_ = acc[4*n-1]
	_ = nacc[n-1]
	dotsNormsAVX512(&a[0], lda, groups, &b[0], ldb, n, &acc[0], &nacc[0])
}
