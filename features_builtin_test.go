package dinotracker

import (
	"context"
	"image"
	"math"
	"os"
	"path/filepath"
	"strconv"
	"testing"

	"dinotracker/gemm"
	"dinotracker/imgproc"
)

func texturedFrame(w, h, shift int) *imgproc.RGB8 {
	m := imgproc.NewRGB8(w, h)
	for y := 0; y < h; y++ {
		for x := 0; x < w; x++ {
			X := float64(x - shift)
			v := 128 + 60*math.Sin(X*0.31+float64(y)*0.17) + 50*math.Cos(X*0.07*float64(1+y%5))
			m.Set(x, y, uint8(max(0, min(255, v))), uint8(int(X*3+float64(y))&255), uint8(y*2))
		}
	}
	return m
}

// TestBuiltinDescriptors checks the shape, the per-block normalisation and
// that a 7-px shift of the image moves the descriptors by one token.
func TestBuiltinDescriptors(t *testing.T) {
	w, h := 112, 70
	a := texturedFrame(w, h, 0).Float32CHW(nil)
	b := texturedFrame(w, h, 7).Float32CHW(nil)
	fa, gh, gw, err := builtinEncode(a, h, w)
	if err != nil {
		t.Fatal(err)
	}
	if gh != 9 || gw != 15 || len(fa) != builtinDim*gh*gw {
		t.Fatalf("grid %d×%d, %d values", gh, gw, len(fa))
	}
	fb, _, _, _ := builtinEncode(b, h, w)
	n := gh * gw
	// Interior tokens, far enough from the borders for the 56-px window
	// (and for the clamped gradients at the image border).
	for i := 3; i < gh-4; i++ {
		for j := 4; j < gw-5; j++ {
			var norm, diff float64
			for c := 0; c < builtinDim; c++ {
				va, vb := fa[c*n+i*gw+j], fb[c*n+i*gw+j+1]
				diff += float64(va-vb) * float64(va-vb)
				if c < 32 {
					norm += float64(va) * float64(va)
				}
			}
			if math.Abs(norm-1) > 1e-4 {
				t.Fatalf("14-px block of token (%d,%d) has squared norm %v", i, j, norm)
			}
			if diff > 1e-8 {
				t.Fatalf("token (%d,%d): shifted descriptor differs by %v", i, j, diff)
			}
		}
	}
	if _, _, _, err := builtinEncode(make([]float32, 3*13*20), 13, 20); err == nil {
		t.Fatal("an image smaller than a patch was accepted")
	}
}

func TestBuiltinExtractor(t *testing.T) {
	v, err := NewVideo([]image.Image{texturedFrame(112, 70, 0), texturedFrame(112, 70, 3)})
	if err != nil {
		t.Fatal(err)
	}
	e := NewBuiltinFeatureExtractor()
	f, err := e.Extract(context.Background(), v, DefaultFeatureConfig())
	if err != nil {
		t.Fatal(err)
	}
	if f.Model != BuiltinExtractorName || f.C != builtinDim || f.H != 9 || f.W != 15 || f.T != 2 {
		t.Fatalf("features %+v", f)
	}
	cfg := DefaultFeatureConfig()
	cfg.Stride = 14
	if _, err := e.Extract(context.Background(), v, cfg); err == nil {
		t.Fatal("stride 14 accepted by the built-in extractor")
	}
}

