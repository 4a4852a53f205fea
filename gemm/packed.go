package gemm

import (
	"fmt"

	"dinotracker/internal/parallel"
)

// KC is the block length of the inner dimension: every product sums each
// element's terms in runs of KC (fused multiply-adds in order), adding each
// run to C in turn. Splitting a product along the inner dimension at
// multiples of KC therefore leaves its results unchanged.
const KC = kc

// PackedA is alpha·op(A) packed once into the micro-kernel's layout, for
// products with many right-hand sides (a convolution's weights against
// every band of every image). The zero value is empty; Pack fills it and
// reuses its buffer.
type PackedA struct {
	m, k int
	mPad int // m rounded up to the kernel's mr
	kern *microKernel
	data []float32
}

// M and K give op(A)'s shape.
func (pa *PackedA) M() int { return pa.m }

// K gives the inner dimension of op(A).
func (pa *PackedA) K() int { return pa.k }

// packedKernel is the kernel MatMulPacked uses: the assembly one, else the
// Go definition (slower than gonum's loops, but the packed products have no
// gonum equivalent).
func packedKernel() *microKernel {
	if bestKernel != nil {
		return bestKernel
	}
	return &genericKernel
}

// Pack stores alpha·op(A) (m×k; A is m×k with row stride lda, or k×m when
// transA) in slivers: for each kc block of the inner dimension, for each
// group of mr rows, the block's columns in order, mr values each (rows past
// m are zero).
func (pa *PackedA) Pack(transA bool, m, k int, alpha float32, a []float32, lda int) {
	ar, ac := m, k
	if transA {
		ar, ac = k, m
	}
	check("A", a, ar, ac, lda)
	kern := packedKernel()
	mr := kern.mr
	pa.m, pa.k, pa.kern = m, k, kern
	pa.mPad = (m + mr - 1) / mr * mr
	if cap(pa.data) < pa.mPad*k {
		pa.data = make([]float32, pa.mPad*k)
	}
	pa.data = pa.data[:pa.mPad*k]
	slivers := pa.mPad / mr
	for pc := 0; pc < k; pc += kc {
		kcb := min(kc, k-pc)
		block := pa.data[pc*pa.mPad : pc*pa.mPad+pa.mPad*kcb]
		parallel.For(slivers, max(1, 64*1024/(mr*kcb)), func(lo, hi int) {
			// packA packs whole slivers of the rows it is given.
			packA(block[lo*mr*kcb:], a, lda, transA, lo*mr, pc, min(hi*mr, m)-lo*mr, kcb, alpha, mr)
		})
	}
}

// slivers returns the packed slivers of rows i, i+mr, … (i a multiple of
// mr) for the kc block that starts at pc, one after another.
func (pa *PackedA) slivers(pc, kcb, i int) []float32 {
	return pa.data[pc*pa.mPad+i*kcb : (pc+kcb)*pa.mPad]
}

// BPacker writes op(B)[pc:pc+kcb, jc:jc+ncb] into dst in slivers of nr
// columns: dst[s·kcb·nr + p·nr + j] = op(B)[pc+p, jc+s·nr+j], zero for
// columns at or past ncb. scratch has room for max(8·kcb, ncb) values and
// is the caller's to use. A packer is called from several goroutines at once
// (on disjoint dst), so it must not write shared state.
//
// A packer lets a product read a matrix that is never stored, such as a
// convolution's im2col matrix gathered straight from the image.
type BPacker func(dst, scratch []float32, pc, jc, kcb, ncb, nr int)

// MatrixB is the BPacker of a stored matrix: op(B) is B (k×n, row stride
// ldb) or, when trans, Bᵀ with B n×k.
func MatrixB(trans bool, b []float32, ldb int) BPacker {
	return func(dst, _ []float32, pc, jc, kcb, ncb, nr int) {
		packB(dst, b, ldb, trans, pc, jc, kcb, ncb, nr)
	}
}

// ScatterSlivers stores row p of a packed B block: for t < ncb,
// dst[(t/nr)·kcb·nr + p·nr + t%nr] = row[t], zero for t in [ncb, ⌈ncb/nr⌉·nr).
// Packers that gather one row of op(B) at a time use it.
func ScatterSlivers(dst, row []float32, p, kcb, ncb, nr int) {
	full := ncb / nr
	if full > 0 {
		scatterBlocks(dst[p*nr:], row, full, kcb*nr, nr, nil)
	}
	if rest := ncb - full*nr; rest > 0 {
		o := full*kcb*nr + p*nr
		copy(dst[o:o+rest], row[full*nr:ncb])
		clear(dst[o+rest : o+nr])
	}
}

// MatMulPacked computes C = op(A)·B + beta·C for a packed A (m×k, alpha
// folded in) and a B (k×n) supplied by packB; C is m×n with row stride ldc.
// The work is spread over GOMAXPROCS goroutines by columns of C (each packs
// its own part of B) or, when C has few columns, by rows. Each element of C
// accumulates over the inner dimension in the same order as MatMul's, so
// the results equal MatMul's with the same kernel bit for bit.
func MatMulPacked(pa *PackedA, n int, packB BPacker, beta float32, c []float32, ldc int) {
	m, k := pa.m, pa.k
	if m == 0 || n == 0 {
		return
	}
	check("C", c, m, n, ldc)
	// beta = 0 stores the first k panel's products instead of adding them
	// (C is neither cleared first nor read); when k = 0 there is no panel,
	// so the pass below clears C.
	zero := beta == 0 && k > 0
	if beta != 1 && !zero {
		parallel.For(m, max(1, 1<<16/n), func(lo, hi int) {
			scaleRows(c[lo*ldc:], ldc, hi-lo, n, beta)
		})
	}
	if k == 0 {
		return
	}
	mr, nr := pa.kern.mr, pa.kern.nr
	w := parallel.Workers()
	colSlivers := (n + nr - 1) / nr
	rowSlivers := pa.mPad / mr
	if colSlivers >= 4*w || colSlivers >= rowSlivers {
		parallel.For(colSlivers, max(1, (colSlivers+w-1)/w), func(lo, hi int) {
			pa.run(0, m, lo*nr, min(hi*nr, n), packB, zero, c, ldc)
		})
		return
	}
	parallel.For(rowSlivers, max(1, (rowSlivers+w-1)/w), func(lo, hi int) {
		pa.run(lo*mr, min(hi*mr, m), 0, n, packB, zero, c, ldc)
	})
}

