package bestbuddies

import (
	"context"
	"fmt"
	"math"
	"os"
	"path/filepath"
	"runtime"
	"sort"
	"strconv"
	"testing"
	"time"

	"dinotracker/imgproc"
	"dinotracker/safetensors"
	"dinotracker/vit"
)

// recall compares a (bounded) result with the exhaustive one, pair by pair:
// a best-buddy pair is the tuple (s, t, source token, target token).
type recall struct {
	exTotal, exSearched, found, hit int
	framePairs, framePairsEx        int
	overall, pairRecall, precision  float64
	maxCos, maxR, meanR             float64
}

func (r recall) String() string {
	return fmt.Sprintf("frame pairs %d/%d; recall %.4f overall, %.4f on searched frame pairs (%d of %d); precision %.4f (%d found); max |Δcos| %.2g, |Δr| max %.3g mean %.3g",
		r.framePairs, r.framePairsEx, r.overall, r.pairRecall, r.hit, r.exSearched, r.precision, r.found, r.maxCos, r.maxR, r.meanR)
}

func recallOf(got, ex *Result) recall {
	var r recall
	r.framePairs, r.framePairsEx = len(got.Pairs), len(ex.Pairs)
	var sumR float64
	for k, pe := range ex.Pairs {
		r.exTotal += pe.Len()
		pg := got.Pairs[k]
		if pg == nil {
			continue
		}
		r.exSearched += pe.Len()
		idx := make(map[[2]int32]int, pe.Len())
		for i := range pe.SourceTok {
			idx[[2]int32{pe.SourceTok[i], pe.TargetTok[i]}] = i
		}
		r.found += pg.Len()
		for i := range pg.SourceTok {
			j, ok := idx[[2]int32{pg.SourceTok[i], pg.TargetTok[i]}]
			if !ok {
				continue
			}
			r.hit++
			r.maxCos = math.Max(r.maxCos, math.Abs(float64(pg.Cos[i]-pe.Cos[j])))
			if pg.R != nil && pe.R != nil {
				d := math.Abs(float64(pg.R[i] - pe.R[j]))
				r.maxR = math.Max(r.maxR, d)
				sumR += d
			}
		}
	}
	for k, pg := range got.Pairs {
		if ex.Pairs[k] == nil {
			r.found += pg.Len()
		}
	}
	r.overall = float64(r.hit) / math.Max(1, float64(r.exTotal))
	r.pairRecall = float64(r.hit) / math.Max(1, float64(r.exSearched))
	r.precision = float64(r.hit) / math.Max(1, float64(r.found))
	r.meanR = sumR / math.Max(1, float64(r.hit))
	return r
}

// TestBoundedRecallOnCaseFeatures runs the reduced-dimension search on the
// best_buddies golden case's features and compares its mutual pairs with the golden raw pairs.
// With a full-rank basis (D = C = 16) it must find them exactly. With D = 8
// it only logs recall: these features are isotropic random fields, the worst
// case for PCA (DINO features have a fast-decaying spectrum).
func TestBoundedRecallOnCaseFeatures(t *testing.T) {
	dir := filepath.Join(goldenDir(), "best_buddies")
	f, err := safetensors.ReadFile(filepath.Join(dir, "tensors.safetensors"))
	if err != nil {
		t.Skipf("golden case best_buddies not readable: %v", err)
	}
	feats, err := f.Tensors["features"].Float32()
	if err != nil {
		t.Fatal(err)
	}
	T, C := 3, 16
	grid := DefaultGrid(67, 121)
	N := grid.N()
	if len(feats) != T*C*N {
		t.Skipf("features hold %d values, not the [3,16,67,121] this test is written for", len(feats))
	}
	var sample []float32
	frames := make([]*Frame, T)
	for i := range frames {
		frames[i] = NewFrame(feats[i*C*N:(i+1)*C*N], C, N)
		sample = append(sample, frames[i].X...)
	}
	for _, D := range []int{16, 8} {
		basis, err := PCABasis(sample, T*N, C, D, 1)
		if err != nil {
			t.Fatal(err)
		}
		for _, fr := range frames {
			basis.Project(fr)
		}
		var w projWork
		var hit, found, want int
		for s := 0; s < T; s++ {
			for u := s + 1; u < T; u++ {
				st, ts := w.mutualProjected(frames[s], frames[u], 8, grid, 0)
				for _, d := range []struct {
					p    *Pairs
					a, b int
				}{{st, s, u}, {ts, u, s}} {
					key := fmt.Sprintf("raw/%d_%d/", d.a, d.b)
					src, _ := f.Tensors[key+"source_coords"].Float32()
					dst, _ := f.Tensors[key+"target_coords"].Float32()
					ref := map[[4]float32]bool{}
					for i := 0; i+1 < len(src); i += 2 {
						ref[[4]float32{src[i], src[i+1], dst[i], dst[i+1]}] = true
					}
					want += len(ref)
					found += d.p.Len()
					for i := range d.p.Source {
						if ref[[4]float32{d.p.Source[i][0], d.p.Source[i][1], d.p.Target[i][0], d.p.Target[i][1]}] {
							hit++
						}
					}
				}
			}
		}
		t.Logf("golden features, reduced search D=%d of C=%d, 8 candidates: recall %.4f (%d of %d), precision %.4f (%d found)",
			D, C, float64(hit)/float64(want), hit, want, float64(hit)/float64(max(found, 1)), found)
		if D == C && (hit != want || found != want) {
			t.Errorf("full-rank reduced search: %d of %d golden pairs found, %d found in all", hit, want, found)
		}
	}
}

