package nn

import (
	"sync"

	"dinotracker/internal/parallel"
)

// Depthwise convolution (Groups = Cin = Cout): one KH×KW filter per channel.
//
// Both passes work on padded rows. A padded row is an input row with its
// PadLeft/PadRight columns filled in (reflected or zero), split into Stride
// phases (phase p holds padded columns p, p+Stride, …). Tap (ky, kx) of
// output column ox reads padded column ox·Stride + kx·Dilation, which is
// entry ox + kx·Dilation/Stride of phase kx·Dilation%Stride: every tap is a
// contiguous slice aligned with the output row, so the inner loops are
// branch-free multi-axpys and dot products over contiguous slices
// (dwAxpy, dwDots) whatever the stride, dilation or padding. Padded rows are
// built once per plane in a small ring (dwRing) as the output rows advance.
//
// The input gradient is a gather (transposed convolution): each padded
// input-gradient row is computed phase by phase from zero-extended dout rows,
// then folded into dx (reflected columns and rows add into the input
// positions they mirror; zero-padded ones are dropped).
//
// Summation orders are fixed by the shape, so results do not depend on
// GOMAXPROCS. The forward pass sums, for each output, the bias then the taps
// in (ky, kx) order with float32 rounding after every multiply and every add
// (the order of the former per-tap loop); the weight gradient sums each row
// in float32 and the rows in float64, per channel.

// dwTap is one term of a depthwise row kernel: w times src, where src is
// aligned with the destination row (src[i] pairs with destination i).
type dwTap struct {
	w   float32
	src []float32
}

// dwRing caches padded copies of the rows of one plane, keyed by row index.
// A key lives in slot key % slots, so any slots consecutive keys can be held
// at once.
type dwRing struct {
	buf    []float32
	tag    []int
	stride int // floats per slot
}

// reset sizes the ring for slots rows of stride floats and forgets its
// contents; with zero set, the buffer is also cleared.
func (r *dwRing) reset(slots, stride int, zero bool) {
	r.stride = stride
	r.buf = growF(r.buf, slots*stride)
	if cap(r.tag) < slots {
		r.tag = make([]int, slots)
	}
	r.tag = r.tag[:slots]
	for i := range r.tag {
		r.tag[i] = -1
	}
	if zero {
		clear(r.buf)
	}
}

// get returns the slot for key and whether it already holds that row; when
// it does not, the caller must fill it.
func (r *dwRing) get(key int) ([]float32, bool) {
	i := key % len(r.tag)
	row := r.buf[i*r.stride : (i+1)*r.stride]
	if r.tag[i] == key {
		return row, true
	}
	r.tag[i] = key
	return row, false
}

// dwScratch is one goroutine's scratch for the depthwise passes.
type dwScratch struct {
	xr, dyr dwRing    // padded input rows; zero-extended dout rows
	pad     []float32 // one padded row before its phase split
	grow    []float32 // one padded input-gradient row
	phase   []float32 // one phase of it
	taps    []dwTap
	ptaps   [][]dwTap // input-gradient taps per phase
	tapIdx  []int     // ky*KW+kx of each weight-gradient tap
	dots    []float32
	acc     []float64
}

var dwPool = sync.Pool{New: func() any { return new(dwScratch) }}

// dwGeom holds the derived sizes of a depthwise shape.
type dwGeom struct {
	oh, ow, hw, ohw, kk int
	wp                  int // padded width PadLeft+W+PadRight
	lq                  int // entries per phase of a padded row, ⌈wp/Stride⌉
	span                int // padded rows one output row reads, (KH-1)·Dilation+1
}

// newDWGeom derives the sizes of normalised shape s.
func newDWGeom(s ConvShape) dwGeom {
	g := dwGeom{oh: s.OutH(), ow: s.OutW(), hw: s.H * s.W, kk: s.KH * s.KW}
	g.ohw = g.oh * g.ow
	g.wp = s.PadLeft + s.W + s.PadRight
	g.lq = (g.wp + s.Stride - 1) / s.Stride
	g.span = (s.KH-1)*s.Dilation + 1
	return g
}

// padRow writes input row src (W values) into dst[:PadLeft+W+PadRight] with
// its left and right padding.
func padRow(dst, src []float32, s ConvShape) {
	pl, w := s.PadLeft, s.W
	copy(dst[pl:pl+w], src)
	left, right := dst[:pl], dst[pl+w:pl+w+s.PadRight]
	if s.Mode == PadReflect {
		for j := range left {
			left[j] = src[pl-j]
		}
		for j := range right {
			right[j] = src[w-2-j]
		}
		return
	}
	clear(left)
	clear(right)
}