// MatMulPackedSerial is MatMulPacked on the calling goroutine alone, for
// callers that spread independent products over the workers themselves.
// Its results equal MatMulPacked's bit for bit.
func MatMulPackedSerial(pa *PackedA, n int, packB BPacker, beta float32, c []float32, ldc int) {
	m, k := pa.m, pa.k
	if m == 0 || n == 0 {
		return
	}
	check("C", c, m, n, ldc)
	zero := beta == 0 && k > 0
	if beta != 1 && !zero {
		scaleRows(c, ldc, m, n, beta)
	}
	if k == 0 {
		return
	}
	pa.run(0, m, 0, n, packB, zero, c, ldc)
}

// run computes rows [i0, i1) × columns [j0, j1) of C; i0 is a multiple of
// mr. With zero set, the first k panel's products are stored, not added.
func (pa *PackedA) run(i0, i1, j0, j1 int, packB BPacker, zero bool, c []float32, ldc int) {
	kern := pa.kern
	mr, nr := kern.mr, kern.nr
	bufs := packPool.Get().(*packBufs)
	defer packPool.Put(bufs)
	if len(bufs.s) < max(8*kc, nc) {
		bufs.s = make([]float32, max(8*kc, nc))
	}
	var tileBuf [maxMR * maxNR]float32
	tile := tileBuf[:mr*nr]
	for jc := j0; jc < j1; jc += nc {
		ncb := min(nc, j1-jc)
		for pc := 0; pc < pa.k; pc += kc {
			kcb := min(kc, pa.k-pc)
			bp := bufs.b[:(ncb+nr-1)/nr*nr*kcb]
			packB(bp, bufs.s, pc, jc, kcb, ncb, nr)
			for ic := i0; ic < i1; ic += mc {
				mcb := min(mc, i1-ic)
				kern.block(kcb, pa.slivers(pc, kcb, ic), bp, c[ic*ldc+jc:], ldc, mcb, ncb, zero && pc == 0, tile)
			}
		}
	}
}

// String describes the packed matrix, for errors and logs.
func (pa *PackedA) String() string {
	if pa.kern == nil {
		return "PackedA(empty)"
	}
	return fmt.Sprintf("PackedA(%d×%d, %s kernel)", pa.m, pa.k, pa.kern.name)
}

// Micro is the register-blocked micro-kernel behind Sgemm and MatMulPacked,
// for fused drivers that lay out their operands themselves (the ViT's
// attention writes its scores straight into the packed layout of the next
// product).
type Micro struct{ k *microKernel }

// MicroKernel returns the kernel MatMulPacked uses: the fastest assembly
// kernel on this CPU, else the Go definition.
func MicroKernel() Micro { return Micro{packedKernel()} }

// MR is the number of rows of C one call computes.
func (m Micro) MR() int { return m.k.mr }

// NR is the number of columns of C one call computes.
func (m Micro) NR() int { return m.k.nr }

// Name names the kernel ("avx512", "avx2" or "go").
func (m Micro) Name() string { return m.k.name }

// Run adds the MR×NR product of packed slivers to c (row stride ldc):
// c[i][j] += Σ_{p<kc} a[p·MR+i]·b[p·NR+j], summing each element's kc terms
// in order with fused multiply-adds (the Go kernel with separate
// multiplies and adds). It panics when a slice is too short.
func (m Micro) Run(kc int, a, b, c []float32, ldc int) {
	if kc <= 0 {
		return
	}
	_ = a[kc*m.k.mr-1]
	_ = b[kc*m.k.nr-1]
	_ = c[(m.k.mr-1)*ldc+m.k.nr-1]
	m.k.fn(kc, a, b, c, ldc, false)
}

// Set is Run storing the product instead of adding it: c[i][j] =
// Σ_{p<kc} a[p·MR+i]·b[p·NR+j] (c is not read; kc = 0 stores zeros).
func (m Micro) Set(kc int, a, b, c []float32, ldc int) {
	_ = c[(m.k.mr-1)*ldc+m.k.nr-1]
	if kc > 0 {
		_ = a[kc*m.k.mr-1]
		_ = b[kc*m.k.nr-1]
	}
	m.k.fn(kc, a, b, c, ldc, true)
}

// scatterBlocksGo is the portable scatterBlocks.
func scatterBlocksGo(dst, src []float32, blocks, stride, nr int) {
	switch nr {
	case 32:
		for s := 0; s < blocks; s++ {
			*(*[32]float32)(dst[s*stride : s*stride+32]) = *(*[32]float32)(src[s*32 : s*32+32])
		}
	case 16:
		for s := 0; s < blocks; s++ {
			*(*[16]float32)(dst[s*stride : s*stride+16]) = *(*[16]float32)(src[s*16 : s*16+16])
		}
	default:
		for s := 0; s < blocks; s++ {
			copy(dst[s*stride:s*stride+nr], src[s*nr:s*nr+nr])
		}
	}
}
