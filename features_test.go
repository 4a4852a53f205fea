package dinotracker_test

import (
	"bytes"
	"context"
	"errors"
	"image"
	"log/slog"
	"math"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"

	"dinotracker"
	"dinotracker/imgproc"
	"dinotracker/internal/golden"
	"dinotracker/safetensors"
	"dinotracker/vit"
)

// The tiny golden case: a random-weight DINOv2 (D=64, depth 4, 4 heads) whose
// block-2 output at stride 7 for a 112×70 frame is the case's feature_map.
const (
	featTinyCase    = "testdata/golden/dinov2_tiny_stride7"
	featTinyWeights = featTinyCase + "/weights_hub.safetensors"
	featTestFrame   = "testdata/frames/horsejump-high-00000.jpg"
)

var featTiny struct {
	once sync.Once
	ext  *dinotracker.FeatureExtractor
	err  error
}

// featExtractor loads the tiny weights once for all tests of this file.
func featExtractor(t *testing.T) *dinotracker.FeatureExtractor {
	t.Helper()
	featTiny.once.Do(func() {
		featTiny.ext, featTiny.err = dinotracker.NewFeatureExtractor(featTinyWeights, vit.LoadOptions{Heads: 4})
	})
	if featTiny.err != nil {
		t.Fatal(featTiny.err)
	}
	return featTiny.ext
}

// featGolden returns the case's input frame as 8-bit RGB (round(v·255) of
// input_image [1,3,70,112]) and its feature_map [64,9,15].
func featGolden(t *testing.T) (*imgproc.RGB8, []float32) {
	t.Helper()
	c, err := golden.Load(featTinyCase)
	if err != nil {
		t.Fatal(err)
	}
	in, shape := c.F32(t, "input_image")
	if len(shape) != 4 || shape[0] != 1 || shape[1] != 3 || shape[2] != 70 || shape[3] != 112 {
		t.Fatalf("input_image shape %v, want [1 3 70 112]", shape)
	}
	h, w := shape[2], shape[3]
	fr := imgproc.NewRGB8(w, h)
	for ch := 0; ch < 3; ch++ {
		for i := 0; i < h*w; i++ {
			fr.Pix[3*i+ch] = uint8(math.Round(float64(in[ch*h*w+i]) * 255))
		}
	}
	// The golden input is an 8-bit image /255, so the conversion round-trips.
	if d := golden.Compare32(fr.Float32CHW(nil), in); d.MaxAbs != 0 {
		t.Fatalf("input_image is not an 8-bit image /255: %v", d)
	}
	fm, shape := c.F32(t, "feature_map")
	if len(shape) != 3 || shape[0] != 64 || shape[1] != 9 || shape[2] != 15 {
		t.Fatalf("feature_map shape %v, want [64 9 15]", shape)
	}
	return fr, fm
}

// featModified returns a copy of fr with a rectangle brightened by k·40 and
// one pixel set from k, so each k gives a distinct frame.
func featModified(fr *imgproc.RGB8, k int) *imgproc.RGB8 {
	m := fr.Clone()
	for y := 10 * k; y < 10*k+20 && y < m.H; y++ {
		for x := 15 * k; x < 15*k+30 && x < m.W; x++ {
			i := 3 * (y*m.W + x)
			for c := 0; c < 3; c++ {
				m.Pix[i+c] = uint8((int(m.Pix[i+c]) + 40*k) % 256)
			}
		}
	}
	m.Set(m.W-1, m.H-1, uint8(k), uint8(2*k), uint8(3*k))
	return m
}

// featVideo builds the 3-frame 112×70 test video: the golden frame then two
// modified copies.
func featVideo(t *testing.T) (*dinotracker.Video, []float32) {
	t.Helper()
	fr, fm := featGolden(t)
	v, err := dinotracker.NewVideo([]image.Image{fr, featModified(fr, 1), featModified(fr, 2)})
	if err != nil {
		t.Fatal(err)
	}
	return v, fm
}

// featConfig is the golden case's setting: 70×112, stride 7, block 2.
func featConfig(log *bytes.Buffer) dinotracker.FeatureConfig {
	cfg := dinotracker.FeatureConfig{Stride: 7, Block: 2, Height: 70, Width: 112}
	if log != nil {
		cfg.Logger = slog.New(slog.NewTextHandler(log, &slog.HandlerOptions{Level: slog.LevelDebug}))
	}
	return cfg
}

