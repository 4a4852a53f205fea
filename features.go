package dinotracker

import (
	"context"
	"crypto/sha256"
	"encoding/binary"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"os"
	"path/filepath"
	"strconv"
	"time"

	"dinotracker/imgproc"
	"dinotracker/safetensors"
	"dinotracker/vit"
)

// Progress reports how far a long operation is. Stage names the step
// ("features", "fit", …); Done of Total units are finished.
type Progress struct {
	Stage       string
	Done, Total int
	Elapsed     time.Duration
}

// FeatureConfig selects which DINOv2 features to compute.
type FeatureConfig struct {
	// Stride of the patch embedding: 7 for DINO-Tracker (the default), 14
	// for DINOv2 as trained.
	Stride int
	// Block is the 0-based block whose output (before the final norm) is
	// the feature: 15 for DINO-Tracker with ViT-L/14. LastBlock (−1) means
	// the model's last block. The zero value is block 0; start from
	// DefaultFeatureConfig for DINO-Tracker's settings.
	Block int
	// Height and Width are the model resolution the frames are resized to
	// (PIL LANCZOS). Zero means the frame size rounded down to multiples of
	// the patch size (14).
	Height, Width int
	// CacheDir, when set, keeps the features of each video in a file keyed by
	// weights, model, stride, block, resolution and frames, written
	// atomically and read back lazily one frame at a time.
	CacheDir string
	// Half stores the cache in float16 (half the disk, ~1e-3 relative error).
	Half bool
	// Progress, if set, is called after each frame.
	Progress func(Progress)
	// Logger receives cache hits and misses; nil means slog.Default().
	Logger *slog.Logger
}

// LastBlock selects the model's last block in FeatureConfig.Block.
const LastBlock = -1

// DefaultFeatureConfig returns DINO-Tracker's settings: stride 7, block 15
// (of ViT-L/14), frames at their own size rounded down to multiples of 14.
// For 854×480 DAVIS frames pass Height 476, Width 854 as the paper does.
func DefaultFeatureConfig() FeatureConfig { return FeatureConfig{Stride: 7, Block: 15} }

// FeatureExtractor computes DINOv2 features of videos with one model, or
// the built-in descriptors (NewBuiltinFeatureExtractor) when Model is nil.
type FeatureExtractor struct {
	Model *vit.Model // nil for the built-in extractor
	// Digest identifies the weights in cache keys (sha256 of the file).
	Digest string
}

// NewFeatureExtractor loads DINOv2 weights (safetensors with torch-hub or
// Hugging Face names, PyTorch .pth, or ONNX; see vit.Load) and hashes the
// file for cache keys.
func NewFeatureExtractor(weightsPath string, opts vit.LoadOptions) (*FeatureExtractor, error) {
	m, err := vit.Load(weightsPath, opts)
	if err != nil {
		return nil, fmt.Errorf("load DINOv2 weights: %w", err)
	}
	f, err := os.Open(weightsPath)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	h := sha256.New()
	if _, err := io.Copy(h, f); err != nil {
		return nil, fmt.Errorf("hash weights %s: %w", weightsPath, err)
	}
	return &FeatureExtractor{Model: m, Digest: hex.EncodeToString(h.Sum(nil))}, nil
}

// Features is a [T, C, H, W] stack of per-frame feature maps (C channels on
// an H×W token grid), held in memory or read lazily from a cache file.
type Features struct {
	T, C, H, W     int
	Stride         int
	Block          int
	ModelH, ModelW int    // resolution the frames were resized to
	Model          string // e.g. "ViT-L/14"
	Path           string // cache file, "" when in memory

	mem [][]float32
	r   *safetensors.Reader
}

// Frame returns frame t's [C, H, W] map, reading it from the cache file
// when the features live on disk. dst is reused when large enough.
func (f *Features) Frame(t int, dst []float32) ([]float32, error) {
	if t < 0 || t >= f.T {
		return nil, fmt.Errorf("features: frame %d outside 0…%d", t, f.T-1)
	}
	n := f.C * f.H * f.W
	if f.mem != nil {
		return f.mem[t], nil
	}
	if cap(dst) < n {
		dst = make([]float32, n)
	}
	dst = dst[:n]
	if err := f.r.ReadRange("features", int64(t)*int64(n), dst); err != nil {
		return nil, fmt.Errorf("features: read frame %d from %s: %w", t, f.Path, err)
	}
	return dst, nil
}

