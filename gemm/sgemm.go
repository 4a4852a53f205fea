package gemm

import (
	"sync"

	"gonum.org/v1/gonum/blas"
	"gonum.org/v1/gonum/blas/gonum"
)

// Implementation is gonum's pure-Go BLAS with a faster Sgemm: packed,
// cache-blocked panels and a register-blocked micro-kernel (AVX-512 12×32 or
// AVX2/FMA 6×16 assembly on amd64, chosen at start-up from the CPU's
// features; a Go loop elsewhere or with the build tag noasm). The default
// build installs it with blas32.Use, so every blas32.Gemm in the process uses
// it. Sgemm itself runs on the calling goroutine; MatMul splits large
// products across goroutines.
//
// Every kernel accumulates each element of C over p = 0…kc−1 in order with
// fused multiply-adds before adding it to C, so the AVX2 and AVX-512 kernels
// give bit-identical results.
type Implementation struct{ gonum.Implementation }

// Block sizes: an mr×kc A sliver (6 or 12 KB) stays in L1 while the kc×nr B
// slivers of the kc×nc B panel (1 MB) stream from L2 (the broadcast operand
// stays, the vector operand streams, as in BLIS); the mc×kc A block (96 KB)
// is packed once per panel. mc and nc are multiples of every kernel's mr
// and nr.
const (
	kc    = 256
	mc    = 96
	nc    = 1024
	maxMR = 12
	maxNR = 32
)

// microKernel adds the mr×nr product of packed slivers into c (row stride
// ldc): c[i][j] += Σ_p a[p·mr+i]·b[p·nr+j] for p < kc.
type microKernel struct {
	name   string
	mr, nr int
	// fn adds the product of packed slivers to c, or with set stores it
	// (c is then not read).
	fn func(kc int, a, b, c []float32, ldc int, set bool)
}

// genericKernel is the Go definition every assembly kernel must match.
var genericKernel = microKernel{name: "go", mr: 6, nr: 16, fn: func(kc int, a, b, c []float32, ldc int, set bool) {
	kernelGeneric(6, 16, kc, a, b, c, ldc, set)
}}

// bestKernel is the fastest kernel this CPU runs (assemblyKernels()[0]), or
// nil when there is none and gonum's own Sgemm is used.
var bestKernel = func() *microKernel {
	if ks := assemblyKernels(); len(ks) > 0 {
		return &ks[0]
	}
	return nil
}()

// Kernel names the Sgemm micro-kernel in use: "avx512", "avx2", "gonum"
// (gonum's own loops, used without an assembly kernel) or "openblas" (the
// build tag openblas).
func Kernel() string {
	if backendName == "openblas" {
		return "openblas"
	}
	if bestKernel == nil {
		return "gonum"
	}
	return bestKernel.name
}

// packBufs are one goroutine's packing buffers: an A block, a B panel and
// scratch for MatMulPacked's packers.
type packBufs struct{ a, b, s []float32 }

var packPool = sync.Pool{New: func() any {
	return &packBufs{a: make([]float32, mc*kc), b: make([]float32, kc*nc)}
}}

// Sgemm computes C = alpha·op(A)·op(B) + beta·C (row-major, as gonum's
// blas32 passes it) with the packed kernel.
func (Implementation) Sgemm(tA, tB blas.Transpose, m, n, k int, alpha float32, a []float32, lda int, b []float32, ldb int, beta float32, c []float32, ldc int) {
	if bestKernel == nil || m < 3 {
		// Without an assembly kernel gonum's own blocked loops are faster
		// than the packed Go kernel, and a product of one or two rows is a
		// matrix-vector product where packing B would dominate.
		Implementation{}.Implementation.Sgemm(tA, tB, m, n, k, alpha, a, lda, b, ldb, beta, c, ldc)
		return
	}
	transA := tA == blas.Trans || tA == blas.ConjTrans
	transB := tB == blas.Trans || tB == blas.ConjTrans
	sgemm(bestKernel, transA, transB, m, n, k, alpha, a, lda, b, ldb, beta, c, ldc)
}

// MatMulKernel is MatMulSerial through the project's own packed
// micro-kernel whatever the BLAS backend (-tags openblas included), and the
// Go definition of that kernel where there is no assembly one: every
// element of C sums its k terms in the same order as MatMulPacked does and
// whatever m is, so a row's result does not depend on the other rows of
// the batch. For callers that promise exactly that (the track engine) and
// for tests that compare packed products bit for bit.
func MatMulKernel(transA, transB bool, m, n, k int, alpha float32, a []float32, lda int, b []float32, ldb int, beta float32, c []float32, ldc int) {
	ar, ac := m, k
	if transA {
		ar, ac = k, m
	}
	br, bc := k, n
	if transB {
		br, bc = n, k
	}
	check("A", a, ar, ac, lda)
	check("B", b, br, bc, ldb)
	check("C", c, m, n, ldc)
	sgemm(packedKernel(), transA, transB, m, n, k, alpha, a, lda, b, ldb, beta, c, ldc)
}

