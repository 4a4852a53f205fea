package vit

import (
	"context"
	"fmt"
	"math"
	"sort"

	"dinotracker/gemm"
	"dinotracker/internal/parallel"
)

// Request says what Run computes.
type Request struct {
	// Stride of the patch-embedding convolution: 14 (DINOv2) or 7
	// (DINO-Tracker). Zero means the patch size.
	Stride int
	// Blocks lists the 0-based block indices whose outputs (before the
	// final norm) are returned. Run computes blocks 0…max(Blocks) only.
	// Empty means the last block.
	Blocks []int
	// Norm also returns the final LayerNorm of each requested block's
	// output (DINOv2's get_intermediate_layers(norm=True); for the last block
	// this is forward_features' x_norm tokens).
	Norm bool
}

// Result holds the outputs of Run. Token matrices are [Tokens, D] row-major:
// CLS, then registers, then the GridH×GridW patch tokens row by row.
type Result struct {
	GridH, GridW int
	Tokens       int // 1 + Registers + GridH·GridW
	Prefix       int // 1 + Registers
	Dim          int
	Blocks       map[int][]float32 // requested block outputs, before the final norm
	Normed       map[int][]float32 // final LayerNorm of each requested block (when Request.Norm)
}

// Patches returns the patch-token part of a token matrix ([GridH·GridW, D]).
func (r *Result) Patches(tokens []float32) []float32 { return tokens[r.Prefix*r.Dim:] }

// FeatureMap converts a token matrix into a [D, GridH, GridW] map (CLS and
// registers dropped), the layout DINO-Tracker stores.
func (r *Result) FeatureMap(tokens []float32, dst []float32) []float32 {
	n := r.GridH * r.GridW
	if cap(dst) < n*r.Dim {
		dst = make([]float32, n*r.Dim)
	}
	dst = dst[:n*r.Dim]
	p := r.Patches(tokens)
	D := r.Dim
	parallel.For(D, 16, func(lo, hi int) {
		for c := lo; c < hi; c++ {
			row := dst[c*n : (c+1)*n]
			for t := range row {
				row[t] = p[t*D+c]
			}
		}
	})
	return dst
}

// Normalize applies the ImageNet normalisation (x−mean)/std per channel, in
// float32, to a CHW image with values in [0,1], in place.
func Normalize(chw []float32, h, w int) {
	n := h * w
	for c := 0; c < 3; c++ {
		m, s := ImageNetMean[c], ImageNetStd[c]
		p := chw[c*n : (c+1)*n]
		for i, v := range p {
			p[i] = (v - m) / s
		}
	}
}

// workspace holds the per-forward buffers, reused through Model.pool.
type workspace struct {
	x, h, qkv, attn, mlp, hid, cols []float32
	kp, vp                          []float32      // fused attention: packed K and Vᵀ of every head
	asc                             []*attnScratch // fused attention: per-worker buffers
}

func grow(b []float32, n int) []float32 {
	if cap(b) < n {
		return make([]float32, n)
	}
	return b[:n]
}