// featAll reads every frame of f into one [T·C·H·W] slice.
func featAll(t *testing.T, f *dinotracker.Features) []float32 {
	t.Helper()
	n := f.C * f.H * f.W
	all := make([]float32, 0, f.T*n)
	var buf []float32
	for i := 0; i < f.T; i++ {
		var err error
		if buf, err = f.Frame(i, buf); err != nil {
			t.Fatal(err)
		}
		if len(buf) != n {
			t.Fatalf("frame %d: %d values, want %d", i, len(buf), n)
		}
		all = append(all, buf...)
	}
	return all
}

func featCheckShape(t *testing.T, f *dinotracker.Features, T int) {
	t.Helper()
	if f.T != T || f.C != 64 || f.H != 9 || f.W != 15 {
		t.Fatalf("features [%d,%d,%d,%d], want [%d,64,9,15]", f.T, f.C, f.H, f.W, T)
	}
	if f.Stride != 7 || f.ModelH != 70 || f.ModelW != 112 {
		t.Fatalf("stride %d at %dx%d, want 7 at 70x112", f.Stride, f.ModelH, f.ModelW)
	}
}

// featDirEntries lists a directory's names (temporary files included).
func featDirEntries(t *testing.T, dir string) []string {
	t.Helper()
	ents, err := os.ReadDir(dir)
	if err != nil && !errors.Is(err, os.ErrNotExist) {
		t.Fatal(err)
	}
	var names []string
	for _, e := range ents {
		names = append(names, e.Name())
	}
	return names
}

// featCacheFiles checks that dir holds exactly want features-*.safetensors
// files and nothing else (no temporary files), and returns their paths.
func featCacheFiles(t *testing.T, dir string, want int) []string {
	t.Helper()
	names := featDirEntries(t, dir)
	var files []string
	for _, n := range names {
		if !strings.HasPrefix(n, "features-") || !strings.HasSuffix(n, ".safetensors") {
			t.Errorf("unexpected file %q in the cache directory", n)
			continue
		}
		files = append(files, filepath.Join(dir, n))
	}
	if len(files) != want {
		t.Fatalf("cache directory holds %d feature files %v, want %d", len(files), names, want)
	}
	return files
}

func featEqual(t *testing.T, what string, got, want []float32) {
	t.Helper()
	if len(got) != len(want) {
		t.Fatalf("%s: %d values, want %d", what, len(got), len(want))
	}
	for i := range want {
		if math.Float32bits(got[i]) != math.Float32bits(want[i]) {
			t.Fatalf("%s: value %d is %v, want %v (bit-identical)", what, i, got[i], want[i])
		}
	}
}

// TestExtractMatchesPyTorch: a 3-frame 112×70 video (no resize) at stride 7, block 2
// gives [3,64,9,15] features whose frame 0 is the golden feature_map.
func TestExtractMatchesPyTorch(t *testing.T) {
	ext := featExtractor(t)
	v, want := featVideo(t)
	calls := 0
	cfg := featConfig(nil)
	cfg.Progress = func(p dinotracker.Progress) {
		calls++
		if p.Stage != "features" || p.Done != calls || p.Total != 3 {
			t.Errorf("progress %+v after %d calls", p, calls)
		}
	}
	f, err := ext.Extract(context.Background(), v, cfg)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	featCheckShape(t, f, 3)
	if f.Block != 2 || f.Path != "" || f.Model != ext.Model.Name() {
		t.Errorf("block %d, path %q, model %q; want 2, \"\", %q", f.Block, f.Path, f.Model, ext.Model.Name())
	}
	if calls != 3 {
		t.Errorf("%d progress calls, want 3", calls)
	}
	fr0, err := f.Frame(0, nil)
	if err != nil {
		t.Fatal(err)
	}
	golden.Close(t, "frame 0 vs feature_map", fr0, want, 1e-4)

	// The modified frames give different, finite features.
	all := featAll(t, f)
	n := 64 * 9 * 15
	for i, x := range all {
		if math.IsNaN(float64(x)) || math.IsInf(float64(x), 0) {
			t.Fatalf("value %d is %v", i, x)
		}
	}
	for k := 1; k < 3; k++ {
		if d := golden.Compare32(all[k*n:(k+1)*n], all[:n]); d.MaxAbs < 1e-3 {
			t.Errorf("frame %d features equal frame 0's (max |Δ| %g): the modification was lost", k, d.MaxAbs)
		}
	}

	// Frames are independent: the same frame gives bit-identical features in
	// another video, at another position.
	v2, err := dinotracker.NewVideo([]image.Image{v.Frames[2], v.Frames[0]})
	if err != nil {
		t.Fatal(err)
	}
	f2, err := ext.Extract(context.Background(), v2, featConfig(nil))
	if err != nil {
		t.Fatal(err)
	}
	all2 := featAll(t, f2)
	featEqual(t, "frame 2 re-extracted", all2[:n], all[2*n:])
	featEqual(t, "frame 0 re-extracted", all2[n:], all[:n])

	if _, err := f.Frame(3, nil); err == nil {
		t.Error("Frame(3) of 3 frames: no error")
	}
	if _, err := f.Frame(-1, nil); err == nil {
		t.Error("Frame(-1): no error")
	}
}

