package nn

import (
	"fmt"
	"math"

	"dinotracker/gemm"
	"dinotracker/internal/parallel"
	"dinotracker/internal/prefault"
)

// PadMode selects what a convolution reads outside its input.
type PadMode int

const (
	// PadZeros reads zeros outside the input (PyTorch padding_mode "zeros").
	PadZeros PadMode = iota
	// PadReflect mirrors the input without repeating the border sample
	// (PyTorch ReflectionPad2d / padding_mode "reflect"): index -1 reads 1,
	// index n reads n-2. Each pad must be smaller than the padded dimension.
	PadReflect
)

// ConvShape describes a 2-D convolution over NCHW float32 tensors, as
// PyTorch's F.conv2d applied after padding:
//
//	x   [N, Cin, H, W]
//	w   [Cout, Cin/Groups, KH, KW]
//	b   [Cout] (optional)
//	out [N, Cout, OutH, OutW]
//
// with OutH = (H + PadTop + PadBottom - Dilation*(KH-1) - 1)/Stride + 1 and
// likewise OutW. Stride, Dilation and Groups of 0 mean 1. Padding may be
// asymmetric (ReflectionPad2d's [left, right, top, bottom]).
type ConvShape struct {
	N, Cin, H, W                         int
	Cout, KH, KW                         int
	Stride, Dilation, Groups             int
	PadLeft, PadRight, PadTop, PadBottom int
	Mode                                 PadMode
}

// Pad sets all four paddings to p and returns the shape.
func (s ConvShape) Pad(p int) ConvShape {
	s.PadLeft, s.PadRight, s.PadTop, s.PadBottom = p, p, p, p
	return s
}

func (s ConvShape) norm() ConvShape {
	if s.Stride == 0 {
		s.Stride = 1
	}
	if s.Dilation == 0 {
		s.Dilation = 1
	}
	if s.Groups == 0 {
		s.Groups = 1
	}
	return s
}

// OutH is the output height.
func (s ConvShape) OutH() int {
	s = s.norm()
	return (s.H+s.PadTop+s.PadBottom-s.Dilation*(s.KH-1)-1)/s.Stride + 1
}

// OutW is the output width.
func (s ConvShape) OutW() int {
	s = s.norm()
	return (s.W+s.PadLeft+s.PadRight-s.Dilation*(s.KW-1)-1)/s.Stride + 1
}

// InLen is the number of input values, N*Cin*H*W.
func (s ConvShape) InLen() int { return s.N * s.Cin * s.H * s.W }

// OutLen is the number of output values, N*Cout*OutH*OutW.
func (s ConvShape) OutLen() int { return s.N * s.Cout * s.OutH() * s.OutW() }

// WeightLen is the number of weights, Cout*(Cin/Groups)*KH*KW.
func (s ConvShape) WeightLen() int { return s.Cout * (s.Cin / s.norm().Groups) * s.KH * s.KW }

// FLOPs counts the forward pass as 2 FLOP per multiply-add (bias excluded).
// The backward pass (input and weight gradients) costs twice as much.
func (s ConvShape) FLOPs() float64 {
	s = s.norm()
	return 2 * float64(s.N) * float64(s.Cout) * float64(s.OutH()*s.OutW()) * float64(s.Cin/s.Groups*s.KH*s.KW)
}

func (s ConvShape) depthwise() bool { return s.Groups == s.Cin && s.Cout == s.Cin && s.Groups > 1 }

func (s ConvShape) validate(op string) {
	bad := func(why string) { panic(fmt.Sprintf("nn: %s: %s (shape %+v)", op, why, s)) }
	if s.N < 0 || s.Cin <= 0 || s.H <= 0 || s.W <= 0 || s.Cout <= 0 || s.KH <= 0 || s.KW <= 0 {
		bad("non-positive dimension")
	}
	if s.Stride < 1 || s.Dilation < 1 || s.Groups < 1 {
		bad("stride, dilation and groups must be ≥ 1")
	}
	if s.PadLeft < 0 || s.PadRight < 0 || s.PadTop < 0 || s.PadBottom < 0 {
		bad("negative padding")
	}
	if s.Cin%s.Groups != 0 || s.Cout%s.Groups != 0 {
		bad("channels not divisible by groups")
	}
	if s.Mode == PadReflect && (max(s.PadLeft, s.PadRight) >= s.W || max(s.PadTop, s.PadBottom) >= s.H) {
		bad("reflect padding must be smaller than the input size")
	}
	if s.OutH() < 1 || s.OutW() < 1 {
		bad("empty output")
	}
}

