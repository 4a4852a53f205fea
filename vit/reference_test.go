package vit

import (
	"context"
	"fmt"
	"math"
	"math/rand/v2"
	"testing"
)

// refForward is a plain float64 DINOv2 forward written straight from the
// model description (no GEMM, no tiling, no workspaces): the specification
// that Run must match for the architectures the golden cases do not cover
// (register tokens, SwiGLU feed-forward).
func refForward(m *Model, img []float32, h, w, stride, upto int) [][]float64 {
	D, P, C := m.Dim, m.PatchSize, m.InChans
	gh, gw := m.GridSize(h, w, stride)
	pos, err := m.InterpolatedPosEmbed(gh, gw, h, w)
	if err != nil {
		panic(err)
	}
	R := m.Registers
	T := 1 + R + gh*gw
	x := make([][]float64, T)
	x[0] = make([]float64, D)
	for d := 0; d < D; d++ {
		x[0][d] = float64(m.ClsToken[d]) + float64(pos[d])
	}
	for r := 0; r < R; r++ {
		x[1+r] = make([]float64, D)
		for d := 0; d < D; d++ {
			x[1+r][d] = float64(m.RegisterTokens[r*D+d])
		}
	}
	for i := 0; i < gh; i++ {
		for j := 0; j < gw; j++ {
			t := 1 + R + i*gw + j
			x[t] = make([]float64, D)
			for d := 0; d < D; d++ {
				s := float64(m.PatchB[d])
				for c := 0; c < C; c++ {
					for ky := 0; ky < P; ky++ {
						for kx := 0; kx < P; kx++ {
							s += float64(m.PatchW[((d*C+c)*P+ky)*P+kx]) * float64(img[c*h*w+(i*stride+ky)*w+j*stride+kx])
						}
					}
				}
				x[t][d] = s + float64(pos[(1+i*gw+j)*D+d])
			}
		}
	}
	ln := func(v []float64, wt, b []float32) []float64 {
		var mean, vr float64
		for _, a := range v {
			mean += a
		}
		mean /= float64(len(v))
		for _, a := range v {
			vr += (a - mean) * (a - mean)
		}
		vr /= float64(len(v))
		out := make([]float64, len(v))
		for i, a := range v {
			out[i] = (a-mean)/math.Sqrt(vr+1e-6)*float64(wt[i]) + float64(b[i])
		}
		return out
	}
	lin := func(v []float64, wt, b []float32, out int) []float64 {
		in := len(v)
		y := make([]float64, out)
		for o := 0; o < out; o++ {
			s := float64(b[o])
			for i := 0; i < in; i++ {
				s += float64(wt[o*in+i]) * v[i]
			}
			y[o] = s
		}
		return y
	}
	outs := [][]float64{}
	hd := D / m.Heads
	for bi := 0; bi <= upto; bi++ {
		b := &m.Blocks[bi]
		qkv := make([][]float64, T)
		for t := range x {
			qkv[t] = lin(ln(x[t], b.Norm1W, b.Norm1B), b.QKVW, b.QKVB, 3*D)
		}
		att := make([][]float64, T)
		for t := range att {
			att[t] = make([]float64, D)
		}
		for hh := 0; hh < m.Heads; hh++ {
			for t := 0; t < T; t++ {
				s := make([]float64, T)
				mx := math.Inf(-1)
				for u := 0; u < T; u++ {
					var dot float64
					for d := 0; d < hd; d++ {
						dot += qkv[t][hh*hd+d] * qkv[u][D+hh*hd+d]
					}
					s[u] = dot / math.Sqrt(float64(hd))
					mx = math.Max(mx, s[u])
				}
				var z float64
				for u := range s {
					s[u] = math.Exp(s[u] - mx)
					z += s[u]
				}
				for u := range s {
					for d := 0; d < hd; d++ {
						att[t][hh*hd+d] += s[u] / z * qkv[u][2*D+hh*hd+d]
					}
				}
			}
		}
		for t := range x {
			y := lin(att[t], b.ProjW, b.ProjB, D)
			for d := range y {
				x[t][d] += float64(b.LS1[d]) * y[d]
			}
			hdn := ln(x[t], b.Norm2W, b.Norm2B)
			var mid []float64
			if m.SwiGLU {
				both := lin(hdn, b.FC1W, b.FC1B, 2*m.MLPHidden)
				mid = make([]float64, m.MLPHidden)
				for i := range mid {
					a := both[i]
					mid[i] = a / (1 + math.Exp(-a)) * both[m.MLPHidden+i]
				}
			} else {
				mid = lin(hdn, b.FC1W, b.FC1B, m.MLPHidden)
				for i, a := range mid {
					mid[i] = 0.5 * a * (1 + math.Erf(a/math.Sqrt2))
				}
			}
			y = lin(mid, b.FC2W, b.FC2B, D)
			for d := range y {
				x[t][d] += float64(b.LS2[d]) * y[d]
			}
		}
		flat := make([]float64, 0, T*D)
		for t := range x {
			flat = append(flat, x[t]...)
		}
		outs = append(outs, flat)
	}
	if m.FinalNorm {
		flat := make([]float64, 0, T*D)
		for t := range x {
			flat = append(flat, ln(x[t], m.NormW, m.NormB)...)
		}
		outs = append(outs, flat)
	}
	return outs
}

// TestRunMatchesReference checks Run against refForward for register
// tokens, SwiGLU, several strides and non-square inputs, including a token
// count above the attention tile so that several tiles and work items are
// exercised.
func TestRunMatchesReference(t *testing.T) {
	cases := []struct {
		reg, stride, h, w int
		swiglu            bool
	}{
		{0, 7, 28, 42, false},
		{4, 7, 42, 28, false},
		{4, 14, 42, 56, true},
		{0, 5, 56, 84, true},  // 9×15 grid at stride 5
		{4, 3, 56, 70, false}, // 15×19 = 285 patch tokens: three attention tiles
	}
	for _, c := range cases {
		name := fmt.Sprintf("reg%d_stride%d_%dx%d_swiglu%v", c.reg, c.stride, c.h, c.w, c.swiglu)
		t.Run(name, func(t *testing.T) {
			m, err := NewRandom(Config{Dim: 32, Depth: 2, Heads: 2, Registers: c.reg, SwiGLU: c.swiglu, PosGrid: 5, FinalNorm: true, MLPHidden: 48}, uint64(c.reg+c.stride))
			if err != nil {
				t.Fatal(err)
			}
			r := rand.New(rand.NewPCG(5, uint64(c.h)))
			img := make([]float32, 3*c.h*c.w)
			for i := range img {
				img[i] = float32(r.NormFloat64())
			}
			res, err := m.Run(context.Background(), img, c.h, c.w, Request{Stride: c.stride, Blocks: []int{0, 1}, Norm: true})
			if err != nil {
				t.Fatal(err)
			}
			want := refForward(m, img, c.h, c.w, c.stride, 1)
			cmp := func(what string, got []float32, ref []float64) {
				worst := 0.0
				for i := range ref {
					worst = math.Max(worst, math.Abs(float64(got[i])-ref[i]))
				}
				if worst > 1e-4 {
					t.Errorf("%s: max |Δ| %.3g", what, worst)
				}
			}
			cmp("block0", res.Blocks[0], want[0])
			cmp("block1", res.Blocks[1], want[1])
			cmp("norm", res.Normed[1], want[2])
		})
	}
}