// TestExtractJPEGFrame: the real 854×480 JPEG loaded with LoadFrame is resized
// inside Extract to the model size. The features equal those of the frame
// resized beforehand with ResizeLanczos; when the decode+resize reproduces
// the golden (PIL) input exactly, they also match the golden feature_map.
func TestExtractJPEGFrame(t *testing.T) {
	ext := featExtractor(t)
	goldFrame, want := featGolden(t)
	fr, err := dinotracker.LoadFrame(featTestFrame)
	if err != nil {
		t.Fatal(err)
	}
	if fr.W != 854 || fr.H != 480 {
		t.Fatalf("test frame is %dx%d, want 854x480", fr.W, fr.H)
	}
	v := &dinotracker.Video{Width: fr.W, Height: fr.H, OrigWidth: fr.W, OrigHeight: fr.H,
		Frames: []*imgproc.RGB8{fr}, Names: []string{featTestFrame}}
	f, err := ext.Extract(context.Background(), v, featConfig(nil))
	if err != nil {
		t.Fatal(err)
	}
	featCheckShape(t, f, 1)
	got, _ := f.Frame(0, nil)

	small, err := imgproc.ResizeLanczos(fr, 112, 70)
	if err != nil {
		t.Fatal(err)
	}
	vs := &dinotracker.Video{Width: 112, Height: 70, Frames: []*imgproc.RGB8{small}}
	fs, err := ext.Extract(context.Background(), vs, featConfig(nil))
	if err != nil {
		t.Fatal(err)
	}
	pre, _ := fs.Frame(0, nil)
	featEqual(t, "resized in Extract vs beforehand", got, pre)

	diff, maxd := 0, 0
	for i := range small.Pix {
		d := int(small.Pix[i]) - int(goldFrame.Pix[i])
		if d < 0 {
			d = -d
		}
		if d != 0 {
			diff++
			maxd = max(maxd, d)
		}
	}
	if diff != 0 {
		// Go's JPEG IDCT is not bit-exact with libjpeg-turbo: a few values
		// are off by a level, so only a loose bound holds.
		d := golden.Compare32(got, want)
		t.Logf("decoded+resized frame differs from the golden PIL input in %d of %d values (max %d levels); features vs feature_map: %v", diff, len(small.Pix), maxd, d)
		if d.NaNFault || d.MaxAbs > 0.1 {
			t.Errorf("JPEG frame vs feature_map: %v, beyond the loose bound 0.1 for ±%d-level input differences", d, maxd)
		}
		return
	}
	golden.Close(t, "JPEG frame vs feature_map", got, want, 1e-4)
}