// padIndex maps a padded coordinate to an input index, or -1 for a zero.
func padIndex(i, n int, mode PadMode) int32 {
	if i >= 0 && i < n {
		return int32(i)
	}
	if mode == PadZeros {
		return -1
	}
	if i < 0 {
		return int32(-i)
	}
	return int32(2*(n-1) - i)
}

// ConvWorkspace holds the scratch buffers of Conv2dForward/Conv2dBackward
// (im2col columns and padding index maps) so that steady-state calls do not
// allocate. The zero value is ready to use; buffers grow on demand. A
// workspace must not be used by two calls at once.
type ConvWorkspace struct {
	// MaxCol bounds the column buffer of the input-gradient pass, in
	// float32 values; its output rows are processed in bands that fit.
	// 0 means 1<<21 (8 MiB), or enough for bands of minBandCols output
	// pixels if that is more. The forward pass and the weight gradient
	// gather im2col values straight into the GEMM's packed panels and need
	// no column buffer.
	MaxCol int

	dcol          []float32
	packW, packDy gemm.PackedA // the weights (or Wᵀ) and a band of dout, packed
	// weightGrad's narrow case: each half's band of dout, packed, and its
	// partial weight gradient.
	packDyHalf     [2]gemm.PackedA
	dwHalf         []float32
	rowMap, colMap []int32
	// per kx: the output columns [lo, hi) whose input column is in bounds
	// (ix = ox*Stride - PadLeft + kx*Dilation)
	interior []int32
	oh, ow   int // the output size the maps are for
}

// growF returns b resliced to n values, or a new buffer (its pages mapped
// in up front: see package prefault) when b is too small.
func growF(b []float32, n int) []float32 {
	if cap(b) < n {
		b = make([]float32, n)
		prefault.Floats(b)
		return b
	}
	return b[:n]
}

func growI(b []int32, n int) []int32 {
	if cap(b) < n {
		return make([]int32, n)
	}
	return b[:n]
}

// maps fills rowMap[ky*OH+oy] and colMap[kx*OW+ox] with the input index
// that padded position reads, or -1 for a zero.
func (ws *ConvWorkspace) maps(s ConvShape) {
	oh, ow := s.OutH(), s.OutW()
	ws.oh, ws.ow = oh, ow
	ws.rowMap = growI(ws.rowMap, s.KH*oh)
	ws.colMap = growI(ws.colMap, s.KW*ow)
	ws.interior = growI(ws.interior, 2*s.KW)
	for ky := 0; ky < s.KH; ky++ {
		for oy := 0; oy < oh; oy++ {
			ws.rowMap[ky*oh+oy] = padIndex(oy*s.Stride-s.PadTop+ky*s.Dilation, s.H, s.Mode)
		}
	}
	for kx := 0; kx < s.KW; kx++ {
		lo, hi := ow, 0
		for ox := 0; ox < ow; ox++ {
			ix := ox*s.Stride - s.PadLeft + kx*s.Dilation
			ws.colMap[kx*ow+ox] = padIndex(ix, s.W, s.Mode)
			if ix >= 0 && ix < s.W {
				lo, hi = min(lo, ox), max(hi, ox+1)
			}
		}
		if lo >= hi {
			lo, hi = 0, 0
		}
		ws.interior[2*kx], ws.interior[2*kx+1] = int32(lo), int32(hi)
	}
}

// bandRows is the number of output rows per im2col band.
func (ws *ConvWorkspace) bandRows(k, ow, oh int) int {
	budget := ws.MaxCol
	if budget <= 0 {
		budget = max(1<<21, k*(minBandCols+ow))
	}
	return max(1, min(oh, budget/max(1, k*ow)))
}

