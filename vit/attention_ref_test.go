package vit

import (
	"math"
	"sync"
	"sync/atomic"

	"dinotracker/gemm"
	"dinotracker/internal/parallel"
)

// attention is the reference the fused attention (attentionFused) is tested
// against: softmax(q·kᵀ/√d)·v for every head from ws.qkv into ws.attn, in
// (head, tile of attnTile queries) work items, each with one GEMM for its
// scores, exp in place, a second GEMM with v and a division by the sums.
func (m *Model) attention(ws *workspace, T int) {
	D := m.Dim
	hd := m.HeadDim()
	scale := float32(1 / math.Sqrt(float64(hd)))
	qkv := ws.qkv
	tiles := (T + attnTile - 1) / attnTile
	items := m.Heads * tiles
	workers := min(parallel.Workers(), items)
	scores := make([]float32, workers*attnTile*T)
	var next atomic.Int64
	var wg sync.WaitGroup
	for wk := 0; wk < workers; wk++ {
		S := scores[wk*attnTile*T : (wk+1)*attnTile*T]
		sums := make([]float64, attnTile)
		wg.Add(1)
		go func() {
			defer wg.Done()
			for {
				it := int(next.Add(1) - 1)
				if it >= items {
					return
				}
				head, r0 := it/tiles, (it%tiles)*attnTile
				rows := min(attnTile, T-r0)
				q := qkv[r0*3*D+head*hd:]
				k := qkv[D+head*hd:]
				v := qkv[2*D+head*hd:]
				gemm.MatMulSerial(false, true, rows, T, hd, scale, q, 3*D, k, 3*D, 0, S, T)
				expRows(S, sums, rows, T)
				out := ws.attn[r0*D+head*hd:]
				gemm.MatMulSerial(false, false, rows, hd, T, 1, S, T, v, 3*D, 0, out, D)
				for r := 0; r < rows; r++ {
					inv := float32(1 / sums[r])
					o := out[r*D : r*D+hd]
					for i := range o {
						o[i] *= inv
					}
				}
			}
		}()
	}
	wg.Wait()
}

// expRows replaces each of the rows of width n with exp(x − max(row)) and
// stores the row sums (in float64) in sums.
func expRows(s []float32, sums []float64, rows, n int) {
	for r := 0; r < rows; r++ {
		sums[r] = expRowGeneric(s[r*n : (r+1)*n])
	}
}

// expRowGeneric replaces row with exp(x − max(row)) (expNeg) and returns its sum.
func expRowGeneric(row []float32) float64 {
	mx := row[0]
	for _, v := range row {
		mx = max(mx, v)
	}
	var sum float32
	var total float64
	for i, v := range row {
		e := expNeg(v - mx)
		row[i] = e
		sum += e
		if i&255 == 255 { // bound float32 accumulation error
			total += float64(sum)
			sum = 0
		}
	}
	return total + float64(sum)
}