// TestExtractResizeMatchesPyTorch: the PIL-decoded 854×480 frame of the resize golden
// case (src_rgb, the same DAVIS frame) is resized inside Extract with
// LANCZOS to 112×70 and must give the golden feature_map within 1e-4: the
// whole resize → normalise → ViT path against PyTorch.
func TestExtractResizeMatchesPyTorch(t *testing.T) {
	ext := featExtractor(t)
	_, want := featGolden(t)
	c, err := golden.Load("testdata/golden/resize_lanczos")
	if err != nil {
		t.Skipf("resize golden case unavailable: %v", err)
	}
	src := c.Tensor(t, "src_rgb")
	if src.DType != "U8" || len(src.Shape) != 3 || src.Shape[0] != 480 || src.Shape[1] != 854 || src.Shape[2] != 3 {
		t.Fatalf("src_rgb %s %v, want U8 [480 854 3]", src.DType, src.Shape)
	}
	fr := &imgproc.RGB8{W: 854, H: 480, Pix: src.Raw}
	v, err := dinotracker.NewVideo([]image.Image{fr, fr})
	if err != nil {
		t.Fatal(err)
	}
	f, err := ext.Extract(context.Background(), v, featConfig(nil))
	if err != nil {
		t.Fatal(err)
	}
	featCheckShape(t, f, 2)
	all := featAll(t, f)
	n := 64 * 9 * 15
	golden.Close(t, "src_rgb resized in Extract vs feature_map", all[:n], want, 1e-4)
	featEqual(t, "same frame twice", all[n:], all[:n])
}

// TestExtractCache: the cache file is written once, atomically, hit on the
// second call, keyed by block, pixels and precision, and F16 stays close.
func TestExtractCache(t *testing.T) {
	ext := featExtractor(t)
	v, _ := featVideo(t)
	dir := filepath.Join(t.TempDir(), "cache") // created by Extract
	var log bytes.Buffer
	calls := 0
	cfg := featConfig(&log)
	cfg.CacheDir = dir
	cfg.Progress = func(dinotracker.Progress) { calls++ }

	mem, err := ext.Extract(context.Background(), v, featConfig(nil))
	if err != nil {
		t.Fatal(err)
	}
	want := featAll(t, mem)

	// Miss: computes every frame and writes exactly one file.
	f1, err := ext.Extract(context.Background(), v, cfg)
	if err != nil {
		t.Fatal(err)
	}
	defer f1.Close()
	if calls != 3 {
		t.Errorf("first call: %d progress calls, want 3", calls)
	}
	files := featCacheFiles(t, dir, 1)
	if f1.Path != files[0] {
		t.Errorf("Features.Path %q, cache file %q", f1.Path, files[0])
	}
	featCheckShape(t, f1, 3)
	featEqual(t, "first (cached) call vs in memory", featAll(t, f1), want)
	r, err := safetensors.Open(f1.Path)
	if err != nil {
		t.Fatal(err)
	}
	dt, shape, ok := r.Shape("features")
	meta := r.Metadata
	r.Close()
	if !ok || dt != "F32" || len(shape) != 4 || shape[0] != 3 || shape[1] != 64 || shape[2] != 9 || shape[3] != 15 {
		t.Errorf("cache tensor %s %v (present %v), want F32 [3 64 9 15]", dt, shape, ok)
	}
	if meta["block"] != "2" || meta["stride"] != "7" || meta["weights_sha256"] != ext.Digest || meta["key"] == "" {
		t.Errorf("cache metadata %v", meta)
	}

	// Hit: no frame recomputed, same file, identical values.
	calls = 0
	log.Reset()
	f2, err := ext.Extract(context.Background(), v, cfg)
	if err != nil {
		t.Fatal(err)
	}
	defer f2.Close()
	if calls != 0 {
		t.Errorf("second call recomputed %d frames, want a cache hit", calls)
	}
	if f2.Path != f1.Path {
		t.Errorf("second call path %q, want %q", f2.Path, f1.Path)
	}
	if !strings.Contains(log.String(), "cache hit") {
		t.Errorf("no cache hit logged: %q", log.String())
	}
	featCheckShape(t, f2, 3)
	featEqual(t, "cache hit", featAll(t, f2), want)
	featCacheFiles(t, dir, 1)

	// Another block: new key, new file.
	calls = 0
	cfgB := cfg
	cfgB.Block = 1
	f3, err := ext.Extract(context.Background(), v, cfgB)
	if err != nil {
		t.Fatal(err)
	}
	defer f3.Close()
	if calls != 3 || f3.Block != 1 || f3.Path == f1.Path {
		t.Errorf("block 1: %d progress calls, block %d, path %q (block 2's %q)", calls, f3.Block, f3.Path, f1.Path)
	}
	featCacheFiles(t, dir, 2)

	// One pixel of one frame changed: new key, new file.
	calls = 0
	fr := v.Frames[1].Clone()
	fr.Pix[3*(35*112+56)] ^= 1
	vp, err := dinotracker.NewVideo([]image.Image{v.Frames[0], fr, v.Frames[2]})
	if err != nil {
		t.Fatal(err)
	}
	f4, err := ext.Extract(context.Background(), vp, cfg)
	if err != nil {
		t.Fatal(err)
	}
	defer f4.Close()
	if calls != 3 || f4.Path == f1.Path {
		t.Errorf("changed pixel: %d progress calls, path %q (original %q)", calls, f4.Path, f1.Path)
	}
	featCacheFiles(t, dir, 3)
	n := 64 * 9 * 15
	got4 := featAll(t, f4)
	featEqual(t, "unchanged frame 0", got4[:n], want[:n])
	featEqual(t, "unchanged frame 2", got4[2*n:], want[2*n:])

	// Half: F16 file under its own key, values within 2e-3 relative.
	calls = 0
	cfgH := cfg
	cfgH.Half = true
	f5, err := ext.Extract(context.Background(), v, cfgH)
	if err != nil {
		t.Fatal(err)
	}
	defer f5.Close()
	if calls != 3 || f5.Path == f1.Path {
		t.Errorf("half: %d progress calls, path %q (F32 %q)", calls, f5.Path, f1.Path)
	}
	featCacheFiles(t, dir, 4)
	if r, err := safetensors.Open(f5.Path); err != nil {
		t.Fatal(err)
	} else {
		if dt, _, _ := r.Shape("features"); dt != "F16" {
			t.Errorf("half cache dtype %s, want F16", dt)
		}
		r.Close()
	}
	half := featAll(t, f5)
	for i := range want {
		if d := math.Abs(float64(half[i] - want[i])); d > 2e-3*math.Abs(float64(want[i]))+1e-7 {
			t.Fatalf("half value %d: %v vs F32 %v (|Δ| %g)", i, half[i], want[i], d)
		}
	}
	calls = 0
	f6, err := ext.Extract(context.Background(), v, cfgH)
	if err != nil {
		t.Fatal(err)
	}
	defer f6.Close()
	if calls != 0 || f6.Path != f5.Path {
		t.Errorf("half second call: %d progress calls, path %q (want hit on %q)", calls, f6.Path, f5.Path)
	}
	featEqual(t, "half cache hit", featAll(t, f6), half)
	featCacheFiles(t, dir, 4)
}

