package vit

import (
	"math"
	"sync"
	"sync/atomic"

	"dinotracker/gemm"
	"dinotracker/internal/parallel"
)

// Fused attention.
//
// For each head, softmax(q·kᵀ/√d)·v is computed in tiles of attnTile
// queries with gemm's micro-kernel on operands laid out here, so that
// nothing is repacked per tile except the tile's own queries:
//
//   - K (scaled by 1/√d) is packed once per head into slivers of MR keys
//     (the kernel's A operand), and Vᵀ once per head into slivers of MR
//     head dimensions over blocks of kb keys (A operand of the second
//     product).
//   - The scores are computed transposed, Sᵀ = K·Qᵀ (keys × queries), and
//     the kernel stores them straight into the packed B layout of the second
//     product: per block of kb keys, per sliver of NR queries, a kb×NR
//     panel (so kb is a multiple of MR and no key sliver straddles two
//     blocks).
//   - The softmax runs down each query's lane of those panels (max, then
//     exp(x − max) and the sum, 8 lanes at a time), and Oᵀ = Vᵀ·P comes out
//     of a second series of kernel calls, divided by the sums when it is
//     copied out.
//
// A worker holds one tile's panels (tokens × attnTile values); every head's
// packed K and Vᵀ (2·tokens·head-dim values per head) are shared.

// attnScratch is one worker's buffers.
type attnScratch struct {
	qp   []float32 // Qᵀ of the tile, packed as B: nqs slivers of hd×NR
	sp   []float32 // the scores/probabilities, packed as B (see above)
	ot   []float32 // Oᵀ: hdPad × nqs·NR
	tile []float32 // MR×NR partial kernel output
	mx   []float32 // per-lane running max (NR·nqs)
	bm   []float32 // per-lane max of the current block
	fac  []float32 // per-lane rescaling factor of the current block
	sum  []float64 // per-lane sum
	ls   []float32 // one block's per-lane float32 sums
}

// attentionFused computes softmax(q·kᵀ/√d)·v for every head from ws.qkv
// into ws.attn, as attention does, with the fused layout above.
func (m *Model) attentionFused(ws *workspace, T int) {
	D := m.Dim
	hd := m.HeadDim()
	mk := gemm.MicroKernel()
	MR, NR := mk.MR(), mk.NR()
	kb := max(MR, gemm.KC/MR*MR) // keys per block
	scale := float32(1 / math.Sqrt(float64(hd)))
	qkv := ws.qkv
	heads := m.Heads
	tPad := (T + MR - 1) / MR * MR
	hdPad := (hd + MR - 1) / MR * MR
	nb := (T + kb - 1) / kb

	// Pack every head's K (scaled) and Vᵀ once.
	ws.kp = grow(ws.kp, heads*tPad*hd)
	ws.vp = grow(ws.vp, heads*hdPad*T)
	kp, vp := ws.kp, ws.vp
	parallel.For(heads*nb, 1, func(lo, hi int) {
		for it := lo; it < hi; it++ {
			h, b := it/nb, it%nb
			k0 := b * kb
			kcb := min(kb, T-k0)
			// K slivers of this block's keys: kp[h][s·MR·hd + d·MR + r].
			kh := kp[h*tPad*hd:]
			for s := k0 / MR; s*MR < k0+kcb; s++ {
				packHeadSliver(kh[s*MR*hd:(s+1)*MR*hd], qkv, 3*D, D+h*hd, hd, s*MR, MR, T, scale)
			}
			// Vᵀ block: vp[h][k0·hdPad + ds·MR·kcb + p·MR + r] = V[k0+p][ds·MR+r].
			vb := vp[h*hdPad*T+k0*hdPad : h*hdPad*T+k0*hdPad+hdPad*kcb]
			for p := 0; p < kcb; p++ {
				src := qkv[(k0+p)*3*D+2*D+h*hd : (k0+p)*3*D+2*D+h*hd+hd]
				for d := 0; d < hdPad; d++ {
					var v float32
					if d < hd {
						v = src[d]
					}
					vb[(d/MR)*MR*kcb+p*MR+d%MR] = v
				}
			}
		}
	})

	job := &attnJob{qkv: qkv, kp: kp, vp: vp, out: ws.attn, D: D, hd: hd, T: T, kb: kb, tPad: tPad, hdPad: hdPad, mk: mk}
	tiles := (T + attnTile - 1) / attnTile
	items := heads * tiles
	workers := min(parallel.Workers(), items)
	nqs := (attnTile + NR - 1) / NR
	var next atomic.Int64
	var wg sync.WaitGroup
	for len(ws.asc) < workers {
		ws.asc = append(ws.asc, new(attnScratch))
	}
	for wk := 0; wk < workers; wk++ {
		sc := ws.asc[wk]
		sc.qp = grow(sc.qp, nqs*hd*NR)
		sc.sp = grow(sc.sp, kb*nqs*NR)
		sc.ot = grow(sc.ot, hdPad*nqs*NR)
		sc.tile = grow(sc.tile, MR*NR)
		sc.mx = grow(sc.mx, nqs*NR)
		sc.bm = grow(sc.bm, nqs*NR)
		sc.fac = grow(sc.fac, nqs*NR)
		sc.ls = grow(sc.ls, NR)
		if len(sc.sum) < nqs*NR {
			sc.sum = make([]float64, nqs*NR)
		}
		wg.Add(1)
		go func() {
			defer wg.Done()
			for {
				it := int(next.Add(1) - 1)
				if it >= items {
					return
				}
				h, q0 := it/tiles, (it%tiles)*attnTile
				rows := min(attnTile, T-q0)
				job.tile(sc, h, q0, rows)
			}
		}()
	}
	wg.Wait()
}