// xRow returns padded row pr (input row iy) of plane xp from the ring,
// phase-split as described at the top of this file.
func (sc *dwScratch) xRow(xp []float32, pr, iy int, s ConvShape, g *dwGeom) []float32 {
	row, ok := sc.xr.get(pr)
	if ok {
		return row
	}
	src := xp[iy*s.W : (iy+1)*s.W]
	if s.Stride == 1 {
		padRow(row, src, s)
		return row
	}
	sc.pad = growF(sc.pad, g.wp)
	padRow(sc.pad, src, s)
	if s.Stride == 2 {
		n := g.wp / 2
		dwDeinterleave2(row[:n], row[g.lq:g.lq+n], sc.pad[:2*n])
		if g.wp%2 == 1 {
			row[n] = sc.pad[g.wp-1]
		}
		return row
	}
	for pc, v := range sc.pad {
		row[pc%s.Stride*g.lq+pc/s.Stride] = v
	}
	return row
}

// xTap returns the source of tap kx in padded row row: ow values.
func xTap(row []float32, kx int, s ConvShape, g *dwGeom) []float32 {
	o := kx * s.Dilation
	st := o%s.Stride*g.lq + o/s.Stride
	return row[st : st+g.ow]
}

// depthwiseForward computes out = depthwise conv(pad(x), w) + b, parallel
// over (image, channel) planes. ws.rowMap must be filled for s.
func depthwiseForward(out, x, w, b []float32, s ConvShape, ws *ConvWorkspace) {
	g := newDWGeom(s)
	parallel.For(s.N*s.Cin, 1, func(lo, hi int) {
		sc := dwPool.Get().(*dwScratch)
		defer dwPool.Put(sc)
		for p := lo; p < hi; p++ {
			c := p % s.Cin
			var bv float32
			if b != nil {
				bv = b[c]
			}
			sc.forwardPlane(out[p*g.ohw:(p+1)*g.ohw], x[p*g.hw:(p+1)*g.hw], w[c*g.kk:(c+1)*g.kk], bv, s, &g, ws.rowMap)
		}
	})
}

// forwardPlane computes one output plane op from input plane xp and filter
// wk.
func (sc *dwScratch) forwardPlane(op, xp, wk []float32, bv float32, s ConvShape, g *dwGeom, rowMap []int32) {
	sc.xr.reset(g.span, s.Stride*g.lq, false)
	for oy := 0; oy < g.oh; oy++ {
		taps := sc.taps[:0]
		for ky := 0; ky < s.KH; ky++ {
			iy := rowMap[ky*g.oh+oy]
			if iy < 0 {
				continue
			}
			row := sc.xRow(xp, oy*s.Stride+ky*s.Dilation, int(iy), s, g)
			for kx := 0; kx < s.KW; kx++ {
				taps = append(taps, dwTap{wk[ky*s.KW+kx], xTap(row, kx, s, g)})
			}
		}
		sc.taps = taps
		dwAxpy(op[oy*g.ow:(oy+1)*g.ow], taps, true, bv)
	}
}

// depthwiseBackward accumulates dx += ∂L/∂x and dw += ∂L/∂w (either may be
// nil). With dw it runs parallel over channels, so that dw needs no
// reduction across goroutines (each channel sums its rows in float64 and
// rounds once); without, parallel over (image, channel) planes. ws.rowMap
// must be filled for s.
func depthwiseBackward(dx, dw, dout, x, w []float32, s ConvShape, ws *ConvWorkspace) {
	g := newDWGeom(s)
	if dw == nil {
		parallel.For(s.N*s.Cin, 1, func(lo, hi int) {
			sc := dwPool.Get().(*dwScratch)
			defer dwPool.Put(sc)
			for p := lo; p < hi; p++ {
				c := p % s.Cin
				sc.inputGradPlane(dx[p*g.hw:(p+1)*g.hw], dout[p*g.ohw:(p+1)*g.ohw], w[c*g.kk:(c+1)*g.kk], s, &g)
			}
		})
		return
	}
	parallel.For(s.Cin, 1, func(lo, hi int) {
		sc := dwPool.Get().(*dwScratch)
		defer dwPool.Put(sc)
		if cap(sc.acc) < g.kk {
			sc.acc = make([]float64, g.kk)
		}
		acc := sc.acc[:g.kk]
		for c := lo; c < hi; c++ {
			clear(acc)
			for n := 0; n < s.N; n++ {
				p := n*s.Cin + c
				dyp := dout[p*g.ohw : (p+1)*g.ohw]
				if dx != nil {
					sc.inputGradPlane(dx[p*g.hw:(p+1)*g.hw], dyp, w[c*g.kk:(c+1)*g.kk], s, &g)
				}
				sc.weightGradPlane(acc, x[p*g.hw:(p+1)*g.hw], dyp, s, &g, ws.rowMap)
			}
			for k, v := range acc {
				dw[c*g.kk+k] += float32(v)
			}
		}
	})
}