// TestExtractTruncatedCache: a damaged or mismatched cache file is not an
// error: Extract recomputes, replaces it and returns the same values.
func TestExtractTruncatedCache(t *testing.T) {
	ext := featExtractor(t)
	v, _ := featVideo(t)
	dir := t.TempDir()
	var log bytes.Buffer
	calls := 0
	cfg := featConfig(&log)
	cfg.CacheDir = dir
	cfg.Progress = func(dinotracker.Progress) { calls++ }

	f, err := ext.Extract(context.Background(), v, cfg)
	if err != nil {
		t.Fatal(err)
	}
	want := featAll(t, f)
	path := f.Path
	f.Close()
	st, err := os.Stat(path)
	if err != nil {
		t.Fatal(err)
	}
	full := st.Size()

	damage := map[string]func() error{
		"empty":       func() error { return os.Truncate(path, 0) },
		"header only": func() error { return os.Truncate(path, 8) },
		"half":        func() error { return os.Truncate(path, full/2) },
		"last byte":   func() error { return os.Truncate(path, full-1) },
		"wrong tensor": func() error {
			return safetensors.WriteFile(path, []safetensors.Entry{{Name: "features", DType: "F32", Shape: []int{1, 1, 1, 1}, Data: []float32{0}}}, nil)
		},
	}
	for _, name := range []string{"empty", "header only", "half", "last byte", "wrong tensor"} {
		t.Run(name, func(t *testing.T) {
			if err := damage[name](); err != nil {
				t.Fatal(err)
			}
			calls = 0
			log.Reset()
			f, err := ext.Extract(context.Background(), v, cfg)
			if err != nil {
				t.Fatalf("Extract with a damaged cache: %v", err)
			}
			defer f.Close()
			if calls != 3 {
				t.Errorf("%d progress calls, want 3 (recomputed)", calls)
			}
			if f.Path != path {
				t.Errorf("path %q, want %q", f.Path, path)
			}
			if !strings.Contains(log.String(), "unusable") {
				t.Errorf("no warning about the unusable cache: %q", log.String())
			}
			featEqual(t, "recomputed", featAll(t, f), want)
			if st, err := os.Stat(path); err != nil {
				t.Errorf("rewritten cache file: %v", err)
			} else if st.Size() != full {
				t.Errorf("rewritten cache file has %d bytes, want %d", st.Size(), full)
			}
			featCacheFiles(t, dir, 1)
			// And the repaired file is a hit again.
			calls = 0
			g, err := ext.Extract(context.Background(), v, cfg)
			if err != nil {
				t.Fatal(err)
			}
			defer g.Close()
			if calls != 0 {
				t.Errorf("after repair: %d progress calls, want a hit", calls)
			}
		})
	}
}

