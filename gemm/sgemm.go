package gemm

import (
	"sync"

	"gonum.org/v1/gonum/blas"
	"gonum.org/v1/gonum/blas/gonum"
)

// Implementation is gonum's pure-Go BLAS with a faster Sgemm: packed,
// cache-blocked panels and a 6×16 register-blocked micro-kernel (AVX2/FMA
// assembly on amd64, a Go loop elsewhere or with the build tag noasm). The
// default build installs it with blas32.Use, so every blas32.Gemm in the
// process uses it. Sgemm itself runs on the calling goroutine; MatMul splits
// large products across goroutines.
type Implementation struct{ gonum.Implementation }

// Block sizes: a kc×16 B sliver (16 KB) stays in L1 while the 6-row A
// slivers of an mc×kc block (96 KB) stream from L2; the kc×nc B panel (2 MB)
// lives in L3.
const (
	mr = 6
	nr = 16
	kc = 256
	mc = 96
	nc = 2048
)

type packBufs struct{ a, b []float32 }

var packPool = sync.Pool{New: func() any {
	return &packBufs{a: make([]float32, mc*kc), b: make([]float32, kc*nc)}
}}

// Sgemm computes C = alpha·op(A)·op(B) + beta·C (row-major, as gonum's
// blas32 passes it) with the packed kernel.
func (Implementation) Sgemm(tA, tB blas.Transpose, m, n, k int, alpha float32, a []float32, lda int, b []float32, ldb int, beta float32, c []float32, ldc int) {
	if !hasFMA || m < 3 {
		// Without the assembly kernel gonum's own blocked loops are faster
		// than the packed Go kernel, and a product of one or two rows is a
		// matrix-vector product where packing B would dominate.
		Implementation{}.Implementation.Sgemm(tA, tB, m, n, k, alpha, a, lda, b, ldb, beta, c, ldc)
		return
	}
	transA := tA == blas.Trans || tA == blas.ConjTrans
	transB := tB == blas.Trans || tB == blas.ConjTrans
	sgemm(transA, transB, m, n, k, alpha, a, lda, b, ldb, beta, c, ldc)
}

func sgemm(transA, transB bool, m, n, k int, alpha float32, a []float32, lda int, b []float32, ldb int, beta float32, c []float32, ldc int) {
	if m == 0 || n == 0 {
		return
	}
	if beta != 1 {
		for i := 0; i < m; i++ {
			row := c[i*ldc : i*ldc+n]
			if beta == 0 {
				clear(row)
			} else {
				for j := range row {
					row[j] *= beta
				}
			}
		}
	}
	if k == 0 || alpha == 0 {
		return
	}
	bufs := packPool.Get().(*packBufs)
	defer packPool.Put(bufs)
	var tile [mr * nr]float32
	for jc := 0; jc < n; jc += nc {
		ncb := min(nc, n-jc)
		for pc := 0; pc < k; pc += kc {
			kcb := min(kc, k-pc)
			packB(bufs.b, b, ldb, transB, pc, jc, kcb, ncb)
			for ic := 0; ic < m; ic += mc {
				mcb := min(mc, m-ic)
				packA(bufs.a, a, lda, transA, ic, pc, mcb, kcb, alpha)
				for jr := 0; jr < ncb; jr += nr {
					cols := min(nr, ncb-jr)
					bp := bufs.b[jr*kcb : (jr+nr)*kcb]
					for ir := 0; ir < mcb; ir += mr {
						rows := min(mr, mcb-ir)
						ap := bufs.a[ir*kcb : (ir+mr)*kcb]
						ci := (ic+ir)*ldc + jc + jr
						if rows == mr && cols == nr {
							kernel6x16(kcb, ap, bp, c[ci:], ldc)
							continue
						}
						clear(tile[:])
						kernel6x16(kcb, ap, bp, tile[:], nr)
						for r := 0; r < rows; r++ {
							crow := c[ci+r*ldc : ci+r*ldc+cols]
							for j := range crow {
								crow[j] += tile[r*nr+j]
							}
						}
					}
				}
			}
		}
	}
}

// packA copies alpha·op(A)[ic:ic+mcb, pc:pc+kcb] into slivers of mr rows:
// sliver s holds, for p = 0…kcb−1, the mr values of column p (zero-padded).
func packA(dst, a []float32, lda int, trans bool, ic, pc, mcb, kcb int, alpha float32) {
	for s := 0; s < mcb; s += mr {
		out := dst[s*kcb : (s+mr)*kcb]
		rows := min(mr, mcb-s)
		if rows < mr {
			clear(out)
		}
		for r := 0; r < rows; r++ {
			i := ic + s + r
			if !trans {
				src := a[i*lda+pc : i*lda+pc+kcb]
				for p, v := range src {
					out[p*mr+r] = alpha * v
				}
			} else {
				for p := 0; p < kcb; p++ {
					out[p*mr+r] = alpha * a[(pc+p)*lda+i]
				}
			}
		}
	}
}

// packB copies op(B)[pc:pc+kcb, jc:jc+ncb] into slivers of nr columns:
// sliver s holds, for p = 0…kcb−1, the nr values of row p (zero-padded).
func packB(dst, b []float32, ldb int, trans bool, pc, jc, kcb, ncb int) {
	for s := 0; s < ncb; s += nr {
		out := dst[s*kcb : (s+nr)*kcb]
		cols := min(nr, ncb-s)
		if cols < nr {
			clear(out)
		}
		if !trans {
			for p := 0; p < kcb; p++ {
				src := b[(pc+p)*ldb+jc+s : (pc+p)*ldb+jc+s+cols]
				copy(out[p*nr:p*nr+cols], src)
			}
		} else {
			for j := 0; j < cols; j++ {
				src := b[(jc+s+j)*ldb+pc : (jc+s+j)*ldb+pc+kcb]
				for p, v := range src {
					out[p*nr+j] = v
				}
			}
		}
	}
}

// kernel6x16Generic adds the 6×16 product of packed slivers to c (row
// stride ldc): c[i][j] += Σ_p a[p·6+i]·b[p·16+j]. It is the specification
// of the assembly kernel.
func kernel6x16Generic(kc int, a, b, c []float32, ldc int) {
	var acc [mr * nr]float32
	for p := 0; p < kc; p++ {
		ap := a[p*mr : p*mr+mr]
		bp := b[p*nr : p*nr+nr]
		for i := 0; i < mr; i++ {
			ai := ap[i]
			row := acc[i*nr : i*nr+nr]
			for j := range row {
				row[j] += ai * bp[j]
			}
		}
	}
	for i := 0; i < mr; i++ {
		crow := c[i*ldc : i*ldc+nr]
		for j := range crow {
			crow[j] += acc[i*nr+j]
		}
	}
}