// minBandCols is the fewest output pixels a default-sized input-gradient
// band holds: each band streams the whole packed Wᵀ (k × Cout) from memory,
// and below about 1024 columns (32 of the kernel's slivers) that stream
// slows the kernel (the last layer's 6400×1024 Wᵀ with 3-row bands of 321
// pixels ran at 245 GFLOP/s against the forward's 300).
const minBandCols = 1024

// gatherCol writes row r = (ci·KH+ky)·KW+kx of the im2col matrix of xb (one
// image, one group) for output pixels j0, j0+1, … (pixel j = oy·OW+ox) into
// out: the padded input value that weight (ci, ky, kx) meets at each pixel.
// It only reads the workspace's maps, so packers may call it concurrently.
func (ws *ConvWorkspace) gatherCol(out, xb []float32, s ConvShape, r, j0 int) {
	oh, ow := ws.oh, ws.ow // s.OutH(), s.OutW(), as maps stored them
	kk := s.KH * s.KW
	ci, ky, kx := r/kk, r/s.KW%s.KH, r%s.KW
	hw := s.H * s.W
	plane := xb[ci*hw : (ci+1)*hw]
	cm := ws.colMap[kx*ow : (kx+1)*ow]
	inLo, inHi := int(ws.interior[2*kx]), int(ws.interior[2*kx+1])
	off := -s.PadLeft + kx*s.Dilation
	oy, ox := j0/ow, j0%ow
	for t := 0; t < len(out); {
		run := min(ow-ox, len(out)-t)
		d := out[t : t+run]
		iy := ws.rowMap[ky*oh+oy]
		if iy < 0 {
			clear(d)
		} else {
			src := plane[int(iy)*s.W : int(iy+1)*s.W]
			// d[:a] and d[b:] read through the padding map; d[a:b] are
			// in-bounds input columns.
			a := min(max(inLo-ox, 0), run)
			b := min(max(inHi-ox, a), run)
			for u := 0; u < a; u++ {
				d[u] = at(src, cm[ox+u])
			}
			if a == b {
				// no in-bounds column in this run
			} else if s.Stride == 1 {
				copy(d[a:b], src[ox+a+off:ox+b+off])
			} else {
				for u := a; u < b; u++ {
					d[u] = src[(ox+u)*s.Stride+off]
				}
			}
			for u := b; u < run; u++ {
				d[u] = at(src, cm[ox+u])
			}
		}
		t += run
		ox = 0
		oy++
	}
}

// narrowDW reports whether a weight gradient of coutG rows and k columns
// is too narrow for MatMulPacked to split its columns between the workers
// (it splits the rows instead, and every worker gathers the whole
// transposed im2col matrix). The first layer's is: k = 3·5·5 = 75.
func narrowDW(k, coutG int) bool {
	mk := gemm.MicroKernel()
	colSlivers := (k + mk.NR() - 1) / mk.NR()
	rowSlivers := (coutG + mk.MR() - 1) / mk.MR()
	return colSlivers < 4*parallel.Workers() && colSlivers < rowSlivers
}