// attnJob is one attention call's shared, read-only state: the qkv rows,
// every head's packed K and Vᵀ, the output, and the sizes.
type attnJob struct {
	qkv, kp, vp, out          []float32
	D, hd, T, kb, tPad, hdPad int
	mk                        gemm.Micro
}

// tile computes head h's output for queries [q0, q0+rows).
func (j *attnJob) tile(sc *attnScratch, h, q0, rows int) {
	D, hd, T, kb, tPad, hdPad, mk := j.D, j.hd, j.T, j.kb, j.tPad, j.hdPad, j.mk
	MR, NR := mk.MR(), mk.NR()
	nqs := (rows + NR - 1) / NR
	ldo := nqs * NR
	// Qᵀ packed as B: qp[qs·hd·NR + d·NR + j] = Q[q0+qs·NR+j][d].
	qp := sc.qp[:nqs*hd*NR]
	for qs := 0; qs < nqs; qs++ {
		packHeadSliver(qp[qs*hd*NR:(qs+1)*hd*NR], j.qkv, 3*D, h*hd, hd, q0+qs*NR, NR, q0+rows, 1)
	}
	// Online softmax over blocks of kb keys: per block, Sᵀ = K·Qᵀ into the
	// packed panels, the block's per-lane max, rescaling of the running sums
	// and of Oᵀ where a lane's max grew, exp, and Oᵀ += Vᵀ·P.
	mx := sc.mx[:ldo]
	bm := sc.bm[:ldo]
	fac := sc.fac[:ldo]
	for i := range mx {
		mx[i] = float32(math.Inf(-1))
	}
	sum := sc.sum[:ldo]
	clear(sum)
	ot := sc.ot[:hdPad*ldo]
	clear(ot)
	kh := j.kp[h*tPad*hd:]
	vh := j.vp[h*hdPad*T:]
	for k0 := 0; k0 < T; k0 += kb {
		kcb := min(kb, T-k0)
		blk := sc.sp[:kcb*ldo]
		for r0 := 0; r0 < kcb; r0 += MR {
			a := kh[(k0+r0)*hd : (k0+r0+MR)*hd]
			full := r0+MR <= kcb
			for qs := 0; qs < nqs; qs++ {
				b := qp[qs*hd*NR : (qs+1)*hd*NR]
				if full {
					mk.Set(hd, a, b, blk[qs*kcb*NR+r0*NR:], NR)
					continue
				}
				mk.Set(hd, a, b, sc.tile, NR)
				copy(blk[qs*kcb*NR+r0*NR:qs*kcb*NR+kcb*NR], sc.tile[:(kcb-r0)*NR])
			}
		}
		for i := range bm {
			bm[i] = float32(math.Inf(-1))
		}
		for qs := 0; qs < nqs; qs++ {
			maxLanes(blk[qs*kcb*NR:(qs+1)*kcb*NR], kcb, NR, bm[qs*NR:(qs+1)*NR])
		}
		rescale := false
		for l, v := range bm {
			fac[l] = 1
			if v > mx[l] {
				fac[l] = expNeg(mx[l] - v)
				sum[l] *= float64(fac[l])
				mx[l] = v
				rescale = true
			}
		}
		if rescale && k0 > 0 {
			for d := 0; d < hd; d++ {
				mulLanes(ot[d*ldo:(d+1)*ldo], fac)
			}
		}
		for qs := 0; qs < nqs; qs++ {
			expLanes(blk[qs*kcb*NR:(qs+1)*kcb*NR], kcb, NR, mx[qs*NR:(qs+1)*NR], sc.ls)
			for l, v := range sc.ls[:NR] {
				sum[qs*NR+l] += float64(v)
			}
		}
		vb := vh[k0*hdPad : k0*hdPad+hdPad*kcb]
		for ds := 0; ds < hdPad/MR; ds++ {
			a := vb[ds*MR*kcb : (ds+1)*MR*kcb]
			for qs := 0; qs < nqs; qs++ {
				mk.Run(kcb, a, blk[qs*kcb*NR:(qs+1)*kcb*NR], ot[ds*MR*ldo+qs*NR:], ldo)
			}
		}
	}
	out := j.out
	for q := 0; q < rows; q++ {
		inv := float32(1 / sum[q])
		o := out[(q0+q)*D+h*hd : (q0+q)*D+h*hd+hd]
		for d := range o {
			o[d] = ot[d*ldo+q] * inv
		}
	}
}