// Run computes the requested block outputs for one ImageNet-normalised CHW
// image of size h×w (both multiples of the patch size, as DINOv2 asserts).
func (m *Model) Run(ctx context.Context, img []float32, h, w int, req Request) (*Result, error) {
	stride := req.Stride
	if stride == 0 {
		stride = m.PatchSize
	}
	if err := m.checkInput(img, h, w, stride); err != nil {
		return nil, err
	}
	blocks := append([]int(nil), req.Blocks...)
	if len(blocks) == 0 {
		blocks = []int{m.Depth - 1}
	}
	sort.Ints(blocks)
	for _, b := range blocks {
		if b < 0 || b >= m.Depth {
			return nil, fmt.Errorf("vit: block %d requested but the model has blocks 0…%d", b, m.Depth-1)
		}
	}
	if req.Norm && !m.FinalNorm {
		return nil, fmt.Errorf("vit: normalised output requested but the weights have no final norm (norm.weight)")
	}
	ws, _ := m.pool.Get().(*workspace)
	if ws == nil {
		ws = &workspace{}
	}
	defer m.pool.Put(ws)
	gh, gw, err := m.embed(ws, img, h, w, stride)
	if err != nil {
		return nil, err
	}
	D := m.Dim
	T := m.NumPrefix() + gh*gw
	x := ws.x
	res := &Result{GridH: gh, GridW: gw, Tokens: T, Prefix: m.NumPrefix(), Dim: D, Blocks: map[int][]float32{}}
	if req.Norm {
		res.Normed = map[int][]float32{}
	}

	last := blocks[len(blocks)-1]
	next := 0
	for bi := 0; bi <= last; bi++ {
		if err := ctx.Err(); err != nil {
			return nil, err
		}
		m.block(ws, &m.Blocks[bi], T)
		if bi == blocks[next] {
			res.Blocks[bi] = append([]float32(nil), x...)
			if req.Norm {
				out := make([]float32, T*D)
				layerNorm(out, x, m.NormW, m.NormB, T, D)
				res.Normed[bi] = out
			}
			for next < len(blocks) && blocks[next] == bi {
				next++
			}
		}
	}
	return res, nil
}

// Embed returns the input of block 0 for an ImageNet-normalised CHW image:
// [CLS+pos, registers, patches+pos] as a [1+R+gh·gw, D] matrix, with the
// token grid size.
func (m *Model) Embed(img []float32, h, w, stride int) (tokens []float32, gh, gw int, err error) {
	if err := m.checkInput(img, h, w, stride); err != nil {
		return nil, 0, 0, err
	}
	ws := &workspace{}
	gh, gw, err = m.embed(ws, img, h, w, stride)
	return ws.x, gh, gw, err
}

func (m *Model) checkInput(img []float32, h, w, stride int) error {
	if stride < 1 || stride > m.PatchSize {
		return fmt.Errorf("vit: stride %d must be between 1 and the patch size %d", stride, m.PatchSize)
	}
	if h%m.PatchSize != 0 || w%m.PatchSize != 0 || h < m.PatchSize || w < m.PatchSize {
		return fmt.Errorf("vit: image %d×%d must have height and width that are positive multiples of the patch size %d (DINOv2 asserts this); resize it first", h, w, m.PatchSize)
	}
	if len(img) != m.InChans*h*w {
		return fmt.Errorf("vit: image holds %d values, want %d×%d×%d", len(img), m.InChans, h, w)
	}
	return nil
}

// embed fills ws.x with the block-0 input.
func (m *Model) embed(ws *workspace, img []float32, h, w, stride int) (gh, gw int, err error) {
	gh, gw = m.GridSize(h, w, stride)
	pos, err := m.posEmbedFor(gh, gw, h, w)
	if err != nil {
		return 0, 0, err
	}
	D := m.Dim
	npatch := gh * gw
	pre := m.NumPrefix()
	ws.x = grow(ws.x, (pre+npatch)*D)
	x := ws.x
	m.patchEmbed(ws, img, h, w, stride, gh, gw, x[pre*D:])
	for j := 0; j < D; j++ {
		x[j] = m.ClsToken[j] + pos[j]
	}
	pp := x[pre*D:]
	pg := pos[D:]
	parallel.For(npatch, 256, func(lo, hi int) {
		for i := lo * D; i < hi*D; i++ {
			pp[i] += pg[i]
		}
	})
	copy(x[D:pre*D], m.RegisterTokens)
	return gh, gw, nil
}

// patchEmbed computes the strided 14×14 convolution as im2col + GEMM into
// out [gh·gw, D].
func (m *Model) patchEmbed(ws *workspace, img []float32, h, w, stride, gh, gw int, out []float32) {
	P, C, D := m.PatchSize, m.InChans, m.Dim
	K := C * P * P
	n := gh * gw
	ws.cols = grow(ws.cols, n*K)
	cols := ws.cols
	parallel.For(n, 64, func(lo, hi int) {
		for t := lo; t < hi; t++ {
			i, j := t/gw, t%gw
			dst := cols[t*K : (t+1)*K]
			k := 0
			for c := 0; c < C; c++ {
				for ky := 0; ky < P; ky++ {
					src := img[c*h*w+(i*stride+ky)*w+j*stride:]
					copy(dst[k:k+P], src[:P])
					k += P
				}
			}
		}
	})
	for t := 0; t < n; t++ {
		copy(out[t*D:(t+1)*D], m.PatchB)
	}
	gemm.MatMul(false, true, n, D, K, 1, cols, K, m.PatchW, K, 1, out, D)
}

