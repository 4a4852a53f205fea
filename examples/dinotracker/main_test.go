package main

import (
	"bytes"
	"context"
	"image"
	"image/color"
	"image/png"
	"math"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"dinotracker"
	"dinotracker/safetensors"
	"dinotracker/vit"
)

// tinyWeights is the tiny random DINOv2 of the golden cases (D=64, 4 blocks,
// 4 heads, so -heads 4 is needed).
const tinyWeights = "../../testdata/golden/dinov2_tiny_stride7/weights_hub.safetensors"

// cli runs the command line in-process and returns the exit code, stdout and
// stderr.
func cli(t *testing.T, args ...string) (code int, stdout, stderr string) {
	t.Helper()
	var o, e bytes.Buffer
	code = run(context.Background(), args, &o, &e)
	return code, o.String(), e.String()
}

// writeFrames writes n distinct 112×70 PNG frames to a new directory.
func writeFrames(t *testing.T, n int) string {
	t.Helper()
	dir := filepath.Join(t.TempDir(), "frames")
	if err := os.Mkdir(dir, 0o755); err != nil {
		t.Fatal(err)
	}
	for k := 0; k < n; k++ {
		m := image.NewRGBA(image.Rect(0, 0, 112, 70))
		for y := 0; y < 70; y++ {
			for x := 0; x < 112; x++ {
				m.Set(x, y, color.RGBA{uint8(2*x + 9*k), uint8(3*y + 5*k), uint8(x*y + 17*k), 255})
			}
		}
		f, err := os.Create(filepath.Join(dir, string(rune('a'+k))+".png"))
		if err != nil {
			t.Fatal(err)
		}
		if err := png.Encode(f, m); err != nil {
			t.Fatal(err)
		}
		if err := f.Close(); err != nil {
			t.Fatal(err)
		}
	}
	return dir
}

// readFeatures reads the "features" tensor of an output file.
func readFeatures(t *testing.T, path string) (*safetensors.File, *safetensors.Tensor, []float32) {
	t.Helper()
	f, err := safetensors.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	x, ok := f.Tensors["features"]
	if !ok {
		t.Fatalf("%s has no tensor \"features\" (has %v)", path, f.Names())
	}
	v, err := x.Float32()
	if err != nil {
		t.Fatal(err)
	}
	return f, x, v
}

func sameInts(a, b []int) bool {
	if len(a) != len(b) {
		return false
	}
	for i := range a {
		if a[i] != b[i] {
			return false
		}
	}
	return true
}