// weightGrad adds ∂L/∂w into dw: dW_g[coutG, k] += dy[coutG, pixels] ·
// colᵀ[pixels, k], over (image, band of pixels) items. Bands are multiples
// of the GEMM's kc, so every weight sums its terms in the same order
// whatever the band; dy is packed per band and colᵀ gathered from x.
//
// A narrow gradient (narrowDW) runs as two partial sums, each over a fixed
// half of the items and on its own goroutine, so each gathers only its half
// of the im2col matrix: dw += half₀ + half₁, in that order. The halves do
// not depend on the worker count, so neither do the results.
func (ws *ConvWorkspace) weightGrad(dw, dout, x []float32, s ConvShape, k, coutG, cinG int) {
	ohw, hw := ws.oh*ws.ow, s.H*s.W
	pb := max(gemm.KC, (1<<21)/max(1, coutG)/gemm.KC*gemm.KC)
	type item struct{ n, p0, pn int }
	var items []item
	for n := 0; n < s.N; n++ {
		for p0 := 0; p0 < ohw; p0 += pb {
			items = append(items, item{n, p0, min(pb, ohw-p0)})
		}
	}
	// band adds one item's product into dst (dW_g or a partial sum).
	band := func(pa *gemm.PackedA, dst []float32, g int, it item, serial bool) {
		xb := x[(it.n*s.Cin+g*cinG)*hw:]
		dy := dout[(it.n*s.Cout+g*coutG)*ohw:]
		pa.Pack(false, coutG, it.pn, 1, dy[it.p0:], ohw)
		if serial {
			gemm.MatMulPackedSerial(pa, k, ws.colTPacker(xb, s, it.p0), 1, dst, k)
		} else {
			gemm.MatMulPacked(pa, k, ws.colTPacker(xb, s, it.p0), 1, dst, k)
		}
	}
	wl := coutG * k
	if !narrowDW(k, coutG) {
		for g := 0; g < s.Groups; g++ {
			for _, it := range items {
				band(&ws.packDy, dw[g*wl:(g+1)*wl], g, it, false)
			}
		}
		return
	}
	half := (len(items) + 1) / 2
	ws.dwHalf = growF(ws.dwHalf, 2*wl)
	for g := 0; g < s.Groups; g++ {
		clear(ws.dwHalf)
		parallel.For(2, 1, func(lo, hi int) {
			for h := lo; h < hi; h++ {
				for _, it := range items[min(h*half, len(items)):min((h+1)*half, len(items))] {
					band(&ws.packDyHalf[h], ws.dwHalf[h*wl:(h+1)*wl], g, it, true)
				}
			}
		})
		dwg := dw[g*wl : (g+1)*wl]
		for i := range dwg {
			dwg[i] += ws.dwHalf[i]
			dwg[i] += ws.dwHalf[wl+i]
		}
	}
}

// colPacker packs the im2col matrix of xb (rows r, columns = output pixels)
// straight into gemm's B panels, one gathered row at a time.
func (ws *ConvWorkspace) colPacker(xb []float32, s ConvShape) gemm.BPacker {
	return func(dst, scratch []float32, pc, jc, kcb, ncb, nr int) {
		row := scratch[:ncb]
		for p := 0; p < kcb; p++ {
			ws.gatherCol(row, xb, s, pc+p, jc)
			gemm.ScatterSlivers(dst, row, p, kcb, ncb, nr)
		}
	}
}

// colTPacker packs the transposed im2col matrix (rows = output pixels from
// pix0 on, columns r) into gemm's B panels, for the weight gradient.
func (ws *ConvWorkspace) colTPacker(xb []float32, s ConvShape, pix0 int) gemm.BPacker {
	return func(dst, scratch []float32, pc, jc, kcb, ncb, nr int) {
		j := 0
		if nr%8 == 0 {
			// Eight gathered columns at a time, so that each pixel writes
			// eight adjacent values of the sliver rather than one.
			cols := scratch[:8*kcb]
			for ; j+8 <= ncb; j += 8 {
				for u := 0; u < 8; u++ {
					ws.gatherCol(cols[u*kcb:(u+1)*kcb], xb, s, jc+j+u, pix0+pc)
				}
				transpose8(dst[j/nr*kcb*nr+j%nr:], nr, cols, kcb, kcb)
			}
		}
		col := scratch[:kcb]
		for ; j < ncb; j++ {
			ws.gatherCol(col, xb, s, jc+j, pix0+pc)
			d := dst[j/nr*kcb*nr+j%nr:]
			for p, v := range col {
				d[p*nr] = v
			}
		}
		for j := ncb; j%nr != 0; j++ {
			d := dst[j/nr*kcb*nr+j%nr:]
			for p := 0; p < kcb; p++ {
				d[p*nr] = 0
			}
		}
	}
}

func at(row []float32, i int32) float32 {
	if i < 0 {
		return 0
	}
	return row[i]
}