// TestExtractCancel: a cancelled context stops Extract with context.Canceled
// and leaves neither a cache file nor a temporary file.
func TestExtractCancel(t *testing.T) {
	ext := featExtractor(t)
	v, _ := featVideo(t)

	t.Run("before", func(t *testing.T) {
		dir := t.TempDir()
		ctx, cancel := context.WithCancel(context.Background())
		cancel()
		cfg := featConfig(nil)
		cfg.CacheDir = dir
		f, err := ext.Extract(ctx, v, cfg)
		if !errors.Is(err, context.Canceled) {
			t.Fatalf("got %v, %v; want context.Canceled", f, err)
		}
		if names := featDirEntries(t, dir); len(names) != 0 {
			t.Errorf("cache directory holds %v after cancellation", names)
		}
	})
	t.Run("midway", func(t *testing.T) {
		dir := t.TempDir()
		ctx, cancel := context.WithCancel(context.Background())
		defer cancel()
		calls := 0
		cfg := featConfig(nil)
		cfg.CacheDir = dir
		cfg.Progress = func(p dinotracker.Progress) {
			calls++
			if p.Done == 1 {
				cancel()
			}
		}
		_, err := ext.Extract(ctx, v, cfg)
		if !errors.Is(err, context.Canceled) {
			t.Fatalf("got %v, want context.Canceled", err)
		}
		if calls != 1 {
			t.Errorf("%d frames computed after cancelling at the first, want 1", calls)
		}
		if names := featDirEntries(t, dir); len(names) != 0 {
			t.Errorf("cache directory holds %v after cancellation", names)
		}
		// A later, uncancelled run is a miss that completes normally.
		cfg.Progress = nil
		f, err := ext.Extract(context.Background(), v, cfg)
		if err != nil {
			t.Fatal(err)
		}
		f.Close()
		featCacheFiles(t, dir, 1)
	})
	t.Run("in memory", func(t *testing.T) {
		ctx, cancel := context.WithCancel(context.Background())
		cancel()
		if _, err := ext.Extract(ctx, v, featConfig(nil)); !errors.Is(err, context.Canceled) {
			t.Fatalf("got %v, want context.Canceled", err)
		}
	})
}

