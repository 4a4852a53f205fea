package dinotracker

import (
	"fmt"
	"math"

	"dinotracker/internal/parallel"
)

// BuiltinExtractorName names the built-in extractor in Features.Model and
// in cache keys.
const BuiltinExtractorName = "builtin-dsift-v1"

// builtinDim is the descriptor width of the built-in extractor: 32 (14-px
// window) + 128 (28 px) + 128 (56 px) gradient-orientation values and 6
// colour values.
const builtinDim = 32 + 128 + 128 + 6

// NewBuiltinFeatureExtractor returns an extractor that needs no downloaded
// weights: dense SIFT-like gradient-orientation descriptors on DINOv2's
// stride-7 token grid, so every later stage can run without DINOv2. Its
// features are much weaker than DINOv2's on appearance changes; results made
// with it say so (Features.Model = BuiltinExtractorName).
//
// Each token (i, j) of the grid gh = 1+(H−14)/7, gw = 1+(W−14)/7, centred at
// pixel (7j+7, 7i+7) as DINO-Tracker takes it, gets 294 values: histograms of
// gradient orientation (8 signed bins, linear interpolation between bins,
// weighted by gradient magnitude) over 2×2 cells of 7 px (the token's 14-px
// patch), 4×4 cells of 7 px (28 px) and 4×4 cells of 14 px (56 px), each
// block L2-normalised, clipped at 0.2 and renormalised as SIFT does; and the
// mean colour of the 14-px and 28-px windows. Only stride 7 is supported.
func NewBuiltinFeatureExtractor() *FeatureExtractor {
	return &FeatureExtractor{Digest: BuiltinExtractorName}
}

// builtinEncode computes the built-in descriptors of one CHW [0,1] image of
// size h×w into a [builtinDim, gh, gw] map.
func builtinEncode(img []float32, h, w int) ([]float32, int, int, error) {
	const cell = 7
	if h < 14 || w < 14 {
		return nil, 0, 0, fmt.Errorf("features: image %d×%d is smaller than one 14×14 patch", h, w)
	}
	gh, gw := 1+(h-14)/cell, 1+(w-14)/cell
	ch, cw := (h+cell-1)/cell, (w+cell-1)/cell
	const nb = 8
	// Per-cell orientation histograms and colour sums.
	hist := make([]float32, ch*cw*nb)
	col := make([]float32, ch*cw*3)
	n := h * w
	R, G, B := img[:n], img[n:2*n], img[2*n:3*n]
	grey := func(x, y int) float32 {
		x = min(max(x, 0), w-1)
		y = min(max(y, 0), h-1)
		i := y*w + x
		return 0.299*R[i] + 0.587*G[i] + 0.114*B[i]
	}
	parallel.For(ch, 4, func(lo, hi int) {
		for cy := lo; cy < hi; cy++ {
			for y := cy * cell; y < min((cy+1)*cell, h); y++ {
				for x := 0; x < w; x++ {
					gx := grey(x+1, y) - grey(x-1, y)
					gy := grey(x, y+1) - grey(x, y-1)
					mag := float32(math.Sqrt(float64(gx*gx + gy*gy)))
					c := cy*cw + x/cell
					i := y*w + x
					col[3*c] += R[i]
					col[3*c+1] += G[i]
					col[3*c+2] += B[i]
					if mag == 0 {
						continue
					}
					a := math.Atan2(float64(gy), float64(gx))
					if a < 0 {
						a += 2 * math.Pi
					}
					f := float32(a / (2 * math.Pi) * nb)
					b0 := int(f)
					frac := f - float32(b0)
					b0 %= nb
					b1 := (b0 + 1) % nb
					hist[c*nb+b0] += mag * (1 - frac)
					hist[c*nb+b1] += mag * frac
				}
			}
		}
	})
	cellAt := func(cy, cx int) []float32 {
		if cy < 0 || cx < 0 || cy >= ch || cx >= cw {
			return nil
		}
		return hist[(cy*cw+cx)*nb : (cy*cw+cx+1)*nb]
	}
	out := make([]float32, builtinDim*gh*gw)
	ng := gh * gw
	parallel.For(gh, 2, func(lo, hi int) {
		d := make([]float32, builtinDim)
		for i := lo; i < hi; i++ {
			for j := 0; j < gw; j++ {
				clear(d)
				// Token centre (7j+7, 7i+7) sits on the corner shared by
				// cells (i, j) and (i+1, j+1).
				k := 0
				// 2×2 cells of 7 px.
				for dy := 0; dy < 2; dy++ {
					for dx := 0; dx < 2; dx++ {
						if c := cellAt(i+dy, j+dx); c != nil {
							copy(d[k:k+nb], c)
						}
						k += nb
					}
				}
				siftNormalize(d[0:32])
				// 4×4 cells of 7 px.
				for dy := -1; dy < 3; dy++ {
					for dx := -1; dx < 3; dx++ {
						if c := cellAt(i+dy, j+dx); c != nil {
							copy(d[k:k+nb], c)
						}
						k += nb
					}
				}
				siftNormalize(d[32:160])
				// 4×4 cells of 14 px (2×2 cells of 7 px each).
				for sy := 0; sy < 4; sy++ {
					for sx := 0; sx < 4; sx++ {
						for dy := 0; dy < 2; dy++ {
							for dx := 0; dx < 2; dx++ {
								if c := cellAt(i-3+2*sy+dy, j-3+2*sx+dx); c != nil {
									for b := 0; b < nb; b++ {
										d[k+b] += c[b]
									}
								}
							}
						}
						k += nb
					}
				}
				siftNormalize(d[160:288])
				// Mean colour of the 14-px and 28-px windows, centred on 0.
				for win, r := range []int{1, 2} {
					var s [3]float32
					var cnt float32
					for cy := i + 1 - r; cy < i+1+r; cy++ {
						for cx := j + 1 - r; cx < j+1+r; cx++ {
							if cy < 0 || cx < 0 || cy >= ch || cx >= cw {
								continue
							}
							c := (cy*cw + cx) * 3
							s[0] += col[c]
							s[1] += col[c+1]
							s[2] += col[c+2]
							cnt += cell * cell
						}
					}
					for c := 0; c < 3; c++ {
						d[288+3*win+c] = 0.5 * (s[c]/max(cnt, 1) - 0.5)
					}
				}
				t := i*gw + j
				for c, v := range d {
					out[c*ng+t] = v
				}
			}
		}
	})
	return out, gh, gw, nil
}

// siftNormalize L2-normalises v, clips at 0.2 and renormalises (Lowe 2004).
func siftNormalize(v []float32) {
	for pass := 0; pass < 2; pass++ {
		var s float64
		for _, x := range v {
			s += float64(x) * float64(x)
		}
		if s == 0 {
			return
		}
		inv := float32(1 / math.Sqrt(s))
		for i := range v {
			v[i] *= inv
			if pass == 0 && v[i] > 0.2 {
				v[i] = 0.2
			}
		}
	}
}