// layerNorm normalises each of n rows of width d (eps 1e-6, statistics in
// float64) and applies the affine weights.
func layerNorm(dst, src, wt, b []float32, n, d int) {
	parallel.For(n, 64, func(lo, hi int) {
		for r := lo; r < hi; r++ {
			x := src[r*d : (r+1)*d]
			y := dst[r*d : (r+1)*d]
			var s float64
			for _, v := range x {
				s += float64(v)
			}
			mean := s / float64(d)
			var v2 float64
			for _, v := range x {
				dv := float64(v) - mean
				v2 += dv * dv
			}
			rstd := 1 / math.Sqrt(v2/float64(d)+LayerNormEps)
			for i, v := range x {
				y[i] = float32((float64(v)-mean)*rstd)*wt[i] + b[i]
			}
		}
	})
}

// linear computes y[n, out] = x[n, in]·Wᵀ + b.
func linear(y, x, wt, b []float32, n, in, out int) {
	parallel.For(n, 256, func(lo, hi int) {
		for r := lo; r < hi; r++ {
			copy(y[r*out:(r+1)*out], b)
		}
	})
	gemm.MatMul(false, true, n, out, in, 1, x, in, wt, in, 1, y, out)
}

// attnTile is the number of queries one attention work item covers.
const attnTile = 128

// block applies one transformer block to ws.x ([T, D]) in place.
func (m *Model) block(ws *workspace, b *Block, T int) {
	D, H := m.Dim, m.MLPHidden
	x := ws.x
	ws.h = grow(ws.h, T*D)
	ws.qkv = grow(ws.qkv, T*3*D)
	ws.attn = grow(ws.attn, T*D)
	layerNorm(ws.h, x, b.Norm1W, b.Norm1B, T, D)
	linear(ws.qkv, ws.h, b.QKVW, b.QKVB, T, D, 3*D)
	m.attentionFused(ws, T)
	linear(ws.h, ws.attn, b.ProjW, b.ProjB, T, D, D)
	residual(x, ws.h, b.LS1, T, D)

	layerNorm(ws.h, x, b.Norm2W, b.Norm2B, T, D)
	if m.SwiGLU {
		ws.mlp = grow(ws.mlp, T*2*H)
		ws.hid = grow(ws.hid, T*H)
		linear(ws.mlp, ws.h, b.FC1W, b.FC1B, T, D, 2*H)
		mlp, hid := ws.mlp, ws.hid
		parallel.For(T, 64, func(lo, hi int) {
			for r := lo; r < hi; r++ {
				row := mlp[r*2*H : (r+1)*2*H]
				siluMulRow(hid[r*H:(r+1)*H], row[:H], row[H:])
			}
		})
		linear(ws.h, hid, b.FC2W, b.FC2B, T, H, D)
	} else {
		ws.mlp = grow(ws.mlp, T*H)
		linear(ws.mlp, ws.h, b.FC1W, b.FC1B, T, D, H)
		mlp := ws.mlp
		parallel.For(T*H, 4096, func(lo, hi int) {
			geluRow(mlp[lo:hi])
		})
		linear(ws.h, ws.mlp, b.FC2W, b.FC2B, T, H, D)
	}
	residual(x, ws.h, b.LS2, T, D)
}

// residual computes x += gamma ⊙ y row-wise (LayerScale).
func residual(x, y, gamma []float32, T, D int) {
	parallel.For(T, 256, func(lo, hi int) {
		for r := lo; r < hi; r++ {
			xr, yr := x[r*D:(r+1)*D], y[r*D:(r+1)*D]
			for i := range xr {
				xr[i] += gamma[i] * yr[i]
			}
		}
	})
}