func sgemm(kern *microKernel, transA, transB bool, m, n, k int, alpha float32, a []float32, lda int, b []float32, ldb int, beta float32, c []float32, ldc int) {
	if m == 0 || n == 0 {
		return
	}
	// beta = 0 stores the first k panel's products instead of adding them
	// (C is not read, so not cleared first).
	zero := beta == 0 && k > 0 && alpha != 0
	if beta != 1 && !zero {
		scaleRows(c, ldc, m, n, beta)
	}
	if k == 0 || alpha == 0 {
		return
	}
	mr, nr := kern.mr, kern.nr
	bufs := packPool.Get().(*packBufs)
	defer packPool.Put(bufs)
	var tileBuf [maxMR * maxNR]float32
	tile := tileBuf[:mr*nr]
	for jc := 0; jc < n; jc += nc {
		ncb := min(nc, n-jc)
		for pc := 0; pc < k; pc += kc {
			kcb := min(kc, k-pc)
			packB(bufs.b, b, ldb, transB, pc, jc, kcb, ncb, nr)
			for ic := 0; ic < m; ic += mc {
				mcb := min(mc, m-ic)
				packA(bufs.a, a, lda, transA, ic, pc, mcb, kcb, alpha, mr)
				kern.block(kcb, bufs.a, bufs.b, c[ic*ldc+jc:], ldc, mcb, ncb, zero && pc == 0, tile)
			}
		}
	}
}

