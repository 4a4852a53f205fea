// Package vit is a pure-Go DINOv2 vision transformer (ViT-S/14, B/14, L/14
// and G/14, with or without register tokens), numerically faithful to
// facebookresearch/dinov2 and to DINO-Tracker's feature extractor.
//
// # Model
//
// A Model holds the weights of a DinoVisionTransformer in torch-hub layout.
// Load builds one from safetensors (torch-hub or Hugging Face Dinov2Model key
// names), a PyTorch .pth checkpoint or an ONNX export, infers the
// architecture from the tensor shapes and validates every shape.
//
// # Forward pass
//
// Run takes one ImageNet-normalised CHW image whose height and width are
// multiples of the patch size, a patch stride (14 as upstream, 7 as
// DINO-Tracker) and the blocks whose outputs are wanted. It computes blocks
// 0…max(requested) only. Attention is computed one head and one tile of
// queries at a time (a tile×tokens score buffer, never a tokens×tokens map).
// Tokens are laid out [tokens, D] row-major: the CLS token first, then the
// register tokens, then patch (i, j) at 1+R+i·gridW+j, row i counting down
// the image. Patch (i, j) covers input rows stride·i … stride·i+13 and
// columns stride·j … stride·j+13.
//
// # Positional embedding
//
// The learned 37×37 grid is resized with PyTorch bicubic interpolation
// (A = −0.75, align_corners=False) using explicit scale factors
// ((gridH+0.1)/37, (gridW+0.1)/37) and recompute_scale_factor=False, as both
// DINOv2's interpolate_pos_encoding (at stride 14) and DINO-Tracker's
// _fix_pos_enc (any stride) do. When the token grid equals the learned grid
// and the image is square, the embedding is used unchanged, as upstream.
package vit

import (
	"fmt"
	"sync"

	"dinotracker/tensor"
)

// LayerNormEps is the LayerNorm epsilon of every DINOv2 norm.
const LayerNormEps = 1e-6

// ImageNetMean and ImageNetStd are the per-channel normalisation constants.
var (
	ImageNetMean = [3]float32{0.485, 0.456, 0.406}
	ImageNetStd  = [3]float32{0.229, 0.224, 0.225}
)

// Config describes a DINOv2 architecture. Load infers it from the weights.
type Config struct {
	Dim       int  // embedding width D (384 S, 768 B, 1024 L, 1536 G)
	Depth     int  // number of blocks present in the weights
	Heads     int  // attention heads; D/Heads is the head width
	MLPHidden int  // hidden width of the MLP (SwiGLU: of each half)
	SwiGLU    bool // G/14 uses a SwiGLU feed-forward (w12, w3) instead of fc1-GELU-fc2
	PatchSize int  // 14
	InChans   int  // 3
	Registers int  // number of register tokens (0 or 4)
	PosGrid   int  // side of the learned positional-embedding grid (37)
	FinalNorm bool // whether the final LayerNorm weights are present
}

// Name returns a short description such as "ViT-L/14" or "ViT-S/14+reg4".
func (c Config) Name() string {
	size := map[int]string{384: "S", 768: "B", 1024: "L", 1536: "G"}[c.Dim]
	if size == "" {
		size = fmt.Sprintf("D%d", c.Dim)
	}
	s := fmt.Sprintf("ViT-%s/%d", size, c.PatchSize)
	if c.Registers > 0 {
		s += fmt.Sprintf("+reg%d", c.Registers)
	}
	return s
}

// Block holds one transformer block's weights (Linear weights are [out, in]).
type Block struct {
	Norm1W, Norm1B []float32 // [D]
	QKVW, QKVB     []float32 // [3D, D], [3D]; rows: q (head-major), k, v
	ProjW, ProjB   []float32 // [D, D], [D]
	LS1            []float32 // [D] LayerScale
	Norm2W, Norm2B []float32 // [D]
	FC1W, FC1B     []float32 // [H, D], [H]  (SwiGLU: w12 [2H, D], [2H])
	FC2W, FC2B     []float32 // [D, H], [D]  (SwiGLU: w3)
	LS2            []float32 // [D]
}

// Model is a DINOv2 ViT with its weights. It is safe for concurrent use by
// multiple goroutines; each Run uses its own buffers.
type Model struct {
	Config
	ClsToken       []float32 // [D]
	RegisterTokens []float32 // [R, D]
	PosEmbed       []float32 // [1+PosGrid², D]: CLS position then the grid, row-major
	PatchW         []float32 // [D, InChans·P·P]
	PatchB         []float32 // [D]
	Blocks         []Block
	NormW, NormB   []float32 // final LayerNorm, nil when absent

	posMu    sync.Mutex
	posCache map[[2]int][]float32
	pool     sync.Pool // *workspace
}