// weightGradPlane adds plane xp's weight-gradient terms against dout plane
// dyp to acc[ky*KW+kx]: one float32 dot product per (output row, tap),
// accumulated in float64.
func (sc *dwScratch) weightGradPlane(acc []float64, xp, dyp []float32, s ConvShape, g *dwGeom, rowMap []int32) {
	sc.xr.reset(g.span, s.Stride*g.lq, false)
	for oy := 0; oy < g.oh; oy++ {
		taps, idx := sc.taps[:0], sc.tapIdx[:0]
		for ky := 0; ky < s.KH; ky++ {
			iy := rowMap[ky*g.oh+oy]
			if iy < 0 {
				continue
			}
			row := sc.xRow(xp, oy*s.Stride+ky*s.Dilation, int(iy), s, g)
			for kx := 0; kx < s.KW; kx++ {
				taps = append(taps, dwTap{0, xTap(row, kx, s, g)})
				idx = append(idx, ky*s.KW+kx)
			}
		}
		sc.taps, sc.tapIdx = taps, idx
		sc.dots = growF(sc.dots, len(taps))
		dwDots(sc.dots, dyp[oy*g.ow:(oy+1)*g.ow], taps)
		for t, k := range idx {
			acc[k] += float64(sc.dots[t])
		}
	}
}

// inputGradPlane adds the input gradient of one plane to dxp, given its
// dout plane dyp and filter wk. Padded row pr of the gradient gathers
// w[ky, kx]·dout[oy, ox] over pr = oy·Stride + ky·Dilation, and its padded
// column pc = ox·Stride + kx·Dilation; phase p = pc%Stride of the row is a
// multi-axpy of zero-extended dout rows. Only the padded rows and columns
// that some output reads (the first (OutH-1)·Stride + (KH-1)·Dilation + 1,
// likewise for columns) can be non-zero.
func (sc *dwScratch) inputGradPlane(dxp, dyp, wk []float32, s ConvShape, g *dwGeom) {
	st, dil := s.Stride, s.Dilation
	qmax := (s.KW - 1) * dil / st
	ext := g.ow + 2*qmax // a dout row with qmax zeros on each side
	hu := (g.oh-1)*st + (s.KH-1)*dil + 1
	wu := (g.ow-1)*st + (s.KW-1)*dil + 1
	ju := (wu + st - 1) / st // entries of phase 0
	sc.dyr.reset((s.KH-1)*dil/st+1, ext, true)
	sc.grow = growF(sc.grow, st*ju)
	sc.phase = growF(sc.phase, 2*ju)
	if len(sc.ptaps) < st {
		sc.ptaps = make([][]dwTap, st)
	}
	ptaps := sc.ptaps[:st]
	for pr := 0; pr < hu; pr++ {
		iy := int(padIndex(pr-s.PadTop, s.H, s.Mode))
		if iy < 0 {
			continue
		}
		for p := range ptaps {
			ptaps[p] = ptaps[p][:0]
		}
		hit := false
		for ky := 0; ky < s.KH; ky++ {
			r := pr - ky*dil
			if r < 0 {
				break
			}
			oy := r / st
			if r%st != 0 || oy >= g.oh {
				continue
			}
			row, ok := sc.dyr.get(oy)
			if !ok {
				copy(row[qmax:qmax+g.ow], dyp[oy*g.ow:(oy+1)*g.ow])
			}
			hit = true
			for kx := 0; kx < s.KW; kx++ {
				o := kx * dil
				p, q := o%st, o/st
				jp := (wu - p + st - 1) / st
				ptaps[p] = append(ptaps[p], dwTap{wk[ky*s.KW+kx], row[qmax-q : qmax-q+jp]})
			}
		}
		if !hit {
			continue
		}
		grow := sc.grow[:wu]
		switch st {
		case 1:
			dwAxpy(grow, ptaps[0], true, 0)
		case 2:
			// Both phases into sc.phase, then interleaved.
			n0, n1 := (wu+1)/2, wu/2
			ph0, ph1 := sc.phase[:n0], sc.phase[ju:ju+n1]
			dwAxpy(ph0, ptaps[0], true, 0)
			dwAxpy(ph1, ptaps[1], true, 0)
			dwInterleave2(grow[:2*n1], ph0[:n1], ph1)
			if n0 > n1 {
				grow[wu-1] = ph0[n1]
			}
		default:
			for p, taps := range ptaps {
				ph := sc.phase[:(wu-p+st-1)/st]
				dwAxpy(ph, taps, true, 0)
				for j, v := range ph {
					grow[j*st+p] = v
				}
			}
		}
		sc.foldRow(dxp[iy*s.W:(iy+1)*s.W], grow, s)
	}
}

// foldRow adds a padded input-gradient row grow (its first len(grow)
// padded columns) into input row d: in-bounds columns first, then the
// padding columns into the columns they reflect (dropped for zero padding).
func (sc *dwScratch) foldRow(d, grow []float32, s ConvShape) {
	pl := s.PadLeft
	if hi := min(pl+s.W, len(grow)); hi > pl {
		dwAdd(d[:hi-pl], grow[pl:hi])
	}
	if s.Mode != PadReflect {
		return
	}
	for pc := 0; pc < min(pl, len(grow)); pc++ {
		d[pl-pc] += grow[pc]
	}
	for pc := pl + s.W; pc < len(grow); pc++ {
		d[2*(s.W-1)-(pc-pl)] += grow[pc]
	}
}