func TestFeaturesVideoAndImage(t *testing.T) {
	frames := writeFrames(t, 3)
	dir := t.TempDir()
	out := filepath.Join(dir, "feats.safetensors")
	base := []string{"features", "-weights", tinyWeights, "-heads", "4", "-size", "70x112", "-stride", "7", "-layer", "2", "-q"}

	code, stdout, stderr := cli(t, append(base, "-video", frames, "-out", out)...)
	if code != 0 {
		t.Fatalf("exit %d, stderr:\n%s", code, stderr)
	}
	if !strings.Contains(stdout, out) || !strings.Contains(stdout, "[3 64 9 15]") {
		t.Errorf("stdout %q does not report the file and shape", stdout)
	}
	if strings.Contains(stderr, "\r") {
		t.Errorf("-q still drew a progress bar: %q", stderr)
	}
	file, x, vals := readFeatures(t, out)
	if x.DType != "F32" || !sameInts(x.Shape, []int{3, 64, 9, 15}) {
		t.Fatalf("features %s %v, want F32 [3 64 9 15]", x.DType, x.Shape)
	}
	for k, want := range map[string]string{"block": "2", "stride": "7", "height": "70", "width": "112", "model": "ViT-D64/14"} {
		if file.Metadata[k] != want {
			t.Errorf("metadata %s = %q, want %q", k, file.Metadata[k], want)
		}
	}
	// Nothing but the output and the default cache beside it.
	ents, _ := os.ReadDir(dir)
	for _, e := range ents {
		if e.Name() != "feats.safetensors" && e.Name() != ".dinotracker-cache" {
			t.Errorf("unexpected file %s beside the output", e.Name())
		}
	}
	cached, _ := filepath.Glob(filepath.Join(dir, ".dinotracker-cache", "features-*.safetensors"))
	if len(cached) != 1 {
		t.Errorf("default cache holds %v, want one features file", cached)
	}

	// The values are the library's for the same frames and settings.
	ext, err := dinotracker.NewFeatureExtractor(tinyWeights, vit.LoadOptions{Heads: 4})
	if err != nil {
		t.Fatal(err)
	}
	v, err := dinotracker.LoadVideo(context.Background(), frames)
	if err != nil {
		t.Fatal(err)
	}
	lib, err := ext.Extract(context.Background(), v, dinotracker.FeatureConfig{Stride: 7, Block: 2, Height: 70, Width: 112})
	if err != nil {
		t.Fatal(err)
	}
	n := 64 * 9 * 15
	for ti := 0; ti < 3; ti++ {
		want, _ := lib.Frame(ti, nil)
		for i := range want {
			if math.Float32bits(vals[ti*n+i]) != math.Float32bits(want[i]) {
				t.Fatalf("frame %d value %d: CLI %v, library %v", ti, i, vals[ti*n+i], want[i])
			}
		}
	}

	// A second run is served from the cache and writes the same file.
	out2 := filepath.Join(dir, "again.safetensors")
	if code, _, stderr := cli(t, append(base, "-video", frames, "-out", out2)...); code != 0 {
		t.Fatalf("second run: exit %d, stderr:\n%s", code, stderr)
	}
	_, _, vals2 := readFeatures(t, out2)
	for i := range vals {
		if math.Float32bits(vals2[i]) != math.Float32bits(vals[i]) {
			t.Fatalf("cached run value %d: %v, first run %v", i, vals2[i], vals[i])
		}
	}
	if cached, _ := filepath.Glob(filepath.Join(dir, ".dinotracker-cache", "*")); len(cached) != 1 {
		t.Errorf("cache after the second run holds %v, want the one file", cached)
	}

	// -image: one [C, h', w'] map, equal to the video's frame of that file.
	img := filepath.Join(frames, "b.png")
	outImg := filepath.Join(t.TempDir(), "img.safetensors")
	code, stdout, stderr = cli(t, append(base, "-image", img, "-out", outImg)...)
	if code != 0 {
		t.Fatalf("-image: exit %d, stderr:\n%s", code, stderr)
	}
	if !strings.Contains(stdout, "[64 9 15]") {
		t.Errorf("-image stdout %q does not report [64 9 15]", stdout)
	}
	_, xi, valsImg := readFeatures(t, outImg)
	if xi.DType != "F32" || !sameInts(xi.Shape, []int{64, 9, 15}) {
		t.Fatalf("-image features %s %v, want F32 [64 9 15]", xi.DType, xi.Shape)
	}
	for i := range valsImg {
		if math.Float32bits(valsImg[i]) != math.Float32bits(vals[n+i]) {
			t.Fatalf("-image value %d: %v, video frame 1 %v", i, valsImg[i], vals[n+i])
		}
	}
	if _, err := os.Stat(filepath.Join(filepath.Dir(outImg), ".dinotracker-cache")); err == nil {
		t.Error("-image without -cache created a cache directory")
	}
}

// TestFeaturesProgress: without -q the progress bar reaches 3/3 on stderr.
func TestFeaturesProgress(t *testing.T) {
	frames := writeFrames(t, 3)
	out := filepath.Join(t.TempDir(), "f.safetensors")
	cache := filepath.Join(t.TempDir(), "cache")
	code, _, stderr := cli(t, "features", "-weights", tinyWeights, "-heads", "4", "-size", "70x112",
		"-layer", "2", "-video", frames, "-out", out, "-cache", cache)
	if code != 0 {
		t.Fatalf("exit %d, stderr:\n%s", code, stderr)
	}
	if !strings.Contains(stderr, "3/3") || !strings.Contains(stderr, "ViT-D64/14") {
		t.Errorf("stderr lacks the model line or the final progress 3/3:\n%s", stderr)
	}
	if files, _ := filepath.Glob(filepath.Join(cache, "features-*.safetensors")); len(files) != 1 {
		t.Errorf("-cache %s holds %v, want one features file", cache, files)
	}
}