// HeadDim is the width of one attention head.
func (m *Model) HeadDim() int { return m.Dim / m.Heads }

// GridSize returns the token grid for an h×w input at the given stride:
// 1+(h−P)/stride rows and 1+(w−P)/stride columns.
func (m *Model) GridSize(h, w, stride int) (gh, gw int) {
	return 1 + (h-m.PatchSize)/stride, 1 + (w-m.PatchSize)/stride
}

// NumPrefix is the number of tokens before the patch tokens (CLS + registers).
func (m *Model) NumPrefix() int { return 1 + m.Registers }

// validate checks that every weight slice has the size the config implies.
func (m *Model) validate() error {
	c := m.Config
	if c.Dim <= 0 || c.Heads <= 0 || c.Dim%c.Heads != 0 {
		return fmt.Errorf("vit: embedding width %d is not divisible into %d heads", c.Dim, c.Heads)
	}
	D, H := c.Dim, c.MLPHidden
	fcIn := H
	if c.SwiGLU {
		fcIn = 2 * H
	}
	want := []struct {
		name string
		got  []float32
		n    int
	}{
		{"cls_token", m.ClsToken, D},
		{"register_tokens", m.RegisterTokens, c.Registers * D},
		{"pos_embed", m.PosEmbed, (1 + c.PosGrid*c.PosGrid) * D},
		{"patch_embed.proj.weight", m.PatchW, D * c.InChans * c.PatchSize * c.PatchSize},
		{"patch_embed.proj.bias", m.PatchB, D},
	}
	for i := range m.Blocks {
		b := &m.Blocks[i]
		p := fmt.Sprintf("blocks.%d.", i)
		fc1, fc2 := "mlp.fc1", "mlp.fc2"
		if c.SwiGLU {
			fc1, fc2 = "mlp.w12", "mlp.w3"
		}
		want = append(want, []struct {
			name string
			got  []float32
			n    int
		}{
			{p + "norm1.weight", b.Norm1W, D}, {p + "norm1.bias", b.Norm1B, D},
			{p + "attn.qkv.weight", b.QKVW, 3 * D * D}, {p + "attn.qkv.bias", b.QKVB, 3 * D},
			{p + "attn.proj.weight", b.ProjW, D * D}, {p + "attn.proj.bias", b.ProjB, D},
			{p + "ls1.gamma", b.LS1, D},
			{p + "norm2.weight", b.Norm2W, D}, {p + "norm2.bias", b.Norm2B, D},
			{p + fc1 + ".weight", b.FC1W, fcIn * D}, {p + fc1 + ".bias", b.FC1B, fcIn},
			{p + fc2 + ".weight", b.FC2W, D * H}, {p + fc2 + ".bias", b.FC2B, D},
			{p + "ls2.gamma", b.LS2, D},
		}...)
	}
	if c.FinalNorm {
		want = append(want, []struct {
			name string
			got  []float32
			n    int
		}{{"norm.weight", m.NormW, D}, {"norm.bias", m.NormB, D}}...)
	}
	for _, w := range want {
		if len(w.got) != w.n {
			return fmt.Errorf("vit: %s holds %d values, want %d for %s (D=%d)", w.name, len(w.got), w.n, c.Name(), D)
		}
	}
	return nil
}

