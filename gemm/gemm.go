// Package gemm is the single place where dinotracker multiplies matrices.
//
// All heavy numerics (ViT linear layers, attention, convolutions, cost
// volumes) are phrased as row-major float32 GEMMs and go through gonum's
// blas32 interface. The default build uses gonum's pure-Go implementation;
// the build tag `openblas` routes the same calls to OpenBLAS through
// gonum.org/v1/netlib (cgo; install Debian's libopenblas-dev and build with
// CGO_LDFLAGS=-lopenblas). Both give the same results within float32
// rounding.
package gemm

import (
	"fmt"

	"dinotracker/internal/parallel"

	"gonum.org/v1/gonum/blas"
	"gonum.org/v1/gonum/blas/blas32"
)

// Backend names the BLAS implementation in use ("gonum" or "openblas").
func Backend() string { return backendName }

// MatMul computes C = alpha·op(A)·op(B) + beta·C for row-major matrices,
// where op(X) is X or Xᵀ. C is m×n with row stride ldc; op(A) is m×k; op(B)
// is k×n. A is stored m×k (lda ≥ k) when !transA and k×m (lda ≥ m) when
// transA; likewise B is k×n or n×k.
//
// It panics when a slice is too short for the shape it is said to hold:
// that is a programming error, not bad data. Large products are spread over
// GOMAXPROCS threads; MatMulSerial runs on the calling goroutine only.
func MatMul(transA, transB bool, m, n, k int, alpha float32, a []float32, lda int, b []float32, ldb int, beta float32, c []float32, ldc int) {
	w := parallel.Workers()
	if !splitInGo || w == 1 || 2*float64(m)*float64(n)*float64(k) < 4e6 {
		MatMulSerial(transA, transB, m, n, k, alpha, a, lda, b, ldb, beta, c, ldc)
		return
	}
	if m >= n {
		// Split the rows of C (and of op(A)). Each goroutine packs all of
		// op(B) and its share of op(A), so the longer side is split: with
		// few rows and many columns (a convolution's Cout × pixels) a row
		// split would pack the whole of B on every goroutine.
		parallel.For(m, max(8, (m+w-1)/w), func(lo, hi int) {
			aoff := lo * lda
			if transA {
				aoff = lo
			}
			MatMulSerial(transA, transB, hi-lo, n, k, alpha, a[aoff:], lda, b, ldb, beta, c[lo*ldc:], ldc)
		})
		return
	}
	// Split the columns of C (and of op(B)).
	parallel.For(n, max(8, (n+w-1)/w), func(lo, hi int) {
		boff := lo
		if transB {
			boff = lo * ldb
		}
		MatMulSerial(transA, transB, m, hi-lo, k, alpha, a, lda, b[boff:], ldb, beta, c[lo:], ldc)
	})
}

// MatMulSerial is MatMul without splitting the work across goroutines, for
// callers that already run independent products in parallel. (With the pure-Go
// backend gonum may still use several goroutines for a large product.)
func MatMulSerial(transA, transB bool, m, n, k int, alpha float32, a []float32, lda int, b []float32, ldb int, beta float32, c []float32, ldc int) {
	if m == 0 || n == 0 {
		return
	}
	ta, tb := blas.NoTrans, blas.NoTrans
	ar, ac := m, k
	if transA {
		ta, ar, ac = blas.Trans, k, m
	}
	br, bc := k, n
	if transB {
		tb, br, bc = blas.Trans, n, k
	}
	check("A", a, ar, ac, lda)
	check("B", b, br, bc, ldb)
	check("C", c, m, n, ldc)
	if k == 0 {
		// BLAS semantics: C = beta·C.
		for i := 0; i < m; i++ {
			row := c[i*ldc : i*ldc+n]
			for j := range row {
				if beta == 0 {
					row[j] = 0
				} else {
					row[j] *= beta
				}
			}
		}
		return
	}
	blas32.Implementation().Sgemm(ta, tb, m, n, k, alpha, a, lda, b, ldb, beta, c, ldc)
}

func check(name string, x []float32, rows, cols, ld int) {
	if ld < max(1, cols) {
		panic(fmt.Sprintf("gemm: leading dimension of %s is %d, less than its %d columns", name, ld, cols))
	}
	if rows > 0 && cols > 0 && len(x) < (rows-1)*ld+cols {
		panic(fmt.Sprintf("gemm: %s holds %d values, too few for %d×%d with stride %d", name, len(x), rows, cols, ld))
	}
}

// MatMulRef is the plain triple loop that MatMul must match; it accumulates
// in float64. It exists for tests and as the specification.
func MatMulRef(transA, transB bool, m, n, k int, alpha float32, a []float32, lda int, b []float32, ldb int, beta float32, c []float32, ldc int) {
	for i := 0; i < m; i++ {
		for j := 0; j < n; j++ {
			var s float64
			for p := 0; p < k; p++ {
				var av, bv float32
				if transA {
					av = a[p*lda+i]
				} else {
					av = a[i*lda+p]
				}
				if transB {
					bv = b[j*ldb+p]
				} else {
					bv = b[p*ldb+j]
				}
				s += float64(av) * float64(bv)
			}
			old := float64(0)
			if beta != 0 {
				old = float64(beta) * float64(c[i*ldc+j])
			}
			c[i*ldc+j] = float32(float64(alpha)*s + old)
		}
	}
}
