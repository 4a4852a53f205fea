//go:build !amd64 || noasm

package corr

func fusedKernel() bool { return false }

func dotsNormsPanel(a []float32, lda, groups int, b []float32, ldb, n int, acc []float32, nacc []float64) {
	panic("corr: no fused dots-and-norms kernel in this build")
}