// col2im adds dcol (laid out as im2col's col) back into the cinG input
// planes of dxb, the transpose of im2col. Reflected positions add up.
func (ws *ConvWorkspace) col2im(dxb, dcol []float32, s ConvShape, cinG, oy0, oy1 int) {
	oh, ow := s.OutH(), s.OutW()
	bandN := (oy1 - oy0) * ow
	kk := s.KH * s.KW
	hw := s.H * s.W
	parallel.For(cinG, 1, func(lo, hi int) {
		for ci := lo; ci < hi; ci++ {
			plane := dxb[ci*hw : (ci+1)*hw]
			for k := 0; k < kk; k++ {
				ky, kx := k/s.KW, k%s.KW
				cm := ws.colMap[kx*ow : (kx+1)*ow]
				src := dcol[(ci*kk+k)*bandN : (ci*kk+k+1)*bandN]
				for oy := oy0; oy < oy1; oy++ {
					iy := ws.rowMap[ky*oh+oy]
					if iy < 0 {
						continue
					}
					drow := plane[int(iy)*s.W : int(iy+1)*s.W]
					d := src[(oy-oy0)*ow : (oy-oy0+1)*ow]
					// In-bounds columns [inLo, inHi) read input column
					// ox·Stride+off; the others go through the padding map.
					inLo, inHi := int(ws.interior[2*kx]), int(ws.interior[2*kx+1])
					for ox := 0; ox < inLo; ox++ {
						if ix := cm[ox]; ix >= 0 {
							drow[ix] += d[ox]
						}
					}
					if inLo < inHi && s.Stride == 1 {
						off := -s.PadLeft + kx*s.Dilation
						dwAdd(drow[inLo+off:inHi+off], d[inLo:inHi])
					} else {
						for ox := inLo; ox < inHi; ox++ {
							drow[cm[ox]] += d[ox]
						}
					}
					for ox := max(inHi, inLo); ox < ow; ox++ {
						if ix := cm[ox]; ix >= 0 {
							drow[ix] += d[ox]
						}
					}
				}
			}
		}
	})
}

func (s ConvShape) direct() bool {
	return s.KH == 1 && s.KW == 1 && s.Stride == 1 && s.PadLeft == 0 && s.PadRight == 0 && s.PadTop == 0 && s.PadBottom == 0
}

// Conv2dForward computes out = conv2d(pad(x), w) + b (see ConvShape for the
// shapes; b may be nil). Nothing needs caching for the backward pass beyond
// x and w. ws may be nil (a temporary workspace is used).
//
// General convolutions are implicit GEMMs: the weights are packed once
// (gemm.PackedA) and the im2col values gathered straight into the GEMM's
// packed panels (gemm.MatMulPacked), so no im2col matrix is ever stored;
// 1×1 ones multiply the input directly; depthwise ones (Groups = Cin =
// Cout) run row kernels parallel over (image, channel) planes.
func Conv2dForward(out, x, w, b []float32, s ConvShape, ws *ConvWorkspace) {
	s = s.norm()
	s.validate("Conv2dForward")
	checkLen("Conv2dForward", "x", x, s.InLen())
	checkLen("Conv2dForward", "w", w, s.WeightLen())
	checkLen("Conv2dForward", "out", out, s.OutLen())
	checkOpt("Conv2dForward", "b", b, s.Cout)
	if ws == nil {
		ws = new(ConvWorkspace)
	}
	ws.maps(s)
	if s.depthwise() {
		depthwiseForward(out, x, w, b, s, ws)
		return
	}
	oh, ow := s.OutH(), s.OutW()
	ohw, hw := oh*ow, s.H*s.W
	cinG, coutG := s.Cin/s.Groups, s.Cout/s.Groups
	k := cinG * s.KH * s.KW
	for g := 0; g < s.Groups; g++ {
		wg := w[g*coutG*k:]
		if !s.direct() {
			// Implicit GEMM: the weights are packed once; the im2col
			// values are gathered into the packed panels as needed.
			ws.packW.Pack(false, coutG, k, 1, wg, k)
		}
		for n := 0; n < s.N; n++ {
			xb := x[(n*s.Cin+g*cinG)*hw:]
			C := out[(n*s.Cout+g*coutG)*ohw:]
			if s.direct() {
				gemm.MatMul(false, false, coutG, ohw, k, 1, wg, k, xb, hw, 0, C, ohw)
				continue
			}
			gemm.MatMulPacked(&ws.packW, ohw, ws.colPacker(xb, s), 0, C, ohw)
		}
	}
	if b != nil {
		parallel.For(s.N*s.Cout, 1, func(lo, hi int) {
			for p := lo; p < hi; p++ {
				bv := b[p%s.Cout]
				for i := range out[p*ohw : (p+1)*ohw] {
					out[p*ohw+i] += bv
				}
			}
		})
	}
}