func TestFeaturesUsageErrors(t *testing.T) {
	frames := writeFrames(t, 2)
	img := filepath.Join(frames, "a.png")
	out := filepath.Join(t.TempDir(), "out.safetensors")
	w := []string{"-weights", tinyWeights, "-heads", "4"}
	for _, c := range []struct {
		name string
		args []string
		msg  string // expected in stderr
	}{
		{"no args", nil, "usage"},
		{"unknown command", []string{"frobnicate"}, `unknown command "frobnicate"`},
		{"missing -out", append([]string{"features", "-video", frames}, w...), "-out"},
		{"missing -weights", []string{"features", "-video", frames, "-out", out}, "-weights"},
		{"neither input", append([]string{"features", "-out", out}, w...), "-video"},
		{"both -video and -image", append([]string{"features", "-video", frames, "-image", img, "-out", out}, w...), "exactly one"},
		{"unknown flag", append([]string{"features", "-bogus", "-video", frames, "-out", out}, w...), "bogus"},
		{"size not multiple of 14", append([]string{"features", "-video", frames, "-out", out, "-size", "70x100"}, w...), "70x100"},
		{"size malformed", append([]string{"features", "-video", frames, "-out", out, "-size", "70"}, w...), "HxW"},
	} {
		t.Run(c.name, func(t *testing.T) {
			code, stdout, stderr := cli(t, c.args...)
			if code != 2 {
				t.Errorf("exit %d, want 2 (usage); stderr:\n%s", code, stderr)
			}
			if !strings.Contains(stderr, c.msg) {
				t.Errorf("stderr does not mention %q:\n%s", c.msg, stderr)
			}
			if stdout != "" {
				t.Errorf("stdout %q on a usage error", stdout)
			}
			if _, err := os.Stat(out); err == nil {
				t.Errorf("%s written on a usage error", out)
			}
		})
	}
	if code, _, stderr := cli(t, "help"); code != 0 || !strings.Contains(stderr, "features") {
		t.Errorf("help: exit %d, stderr %q; want 0 and the command list", code, stderr)
	}
}

func TestFeaturesRuntimeErrors(t *testing.T) {
	frames := writeFrames(t, 2)
	dir := t.TempDir()
	out := filepath.Join(dir, "out.safetensors")

	t.Run("missing weights", func(t *testing.T) {
		missing := filepath.Join(dir, "no-such-weights.safetensors")
		code, _, stderr := cli(t, "features", "-weights", missing, "-video", frames, "-out", out, "-q")
		if code != 1 {
			t.Errorf("exit %d, want 1", code)
		}
		if !strings.Contains(stderr, missing) {
			t.Errorf("stderr does not name %s:\n%s", missing, stderr)
		}
	})
	t.Run("missing video", func(t *testing.T) {
		missing := filepath.Join(dir, "no-such-video")
		code, _, stderr := cli(t, "features", "-weights", tinyWeights, "-heads", "4", "-video", missing, "-out", out, "-q")
		if code != 1 || !strings.Contains(stderr, missing) {
			t.Errorf("exit %d, want 1 with a message naming %s:\n%s", code, missing, stderr)
		}
	})
	t.Run("layer out of range", func(t *testing.T) {
		code, _, stderr := cli(t, "features", "-weights", tinyWeights, "-heads", "4", "-size", "70x112",
			"-layer", "4", "-video", frames, "-out", out, "-q")
		if code != 1 || !strings.Contains(stderr, "block 4") {
			t.Errorf("exit %d, want 1 naming block 4:\n%s", code, stderr)
		}
	})
	t.Run("unknown -model", func(t *testing.T) {
		code, _, stderr := cli(t, "features", "-weights", tinyWeights, "-model", "vitx14", "-video", frames, "-out", out, "-q")
		if code == 0 || !strings.Contains(stderr, "vitx14") {
			t.Errorf("exit %d, want non-zero naming vitx14:\n%s", code, stderr)
		}
	})
	// -model vitl14 on weights of width 64 must be refused, whatever -layer
	// is (the default 15 also fails later, on the block count; -layer 2 does
	// not, so the architecture itself must be checked).
	for _, layer := range []string{"15", "2"} {
		t.Run("vitl14 on tiny weights, layer "+layer, func(t *testing.T) {
			code, _, stderr := cli(t, "features", "-weights", tinyWeights, "-model", "vitl14", "-size", "70x112",
				"-layer", layer, "-video", frames, "-out", out, "-q")
			if code != 1 {
				t.Errorf("exit %d, want 1; stderr:\n%s", code, stderr)
			}
			if !strings.Contains(strings.ToLower(stderr), "vitl14") && !strings.Contains(stderr, "ViT-L") && !strings.Contains(stderr, "block") {
				t.Errorf("stderr does not explain the mismatch:\n%s", stderr)
			}
		})
	}
	if _, err := os.Stat(out); err == nil {
		t.Errorf("%s written although every run failed", out)
	}
}