// NewRandom returns a model with the given config and deterministic
// pseudo-random weights drawn like the golden cases (for benchmarks and
// tests, not for features anyone should use).
func NewRandom(c Config, seed uint64) (*Model, error) {
	if c.PatchSize == 0 {
		c.PatchSize = 14
	}
	if c.InChans == 0 {
		c.InChans = 3
	}
	if c.PosGrid == 0 {
		c.PosGrid = 37
	}
	if c.MLPHidden == 0 {
		c.MLPHidden = 4 * c.Dim
	}
	if c.Heads == 0 && c.Dim > 0 {
		c.Heads = max(1, c.Dim/64)
	}
	r := newSplitMix(seed)
	D, H := c.Dim, c.MLPHidden
	normal := func(n int, std float64) []float32 {
		x := make([]float32, n)
		for i := range x {
			x[i] = float32(r.norm() * std)
		}
		return x
	}
	uniform := func(n int, a, b float64) []float32 {
		x := make([]float32, n)
		for i := range x {
			x[i] = float32(a + (b-a)*r.float())
		}
		return x
	}
	fcIn := H
	if c.SwiGLU {
		fcIn = 2 * H
	}
	pp := c.InChans * c.PatchSize * c.PatchSize
	m := &Model{Config: c,
		ClsToken:       normal(D, 1),
		RegisterTokens: normal(c.Registers*D, 1),
		PosEmbed:       normal((1+c.PosGrid*c.PosGrid)*D, 0.5),
		PatchW:         normal(D*pp, 1/sqrt(float64(pp))),
		PatchB:         normal(D, 0.1),
	}
	for i := 0; i < c.Depth; i++ {
		m.Blocks = append(m.Blocks, Block{
			Norm1W: uniform(D, 0.5, 1.5), Norm1B: normal(D, 0.1),
			QKVW: normal(3*D*D, 1.5/sqrt(float64(D))), QKVB: normal(3*D, 0.1),
			ProjW: normal(D*D, 1/sqrt(float64(D))), ProjB: normal(D, 0.1),
			LS1:    uniform(D, 0.2, 1),
			Norm2W: uniform(D, 0.5, 1.5), Norm2B: normal(D, 0.1),
			FC1W: normal(fcIn*D, 1/sqrt(float64(D))), FC1B: normal(fcIn, 0.1),
			FC2W: normal(D*H, 1/sqrt(float64(H))), FC2B: normal(D, 0.1),
			LS2: uniform(D, 0.2, 1),
		})
	}
	if c.FinalNorm {
		m.NormW, m.NormB = uniform(D, 0.5, 1.5), normal(D, 0.1)
	}
	if err := m.validate(); err != nil {
		return nil, err
	}
	return m, nil
}

// StateDict returns the weights under torch-hub key names (sharing memory
// with the model).
func (m *Model) StateDict() map[string]*tensor.Tensor {
	D, P := m.Dim, m.PatchSize
	sd := map[string]*tensor.Tensor{
		"cls_token":               {Shape: []int{1, 1, D}, Data: m.ClsToken},
		"pos_embed":               {Shape: []int{1, 1 + m.PosGrid*m.PosGrid, D}, Data: m.PosEmbed},
		"patch_embed.proj.weight": {Shape: []int{D, m.InChans, P, P}, Data: m.PatchW},
		"patch_embed.proj.bias":   {Shape: []int{D}, Data: m.PatchB},
	}
	if m.Registers > 0 {
		sd["register_tokens"] = &tensor.Tensor{Shape: []int{1, m.Registers, D}, Data: m.RegisterTokens}
	}
	if m.FinalNorm {
		sd["norm.weight"] = &tensor.Tensor{Shape: []int{D}, Data: m.NormW}
		sd["norm.bias"] = &tensor.Tensor{Shape: []int{D}, Data: m.NormB}
	}
	H := m.MLPHidden
	for i := range m.Blocks {
		b := &m.Blocks[i]
		p := fmt.Sprintf("blocks.%d.", i)
		put := func(k string, shape []int, d []float32) { sd[p+k] = &tensor.Tensor{Shape: shape, Data: d} }
		put("norm1.weight", []int{D}, b.Norm1W)
		put("norm1.bias", []int{D}, b.Norm1B)
		put("attn.qkv.weight", []int{3 * D, D}, b.QKVW)
		put("attn.qkv.bias", []int{3 * D}, b.QKVB)
		put("attn.proj.weight", []int{D, D}, b.ProjW)
		put("attn.proj.bias", []int{D}, b.ProjB)
		put("ls1.gamma", []int{D}, b.LS1)
		put("norm2.weight", []int{D}, b.Norm2W)
		put("norm2.bias", []int{D}, b.Norm2B)
		put("ls2.gamma", []int{D}, b.LS2)
		if m.SwiGLU {
			put("mlp.w12.weight", []int{2 * H, D}, b.FC1W)
			put("mlp.w12.bias", []int{2 * H}, b.FC1B)
			put("mlp.w3.weight", []int{D, H}, b.FC2W)
			put("mlp.w3.bias", []int{D}, b.FC2B)
		} else {
			put("mlp.fc1.weight", []int{H, D}, b.FC1W)
			put("mlp.fc1.bias", []int{H}, b.FC1B)
			put("mlp.fc2.weight", []int{D, H}, b.FC2W)
			put("mlp.fc2.bias", []int{D}, b.FC2B)
		}
	}
	return sd
}
