package gemm

// SmallRows is the most rows MatMulSmall takes.
const SmallRows = 4

// smallCols is MatMulSmall's column block: its partial sums (SmallRows ×
// smallCols values) live on the stack.
const smallCols = 512

// MatMulSmall computes C = A·B for at most SmallRows rows (A m×k and B k×n
// row-major with row strides lda and ldb, C m×n with row stride ldc; no
// transposes, alpha 1, beta 0) with a kernel that reads B in place instead
// of packing it: with so few rows, each value of B is used m times, and
// packing would cost more than the product. The results are MatMulKernel's
// bits for the same operands: every element sums its k terms in order with
// fused multiply-adds, one k panel at a time, the panels added in order.
// It returns false, computing nothing, when this build or CPU has no such
// kernel.
func MatMulSmall(m, n, k int, a []float32, lda int, b []float32, ldb int, c []float32, ldc int) bool {
	if m < 1 || m > SmallRows || n < 1 || k < 1 || !smallKernel() {
		return false
	}
	check("A", a, m, k, lda)
	check("B", b, k, n, ldb)
	check("C", c, m, n, ldc)
	whole := n &^ 15
	var buf [SmallRows * smallCols]float32
	for j0 := 0; j0 < whole; j0 += smallCols {
		nb := min(smallCols, whole-j0)
		acc := buf[:m*nb]
		for pc := 0; pc < k; pc += kc {
			smallPanel(m, nb, min(kc, k-pc), a[pc:], lda, b[pc*ldb+j0:], ldb, acc)
			for i := 0; i < m; i++ {
				row, sum := c[i*ldc+j0:i*ldc+j0+nb], acc[i*nb:(i+1)*nb]
				if pc == 0 {
					copy(row, sum)
					continue
				}
				for j, v := range sum {
					row[j] += v
				}
			}
		}
	}
	if whole < n {
		MatMulKernel(false, false, m, n-whole, k, 1, a, lda, b[whole:], ldb, 0, c[whole:], ldc)
	}
	return true
}