// Close releases the cache file.
func (f *Features) Close() error {
	if f.r != nil {
		return f.r.Close()
	}
	return nil
}

// ModelSize returns the model resolution for a frame size: the configured
// one, or the frame rounded down to multiples of the patch size.
func (c FeatureConfig) ModelSize(frameH, frameW, patch int) (h, w int) {
	h, w = c.Height, c.Width
	if h == 0 {
		h = frameH / patch * patch
	}
	if w == 0 {
		w = frameW / patch * patch
	}
	return h, w
}

func (e *FeatureExtractor) resolve(cfg FeatureConfig) (stride, block int) {
	stride = cfg.Stride
	if stride == 0 {
		stride = 7
	}
	if e.Model == nil {
		return stride, LastBlock
	}
	block = cfg.Block
	if block < 0 {
		block = e.Model.Depth - 1
	}
	return stride, block
}

func (e *FeatureExtractor) name() string {
	if e.Model == nil {
		return BuiltinExtractorName
	}
	return e.Model.Name()
}

func (e *FeatureExtractor) heads() int {
	if e.Model == nil {
		return 0
	}
	return e.Model.Heads
}

// cacheKey hashes everything the features depend on.
func (e *FeatureExtractor) cacheKey(v *Video, stride, block, h, w int, half bool) string {
	hs := sha256.New()
	fmt.Fprintf(hs, "dinotracker-features-v2\x00%s\x00%s\x00%d\x00%d\x00%d\x00%d\x00%d\x00%v\x00", e.Digest, e.name(), e.heads(), stride, block, h, w, half)
	var b [8]byte
	for _, fr := range v.Frames {
		binary.LittleEndian.PutUint32(b[:4], uint32(fr.W))
		binary.LittleEndian.PutUint32(b[4:], uint32(fr.H))
		hs.Write(b[:])
		hs.Write(fr.Pix)
	}
	return hex.EncodeToString(hs.Sum(nil))[:24]
}