// Conv2dBackward accumulates the gradients of Conv2dForward given dout
// [N, Cout, OutH, OutW]: dx [N, Cin, H, W] += ∂L/∂x, dw += ∂L/∂w,
// db [Cout] += Σ dout. Any of dx, dw, db may be nil. The im2col columns are
// recomputed from x.
//
// dx may be x itself (the same slice, not a shifted one; not for depthwise
// convolutions): x is then read for dw first and overwritten with ∂L/∂x
// (not accumulated), so a network whose input activations are dead after
// their backward needs no separate input-gradient buffer.
func Conv2dBackward(dx, dw, db, dout, x, w []float32, s ConvShape, ws *ConvWorkspace) {
	s = s.norm()
	s.validate("Conv2dBackward")
	checkLen("Conv2dBackward", "dout", dout, s.OutLen())
	checkLen("Conv2dBackward", "x", x, s.InLen())
	checkLen("Conv2dBackward", "w", w, s.WeightLen())
	checkOpt("Conv2dBackward", "dx", dx, s.InLen())
	checkOpt("Conv2dBackward", "dw", dw, s.WeightLen())
	checkOpt("Conv2dBackward", "db", db, s.Cout)
	oh, ow := s.OutH(), s.OutW()
	ohw, hw := oh*ow, s.H*s.W
	if db != nil {
		parallel.For(s.Cout, 1, func(lo, hi int) {
			for c := lo; c < hi; c++ {
				var acc float64
				for n := 0; n < s.N; n++ {
					acc += sum64(dout[(n*s.Cout+c)*ohw : (n*s.Cout+c+1)*ohw])
				}
				db[c] += float32(acc)
			}
		})
	}
	if dx == nil && dw == nil {
		return
	}
	if ws == nil {
		ws = new(ConvWorkspace)
	}
	ws.maps(s)
	alias := dx != nil && &dx[0] == &x[0]
	if s.depthwise() {
		if alias {
			panic("nn: Conv2dBackward: dx aliases x in a depthwise convolution")
		}
		depthwiseBackward(dx, dw, dout, x, w, s, ws)
		return
	}
	cinG, coutG := s.Cin/s.Groups, s.Cout/s.Groups
	k := cinG * s.KH * s.KW
	if s.direct() {
		for n := 0; n < s.N; n++ {
			for g := 0; g < s.Groups; g++ {
				xoff := (n*s.Cin + g*cinG) * hw
				dy := dout[(n*s.Cout+g*coutG)*ohw:]
				if dw != nil {
					gemm.MatMul(false, true, coutG, k, ohw, 1, dy, ohw, x[xoff:], hw, 1, dw[g*coutG*k:], k)
				}
				if alias {
					clear(dx[xoff : xoff+cinG*hw]) // this group's x is read for the last time above
				}
				if dx != nil {
					gemm.MatMul(true, false, k, ohw, coutG, 1, w[g*coutG*k:], k, dy, ohw, 1, dx[xoff:], hw)
				}
			}
		}
		return
	}
	if dw != nil {
		ws.weightGrad(dw, dout, x, s, k, coutG, cinG)
	}
	if dx == nil {
		return
	}
	if alias {
		clear(dx[:s.InLen()]) // x is not read below
	}
	// dcol[k, band] = W_gᵀ · dy over bands of output rows, then col2im.
	band := ws.bandRows(k, ow, oh)
	ws.dcol = growF(ws.dcol, k*band*ow)
	for g := 0; g < s.Groups; g++ {
		ws.packW.Pack(true, k, coutG, 1, w[g*coutG*k:], k)
		for n := 0; n < s.N; n++ {
			xoff := (n*s.Cin + g*cinG) * hw
			for oy0 := 0; oy0 < oh; oy0 += band {
				oy1 := min(oy0+band, oh)
				bandN := (oy1 - oy0) * ow
				dy := dout[(n*s.Cout+g*coutG)*ohw+oy0*ow:]
				dcol := ws.dcol[:k*bandN]
				gemm.MatMulPacked(&ws.packW, bandN, gemm.MatrixB(false, dy, ohw), 0, dcol, bandN)
				ws.col2im(dx[xoff:], dcol, s, cinG, oy0, oy1)
			}
		}
	}
}