// packHeadSliver packs one head's hd columns (from column off) of the w
// token rows r0, r0+1, … of x (row stride ld) transposed, scaled by scale:
// dst[d·w + r] = x[(r0+r)·ld + off + d]·scale, and 0 for rows at or past
// limit. It lays out K as the micro-kernel's A slivers and Qᵀ as its B
// slivers.
func packHeadSliver(dst, x []float32, ld, off, hd, r0, w, limit int, scale float32) {
	dst = dst[:hd*w]
	for r := 0; r < w; r++ {
		if r0+r >= limit {
			for d := 0; d < hd; d++ {
				dst[d*w+r] = 0
			}
			continue
		}
		src := x[(r0+r)*ld+off : (r0+r)*ld+off+hd]
		for d, v := range src {
			dst[d*w+r] = v * scale
		}
	}
}

// mulLanes multiplies row[l] by f[l] for l < len(f) (a multiple of 8).
func mulLanes(row, f []float32) {
	n := len(f)
	row = row[:n]
	if useAVX2 && n > 0 {
		mulLanesAVX2(&row[0], &f[0], n)
		return
	}
	for l, v := range f {
		row[l] *= v
	}
}

// maxLanes sets mx[l] = max(mx[l], x[r·w+l]) over rows r < rows, for lanes
// l < w (w a multiple of 8).
func maxLanes(x []float32, rows, w int, mx []float32) {
	if rows == 0 {
		return
	}
	_ = x[rows*w-1]
	_ = mx[w-1]
	if useAVX512 && w%32 == 0 {
		for l := 0; l < w; l += 32 {
			maxLanes32AVX512(&x[l], rows, 4*w, &mx[l])
		}
		return
	}
	if useAVX2 {
		for l := 0; l < w; l += 8 {
			maxLanes8AVX2(&x[l], rows, 4*w, &mx[l])
		}
		return
	}
	for r := 0; r < rows; r++ {
		row := x[r*w : r*w+w]
		for l, v := range row {
			mx[l] = max(mx[l], v)
		}
	}
}

// expLanes replaces x[r·w+l] with exp(x − shift[l]) (expNeg, clamped at
// −87) over rows r < rows and lanes l < w, and stores each lane's float32
// sum (in row order) in sums[l].
func expLanes(x []float32, rows, w int, shift, sums []float32) {
	if rows == 0 {
		clear(sums[:w])
		return
	}
	_ = x[rows*w-1]
	_, _ = shift[w-1], sums[w-1]
	if useAVX512 && w%32 == 0 {
		for l := 0; l < w; l += 32 {
			expLanes32AVX512(&x[l], rows, 4*w, &shift[l], &sums[l])
		}
		return
	}
	if useAVX2 {
		for l := 0; l < w; l += 8 {
			expLanes8AVX2(&x[l], rows, 4*w, &shift[l], &sums[l])
		}
		return
	}
	clear(sums[:w])
	for r := 0; r < rows; r++ {
		row := x[r*w : r*w+w]
		for l, v := range row {
			e := expNeg(v - shift[l])
			row[l] = e
			sums[l] += e
		}
	}
}