// goldenDir mirrors internal/golden.Dir for tests that read one file.
func goldenDir() string {
	if d := os.Getenv("DINOTRACKER_GOLDEN"); d != "" {
		return d
	}
	_, file, _, _ := runtime.Caller(0)
	return filepath.Join(filepath.Dir(filepath.Dir(file)), "testdata", "golden")
}

// randomViTFeatures extracts block-3 features of a random-weight ViT-S/14
// (4 blocks, stride 7) from the first n frames of dir resized (PIL LANCZOS)
// to w×h. They are cached in cacheDir (if writable) because extraction
// takes minutes on two cores.
func randomViTFeatures(t *testing.T, dir string, n, h, w int, cacheDir string) (feats []float32, T, C, gh, gw int) {
	cache := filepath.Join(cacheDir, fmt.Sprintf("dinotracker-bb-recall-vits4-%d-%dx%d.safetensors", n, w, h))
	if f, err := safetensors.ReadFile(cache); err == nil {
		x := f.Tensors["features"]
		if v, err := x.Float32(); err == nil && len(x.Shape) == 4 {
			return v, x.Shape[0], x.Shape[1], x.Shape[2], x.Shape[3]
		}
	}
	m, err := vit.NewRandom(vit.Config{Dim: 384, Depth: 4, Heads: 6}, 2024)
	if err != nil {
		t.Fatal(err)
	}
	ents, err := os.ReadDir(dir)
	if err != nil {
		t.Fatal(err)
	}
	var files []string
	for _, e := range ents {
		if filepath.Ext(e.Name()) == ".jpg" {
			files = append(files, filepath.Join(dir, e.Name()))
		}
	}
	sort.Strings(files)
	files = files[:min(n, len(files))]
	start := time.Now()
	for i, p := range files {
		fh, err := os.Open(p)
		if err != nil {
			t.Fatal(err)
		}
		img, err := imgproc.DecodeJPEG(fh)
		fh.Close()
		if err != nil {
			t.Fatal(err)
		}
		img, err = imgproc.ResizeLanczos(img, w, h)
		if err != nil {
			t.Fatal(err)
		}
		chw := img.Float32CHW(nil)
		vit.Normalize(chw, h, w)
		res, err := m.Run(context.Background(), chw, h, w, vit.Request{Stride: 7, Blocks: []int{3}})
		if err != nil {
			t.Fatal(err)
		}
		feats = append(feats, res.FeatureMap(res.Blocks[3], nil)...)
		T, C, gh, gw = i+1, res.Dim, res.GridH, res.GridW
	}
	t.Logf("random ViT-S/14 (4 blocks) features of %d frames at %dx%d (%dx%d tokens): %v", T, w, h, gh, gw, time.Since(start).Round(time.Second))
	err = safetensors.WriteFile(cache, []safetensors.Entry{{Name: "features", DType: "F32", Shape: []int{T, C, gh, gw}, Data: feats}}, nil)
	if err != nil {
		t.Logf("feature cache not written: %v", err)
	}
	return feats, T, C, gh, gw
}