// BenchmarkBuiltinMatchingDevClips measures the built-in descriptors alone
// as a tracker on the 8 TAP-Vid DAVIS dev clips (an evaluation, so a
// benchmark: go test -run x -bench BuiltinMatching -benchtime 1x): each
// query's descriptor (bilinear on the token grid) is matched to the most
// similar token of every frame, predicted always visible. It reports the
// mean TAP-Vid metrics and skips when ../shared/data is absent.
func BenchmarkBuiltinMatchingDevClips(b *testing.B) {
	dir := filepath.Join("..", "shared", "data", "tapvid-davis-32f")
	if _, err := os.Stat(dir); err != nil {
		b.Skip("dev clips not present")
	}
	videos, err := LoadTAPVidDir(dir)
	if err != nil {
		b.Fatal(err)
	}
	e := NewBuiltinFeatureExtractor()
	for b.Loop() {
		var ms []TAPVidMetrics
		for _, gt := range videos {
			v, err := LoadVideo(context.Background(), filepath.Join(dir, "videos", strconv.Itoa(gt.VideoIdx), "video"))
			if err != nil {
				b.Fatal(err)
			}
			cfg := DefaultFeatureConfig()
			cfg.Height, cfg.Width = 476, 854
			f, err := e.Extract(context.Background(), v, cfg)
			if err != nil {
				b.Fatal(err)
			}
			pred, occ := nnTrack(b, f, gt)
			m, err := gt.Evaluate(pred, occ, 854, 476)
			if err != nil {
				b.Fatal(err)
			}
			b.Logf("video %2d %-16s AJ %.3f δavg %.3f", gt.VideoIdx, gt.DavisName, m.AverageJaccard, m.AveragePtsWithin)
			ms = append(ms, m)
		}
		mean := MeanTAPVidMetrics(ms)
		b.ReportMetric(mean.AverageJaccard, "AJ")
		b.ReportMetric(mean.AveragePtsWithin, "δavg")
		b.ReportMetric(mean.OcclusionAccuracy, "OA")
	}
}

// nnTrack tracks each ground-truth query by nearest-neighbour matching of
// its bilinearly sampled feature (cosine similarity), in model pixels.
func nnTrack(tb testing.TB, f *Features, gt *TAPVidVideo) ([][][2]float64, [][]bool) {
	n, C, nq := f.H*f.W, f.C, len(gt.Queries)
	frames := make([][]float32, f.T)
	for i := range frames {
		fr, err := f.Frame(i, nil)
		if err != nil {
			tb.Fatal(err)
		}
		frames[i] = fr
	}
	sx, sy := float64(f.ModelW)/float64(gt.Width), float64(f.ModelH)/float64(gt.Height)
	Q := make([]float32, nq*C) // [nq, C] query descriptors
	for qi, qq := range gt.Queries {
		gx, gy := (qq.QueryXY[0]*sx-7)/7, (qq.QueryXY[1]*sy-7)/7
		fr := frames[qq.QueryFrame]
		x0, y0 := int(math.Floor(gx)), int(math.Floor(gy))
		ax, ay := float32(gx-float64(x0)), float32(gy-float64(y0))
		q := Q[qi*C : (qi+1)*C]
		for _, c := range [][3]float32{{0, 0, (1 - ax) * (1 - ay)}, {1, 0, ax * (1 - ay)}, {0, 1, (1 - ax) * ay}, {1, 1, ax * ay}} {
			xi, yi := min(max(x0+int(c[0]), 0), f.W-1), min(max(y0+int(c[1]), 0), f.H-1)
			for ch := 0; ch < C; ch++ {
				q[ch] += c[2] * fr[ch*n+yi*f.W+xi]
			}
		}
	}
	pred := make([][][2]float64, nq)
	occ := make([][]bool, nq)
	for qi := range pred {
		pred[qi] = make([][2]float64, f.T)
		occ[qi] = make([]bool, f.T)
	}
	sims := make([]float32, nq*n)
	invNorm := make([]float32, n)
	for tt, fr := range frames {
		for k := 0; k < n; k++ {
			var s float64
			for ch := 0; ch < C; ch++ {
				s += float64(fr[ch*n+k]) * float64(fr[ch*n+k])
			}
			invNorm[k] = float32(1 / (math.Sqrt(s) + 1e-12))
		}
		gemm.MatMul(false, false, nq, n, C, 1, Q, C, fr, n, 0, sims, n)
		for qi := 0; qi < nq; qi++ {
			row := sims[qi*n : (qi+1)*n]
			best, bi := float32(math.Inf(-1)), 0
			for k, v := range row {
				if c := v * invNorm[k]; c > best {
					best, bi = c, k
				}
			}
			pred[qi][tt] = [2]float64{float64(7*(bi%f.W) + 7), float64(7*(bi/f.W) + 7)}
		}
	}
	return pred, occ
}