// packA copies alpha·op(A)[ic:ic+mcb, pc:pc+kcb] into slivers of mr rows:
// sliver s holds, for p = 0…kcb−1, the mr values of column p (zero-padded).
func packA(dst, a []float32, lda int, trans bool, ic, pc, mcb, kcb int, alpha float32, mr int) {
	for s := 0; s < mcb; s += mr {
		out := dst[s*kcb : (s+mr)*kcb]
		rows := min(mr, mcb-s)
		if rows < mr {
			clear(out)
		}
		if !trans && rows == mr && (mr == 12 || mr == 6) {
			packA6(out, a, lda, ic+s, pc, kcb, alpha, mr)
			continue
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

// packA6 packs a whole sliver of mr = 6 or 12 rows of A (not transposed)
// six rows at a time, so that each k step writes six adjacent values
// rather than one (the same products as packA's loop).
func packA6(out, a []float32, lda, i0, pc, kcb int, alpha float32, mr int) {
	for r0 := 0; r0 < mr; r0 += 6 {
		o := (i0+r0)*lda + pc
		a0 := a[o : o+kcb]
		a1 := a[o+lda : o+lda+kcb]
		a2 := a[o+2*lda : o+2*lda+kcb]
		a3 := a[o+3*lda : o+3*lda+kcb]
		a4 := a[o+4*lda : o+4*lda+kcb]
		a5 := a[o+5*lda : o+5*lda+kcb]
		for p := range a0 {
			d := (*[6]float32)(out[p*mr+r0 : p*mr+r0+6])
			d[0], d[1], d[2] = alpha*a0[p], alpha*a1[p], alpha*a2[p]
			d[3], d[4], d[5] = alpha*a3[p], alpha*a4[p], alpha*a5[p]
		}
	}
}

// packB copies op(B)[pc:pc+kcb, jc:jc+ncb] into slivers of nr columns:
// sliver s holds, for p = 0…kcb−1, the nr values of row p (zero-padded).
func packB(dst, b []float32, ldb int, trans bool, pc, jc, kcb, ncb, nr int) {
	if !trans && (nr == 32 || nr == 16) && ncb >= nr {
		// Whole slivers row by row: each row of B is read as one
		// contiguous run (prefetch-friendly for a large ldb) and scattered
		// into the slivers; the rest below.
		full := ncb / nr * nr
		for p := 0; p < kcb; p++ {
			row := b[(pc+p)*ldb+jc : (pc+p)*ldb+jc+full]
			// The row two ahead is prefetched while this one is copied: rows
			// are ldb apart, beyond the reach of the hardware prefetchers.
			var next []float32
			if p+2 < kcb {
				next = b[(pc+p+2)*ldb+jc : (pc+p+2)*ldb+jc+full]
			}
			scatterBlocks(dst[p*nr:], row, full/nr, kcb*nr, nr, next)
		}
		if full < ncb {
			packBSlivers(dst[full*kcb:], b, ldb, trans, pc, jc+full, kcb, ncb-full, nr)
		}
		return
	}
	packBSlivers(dst, b, ldb, trans, pc, jc, kcb, ncb, nr)
}

// packBSlivers is packB one sliver at a time.
func packBSlivers(dst, b []float32, ldb int, trans bool, pc, jc, kcb, ncb, nr int) {
	for s := 0; s < ncb; s += nr {
		out := dst[s*kcb : (s+nr)*kcb]
		cols := min(nr, ncb-s)
		if cols < nr {
			clear(out)
		}
		if !trans {
			// Whole slivers copy as fixed-size arrays (inline vector moves
			// rather than a memmove call per 64 or 128 bytes).
			switch {
			case cols == 32 && nr == 32:
				for p := 0; p < kcb; p++ {
					o := (pc+p)*ldb + jc + s
					*(*[32]float32)(out[p*32 : p*32+32]) = *(*[32]float32)(b[o : o+32])
				}
			case cols == 16 && nr == 16:
				for p := 0; p < kcb; p++ {
					o := (pc+p)*ldb + jc + s
					*(*[16]float32)(out[p*16 : p*16+16]) = *(*[16]float32)(b[o : o+16])
				}
			default:
				for p := 0; p < kcb; p++ {
					src := b[(pc+p)*ldb+jc+s : (pc+p)*ldb+jc+s+cols]
					copy(out[p*nr:p*nr+cols], src)
				}
			}
		} else {
			// Eight rows of stored B at a time, so that each k step writes
			// eight adjacent values of the sliver rather than one.
			j := 0
			for ; j+8 <= cols; j += 8 {
				o := (jc+s+j)*ldb + pc
				r0 := b[o : o+kcb]
				r1 := b[o+ldb : o+ldb+kcb]
				r2 := b[o+2*ldb : o+2*ldb+kcb]
				r3 := b[o+3*ldb : o+3*ldb+kcb]
				r4 := b[o+4*ldb : o+4*ldb+kcb]
				r5 := b[o+5*ldb : o+5*ldb+kcb]
				r6 := b[o+6*ldb : o+6*ldb+kcb]
				r7 := b[o+7*ldb : o+7*ldb+kcb]
				for p := range r0 {
					d := (*[8]float32)(out[p*nr+j : p*nr+j+8])
					d[0], d[1], d[2], d[3] = r0[p], r1[p], r2[p], r3[p]
					d[4], d[5], d[6], d[7] = r4[p], r5[p], r6[p], r7[p]
				}
			}
			for ; j < cols; j++ {
				src := b[(jc+s+j)*ldb+pc : (jc+s+j)*ldb+pc+kcb]
				for p, v := range src {
					out[p*nr+j] = v
				}
			}
		}
	}
}

// scaleRows sets the first n values of m rows of c (row stride ldc) to
// beta times themselves: 0 when beta = 0 (BLAS semantics: NaN and
// infinities in C do not survive).
func scaleRows(c []float32, ldc, m, n int, beta float32) {
	for i := 0; i < m; i++ {
		row := c[i*ldc : i*ldc+n]
		if beta == 0 {
			clear(row)
			continue
		}
		for j := range row {
			row[j] *= beta
		}
	}
}

// block runs the kernel over an mcb×ncb block of C (c at its first
// element, row stride ldc) for one kc panel: A slivers of mr rows at
// a[ir·kcb:], B slivers of nr columns at b[jr·kcb:]. Edge tiles go through
// tile (mr·nr values). With set the products are stored, not added.
func (kern *microKernel) block(kcb int, a, b, c []float32, ldc, mcb, ncb int, set bool, tile []float32) {
	mr, nr := kern.mr, kern.nr
	for ir := 0; ir < mcb; ir += mr {
		rows := min(mr, mcb-ir)
		ap := a[ir*kcb : (ir+mr)*kcb]
		for jr := 0; jr < ncb; jr += nr {
			cols := min(nr, ncb-jr)
			bp := b[jr*kcb : (jr+nr)*kcb]
			ci := ir*ldc + jr
			if rows == mr && cols == nr {
				kern.fn(kcb, ap, bp, c[ci:], ldc, set)
				continue
			}
			kern.fn(kcb, ap, bp, tile, nr, true)
			addTile(c[ci:], ldc, tile, nr, rows, cols, set)
		}
	}
}

// addTile adds (or with set stores) the rows×cols corner of an edge tile
// (row stride nr) into c (row stride ldc).
func addTile(c []float32, ldc int, tile []float32, nr, rows, cols int, set bool) {
	for r := 0; r < rows; r++ {
		crow := c[r*ldc : r*ldc+cols]
		if set {
			copy(crow, tile[r*nr:r*nr+cols])
			continue
		}
		for j := range crow {
			crow[j] += tile[r*nr+j]
		}
	}
}

// kernelGeneric adds the mr×nr product of packed slivers to c (row stride
// ldc): c[i][j] += Σ_p a[p·mr+i]·b[p·nr+j]; with set it stores the sums
// instead (c is not read). It is the specification of the assembly
// kernels.
func kernelGeneric(mr, nr, kc int, a, b, c []float32, ldc int, set bool) {
	var accBuf [maxMR * maxNR]float32
	acc := accBuf[:mr*nr]
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
	addTile(c, ldc, acc, nr, mr, nr, set)
}