// TestExtractErrors: bad blocks, model sizes and empty videos are reported
// before any work, and LastBlock selects the last block.
func TestExtractErrors(t *testing.T) {
	ext := featExtractor(t)
	v, _ := featVideo(t)
	ctx := context.Background()
	for _, c := range []struct {
		name   string
		mod    func(*dinotracker.FeatureConfig)
		v      *dinotracker.Video
		substr string
		is     error
	}{
		{"block = depth", func(c *dinotracker.FeatureConfig) { c.Block = 4 }, v, "block 4", nil},
		{"block 15", func(c *dinotracker.FeatureConfig) { c.Block = 15 }, v, "block 15", nil},
		{"width 100", func(c *dinotracker.FeatureConfig) { c.Width = 100 }, v, "multiples of 14", nil},
		{"height 63", func(c *dinotracker.FeatureConfig) { c.Height = 63 }, v, "multiples of 14", nil},
		{"height 7", func(c *dinotracker.FeatureConfig) { c.Height = 7 }, v, "multiples of 14", nil},
		{"frame below one patch", func(c *dinotracker.FeatureConfig) { c.Height, c.Width = 0, 0 },
			&dinotracker.Video{Width: 13, Height: 13, Frames: []*imgproc.RGB8{imgproc.NewRGB8(13, 13)}}, "multiples of 14", nil},
		{"nil video", nil, nil, "", dinotracker.ErrNoFrames},
		{"empty video", nil, &dinotracker.Video{}, "", dinotracker.ErrNoFrames},
	} {
		t.Run(c.name, func(t *testing.T) {
			dir := t.TempDir()
			cfg := featConfig(nil)
			cfg.CacheDir = dir
			if c.mod != nil {
				c.mod(&cfg)
			}
			f, err := ext.Extract(ctx, c.v, cfg)
			if err == nil {
				f.Close()
				t.Fatalf("no error")
			}
			if c.is != nil && !errors.Is(err, c.is) {
				t.Errorf("error %q does not wrap %v", err, c.is)
			}
			if !strings.Contains(err.Error(), c.substr) {
				t.Errorf("error %q does not mention %q", err, c.substr)
			}
			if names := featDirEntries(t, dir); len(names) != 0 {
				t.Errorf("cache directory holds %v after an error", names)
			}
		})
	}

	t.Run("last block", func(t *testing.T) {
		cfg := featConfig(nil)
		cfg.Block = dinotracker.LastBlock
		f, err := ext.Extract(ctx, v, cfg)
		if err != nil {
			t.Fatal(err)
		}
		if f.Block != 3 {
			t.Errorf("LastBlock gave block %d, want 3", f.Block)
		}
	})
	t.Run("default size", func(t *testing.T) {
		// Zero Height/Width: the frame size rounded down to multiples of 14.
		big, err := imgproc.ResizeLanczos(v.Frames[0], 120, 75)
		if err != nil {
			t.Fatal(err)
		}
		vb := &dinotracker.Video{Width: 120, Height: 75, Frames: []*imgproc.RGB8{big}}
		cfg := featConfig(nil)
		cfg.Height, cfg.Width = 0, 0
		f, err := ext.Extract(ctx, vb, cfg)
		if err != nil {
			t.Fatal(err)
		}
		featCheckShape(t, f, 1)
	})
}

// TestExtractCacheKeyHeads: the head count is not stored in the weights, so
// the same file loaded with another head count is another model and must not
// share cache entries.
func TestExtractCacheKeyHeads(t *testing.T) {
	ext4 := featExtractor(t)
	ext1, err := dinotracker.NewFeatureExtractor(featTinyWeights, vit.LoadOptions{Heads: 1})
	if err != nil {
		t.Fatal(err)
	}
	if ext1.Model.Heads != 1 || ext1.Digest != ext4.Digest {
		t.Fatalf("heads %d, digests %s / %s", ext1.Model.Heads, ext1.Digest, ext4.Digest)
	}
	v, _ := featVideo(t)
	cfg := featConfig(nil)
	cfg.CacheDir = t.TempDir()
	f4, err := ext4.Extract(context.Background(), v, cfg)
	if err != nil {
		t.Fatal(err)
	}
	defer f4.Close()
	calls := 0
	cfg.Progress = func(dinotracker.Progress) { calls++ }
	f1, err := ext1.Extract(context.Background(), v, cfg)
	if err != nil {
		t.Fatal(err)
	}
	defer f1.Close()
	if calls != 3 || f1.Path == f4.Path {
		t.Fatalf("1-head model reused the 4-head cache %s (%d frames computed)", f4.Path, calls)
	}
	mem, err := ext1.Extract(context.Background(), v, featConfig(nil))
	if err != nil {
		t.Fatal(err)
	}
	featEqual(t, "1-head cached vs in memory", featAll(t, f1), featAll(t, mem))
	featCacheFiles(t, cfg.CacheDir, 2)
}