// Extract computes the features of every frame of v: each frame is resized
// to the model resolution (PIL LANCZOS), scaled to [0,1], ImageNet-
// normalised and run through blocks 0…Block. With a CacheDir, a previous
// result is reused when its key matches and its file is intact; otherwise
// frames are streamed to a new cache file one at a time, so memory stays at
// one frame's features.
func (e *FeatureExtractor) Extract(ctx context.Context, v *Video, cfg FeatureConfig) (*Features, error) {
	if v == nil || v.Len() == 0 {
		return nil, fmt.Errorf("features: %w", ErrNoFrames)
	}
	log := cfg.Logger
	if log == nil {
		log = slog.Default()
	}
	m := e.Model
	stride, block := e.resolve(cfg)
	patch, dim := 14, builtinDim
	if m != nil {
		if block >= m.Depth {
			return nil, fmt.Errorf("features: block %d requested but the model has blocks 0…%d", block, m.Depth-1)
		}
		patch, dim = m.PatchSize, m.Dim
	} else if stride != 7 {
		return nil, fmt.Errorf("features: the built-in extractor works at stride 7 only, not %d", stride)
	}
	h, w := cfg.ModelSize(v.Height, v.Width, patch)
	if h < patch || w < patch || h%patch != 0 || w%patch != 0 {
		return nil, fmt.Errorf("features: model resolution %d×%d must be positive multiples of %d", h, w, patch)
	}
	gh, gw := 1+(h-patch)/stride, 1+(w-patch)/stride
	f := &Features{T: v.Len(), C: dim, H: gh, W: gw, Stride: stride, Block: block, ModelH: h, ModelW: w, Model: e.name()}

	var out *safetensors.Writer
	if cfg.CacheDir != "" {
		if err := os.MkdirAll(cfg.CacheDir, 0o755); err != nil {
			return nil, fmt.Errorf("features: cache directory: %w", err)
		}
		key := e.cacheKey(v, stride, block, h, w, cfg.Half)
		f.Path = filepath.Join(cfg.CacheDir, "features-"+key+".safetensors")
		if r, err := openFeatureCache(f.Path, key, f); err == nil {
			log.Info("feature cache hit", "path", f.Path)
			f.r = r
			return f, nil
		} else if !errors.Is(err, os.ErrNotExist) {
			log.Warn("feature cache unusable; recomputing", "path", f.Path, "err", err)
		}
		dtype := "F32"
		if cfg.Half {
			dtype = "F16"
		}
		meta := map[string]string{
			"key": key, "model": e.name(), "weights_sha256": e.Digest, "stride": strconv.Itoa(stride),
			"block": strconv.Itoa(block), "height": strconv.Itoa(h), "width": strconv.Itoa(w),
			"layout": "[T, C, h', w'] block output before the final norm, CLS dropped",
		}
		var err error
		out, err = safetensors.Create(f.Path, []safetensors.Header{{Name: "features", DType: dtype, Shape: []int{f.T, f.C, gh, gw}}}, meta)
		if err != nil {
			return nil, fmt.Errorf("features: %w", err)
		}
		defer out.Abort() // no-op after a successful Close
	} else {
		f.mem = make([][]float32, f.T)
	}
	start := time.Now()
	for t := 0; t < f.T; t++ {
		if err := ctx.Err(); err != nil {
			return nil, err
		}
		img, err := modelInput(v, t, w, h)
		if err != nil {
			return nil, err
		}
		var fm []float32
		if m == nil {
			if fm, _, _, err = builtinEncode(img, h, w); err != nil {
				return nil, err
			}
		} else {
			vit.Normalize(img, h, w)
			res, err := m.Run(ctx, img, h, w, vit.Request{Stride: stride, Blocks: []int{block}})
			if err != nil {
				return nil, fmt.Errorf("features: frame %d: %w", t, err)
			}
			fm = res.FeatureMap(res.Blocks[block], nil)
		}
		if out != nil {
			if err := out.WriteValues(fm); err != nil {
				return nil, fmt.Errorf("features: %w", err)
			}
		} else {
			f.mem[t] = fm
		}
		if cfg.Progress != nil {
			cfg.Progress(Progress{Stage: "features", Done: t + 1, Total: f.T, Elapsed: time.Since(start)})
		}
	}
	if out != nil {
		if err := out.Close(); err != nil {
			return nil, fmt.Errorf("features: %w", err)
		}
		r, err := safetensors.Open(f.Path)
		if err != nil {
			return nil, fmt.Errorf("features: reopen cache: %w", err)
		}
		f.r = r
	}
	return f, nil
}

// openFeatureCache opens a cache file and checks its key and shape.
func openFeatureCache(path, key string, want *Features) (*safetensors.Reader, error) {
	if _, err := os.Stat(path); err != nil {
		return nil, err
	}
	r, err := safetensors.Open(path)
	if err != nil {
		return nil, err
	}
	_, shape, ok := r.Shape("features")
	if !ok || r.Metadata["key"] != key || len(shape) != 4 || shape[0] != want.T || shape[1] != want.C || shape[2] != want.H || shape[3] != want.W {
		r.Close()
		return nil, fmt.Errorf("cache %s does not hold the expected [%d,%d,%d,%d] features", path, want.T, want.C, want.H, want.W)
	}
	return r, nil
}

// modelInput returns frame t resized to w×h with PIL LANCZOS, as CHW float32
// RGB in [0,1] (8-bit value / 255), which is what DINO-Tracker's load_video
// gives the models.
func modelInput(v *Video, t, w, h int) ([]float32, error) {
	fr := v.Frames[t]
	if fr.W != w || fr.H != h {
		var err error
		if fr, err = imgproc.ResizeLanczos(fr, w, h); err != nil {
			return nil, fmt.Errorf("resize frame %d to %d×%d: %w", t, w, h, err)
		}
	}
	return fr.Float32CHW(nil), nil
}