// TestBoundedRecallHorsejump measures the bounded mode against the
// exhaustive mode on a real clip (the reference's horsejump sample, 50
// frames at 238×420, 33×59 tokens). No DINOv2 weights are available here,
// so by default the features come from a random-weight ViT-S/14 (4 blocks,
// stride 7): its tokens are dominated by the positional embedding (most best
// buddies link a token to the same grid position), so the recall is only
// indicative. DINOTRACKER_BB_RECALL_FEATURES names another [T, C, gh, gw]
// features file instead (tensor "features", e.g. from `dinotracker features
// -weights builtin -size 238x420`). No trajectories are used (flow filter
// off). It takes 10–25 minutes on two cores, so it runs only with
// DINOTRACKER_BB_RECALL=1 (DINOTRACKER_BB_RECALL_FRAMES sets the number of
// frames for the ViT features).
func TestBoundedRecallHorsejump(t *testing.T) {
	if os.Getenv("DINOTRACKER_BB_RECALL") == "" {
		t.Skip("set DINOTRACKER_BB_RECALL=1 to run (10–25 minutes)")
	}
	var feats []float32
	var T, C, gh, gw int
	if path := os.Getenv("DINOTRACKER_BB_RECALL_FEATURES"); path != "" {
		f, err := safetensors.ReadFile(path)
		if err != nil {
			t.Fatal(err)
		}
		x := f.Tensors["features"]
		if x == nil || len(x.Shape) != 4 {
			t.Fatalf("%s: no [T,C,gh,gw] tensor \"features\"", path)
		}
		if feats, err = x.Float32(); err != nil {
			t.Fatal(err)
		}
		T, C, gh, gw = x.Shape[0], x.Shape[1], x.Shape[2], x.Shape[3]
		t.Logf("features %s: %v (%s)", path, x.Shape, f.Metadata["model"])
	} else {
		_, file, _, _ := runtime.Caller(0)
		dir := filepath.Join(filepath.Dir(file), "..", "..", "shared", "data", "horsejump-50f", "video")
		if _, err := os.Stat(dir); err != nil {
			t.Skipf("horsejump frames not present: %v", err)
		}
		n := 50
		if s := os.Getenv("DINOTRACKER_BB_RECALL_FRAMES"); s != "" {
			n, _ = strconv.Atoi(s)
		}
		feats, T, C, gh, gw = randomViTFeatures(t, dir, n, 238, 420, os.TempDir())
	}
	src := memSource{feats, C * gh * gw}
	ctx := context.Background()
	run := func(name string, opt Options) (*Result, time.Duration) {
		start := time.Now()
		r, err := Compute(ctx, src, T, C, gh, gw, nil, opt, nil)
		if err != nil {
			t.Fatal(err)
		}
		d := time.Since(start)
		pairs, same := 0, 0
		for _, p := range r.Pairs {
			pairs += p.Len()
			for i := range p.SourceTok {
				if p.SourceTok[i] == p.TargetTok[i] {
					same++
				}
			}
		}
		t.Logf("%-34s %4d frame pairs, %7d BB pairs (%.0f%% at the same grid position), %6.1f s",
			name, len(r.Pairs)/2, pairs, 100*float64(same)/float64(max(pairs, 1)), d.Seconds())
		return r, d
	}
	ex, exTime := run("exhaustive", ExhaustiveOptions())
	def := DefaultOptions()
	for _, c := range []struct {
		name              string
		partners, d, cand int
	}{
		{fmt.Sprintf("default (%d partners, D=%d, k=%d)", def.Partners, def.ProjDim, def.Candidates), def.Partners, def.ProjDim, def.Candidates},
		{"16 partners, exact", 16, 0, 8},
		{"all pairs, D=32, k=8", 0, 32, 8},
		{"all pairs, D=64, k=8", 0, 64, 8},
		{"all pairs, D=64, k=16", 0, 64, 16},
		{"all pairs, D=128, k=8", 0, 128, 8},
	} {
		if c.d >= C {
			continue
		}
		opt := DefaultOptions()
		opt.Partners, opt.ProjDim, opt.Candidates = c.partners, c.d, c.cand
		r, d := run(c.name, opt)
		t.Logf("  %s; %.1f× faster than exhaustive", recallOf(r, ex), exTime.Seconds()/d.Seconds())
	}
}