// The float64 reductions below keep 16 partial sums: element i of each
// block of 16 goes to partial i (the AVX2 kernels hold them as four
// vectors of four lanes), the blocks in order; the partials are combined
// by reduce16, then the tail is added in order. The kernels and the Go
// loops do the same operations (no fused multiply-adds), so they give the
// same bits.

// reduce16 combines the 16 partial sums: lane l of the four vectors
// pairwise, then the four lanes pairwise.
func reduce16(a *[16]float64) float64 {
	var t [4]float64
	for l := range t {
		t[l] = (a[l] + a[4+l]) + (a[8+l] + a[12+l])
	}
	return (t[0] + t[1]) + (t[2] + t[3])
}

// sum64 returns Σ x in float64.
func sum64(x []float32) float64 {
	var acc [16]float64
	n := len(x) &^ 15
	if !sum16Asm(&acc, x[:n]) {
		for i := 0; i < n; i += 16 {
			q := x[i : i+16 : i+16]
			for l, v := range q {
				acc[l] += float64(v)
			}
		}
	}
	s := reduce16(&acc)
	for _, v := range x[n:] {
		s += float64(v)
	}
	return s
}

// sqDev64 returns Σ (x − mu)² in float64, with sum64's partial sums.
func sqDev64(x []float32, mu float64) float64 {
	var acc [16]float64
	n := len(x) &^ 15
	if !sqDev16Asm(&acc, x[:n], mu) {
		for i := 0; i < n; i += 16 {
			q := x[i : i+16 : i+16]
			for l, v := range q {
				d := float64(v) - mu
				acc[l] += d * d
			}
		}
	}
	s := reduce16(&acc)
	for _, v := range x[n:] {
		d := float64(v) - mu
		s += d * d
	}
	return s
}

// dyDev64 returns Σ dy and Σ dy·(x − mu) in float64, with sum64's partial
// sums.
func dyDev64(dy, x []float32, mu float64) (sdy, sdyx float64) {
	x = x[:len(dy)]
	var a, b [16]float64
	n := len(dy) &^ 15
	if !dyDev16Asm(&a, &b, dy[:n], x[:n], mu) {
		for i := 0; i < n; i += 16 {
			g, q := dy[i:i+16:i+16], x[i:i+16:i+16]
			for l, gv := range g {
				gd := float64(gv)
				a[l] += gd
				b[l] += gd * (float64(q[l]) - mu)
			}
		}
	}
	sdy, sdyx = reduce16(&a), reduce16(&b)
	for i := n; i < len(dy); i++ {
		g := float64(dy[i])
		sdy += g
		sdyx += g * (float64(x[i]) - mu)
	}
	return sdy, sdyx
}

// KaimingUniform fills w with PyTorch's default Conv2d/Linear weight init,
// kaiming_uniform_(a=√5): U(-b, b) with b = 1/√fanIn, drawing from u, which
// must return uniform values in [0, 1).
func KaimingUniform(w []float32, fanIn int, u func() float64) {
	b := 1 / math.Sqrt(float64(fanIn))
	for i := range w {
		w[i] = float32((2*u() - 1) * b)
	}
}

func growU(b []uint64, n int) []uint64 {
	if cap(b) < n {
		return make([]uint64, n)
	}
	return b[:n]
}
