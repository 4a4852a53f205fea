package vit

import (
	"encoding/json"
	"errors"
	"fmt"
	"math"
	"os"
	"path/filepath"
	"regexp"
	"sort"
	"strconv"
	"strings"

	"dinotracker/onnx"
	"dinotracker/pth"
	"dinotracker/safetensors"
	"dinotracker/tensor"
)

// LoadOptions adjusts how weights are interpreted.
type LoadOptions struct {
	// Heads is the number of attention heads. The weights do not record it.
	// Zero means: num_attention_heads from a Hugging Face config.json beside
	// the weights file if there is one, otherwise Dim/64 (DINOv2's head
	// width is 64 for S, B, L and G).
	Heads int
}

// ErrWeights is wrapped by every error about weights of the wrong shape,
// missing keys or unknown layouts.
var ErrWeights = errors.New("vit: bad weights")

// Load reads DINOv2 weights from a file: safetensors (torch-hub or Hugging
// Face key names), a PyTorch .pth/.pt checkpoint (zip format, as torch.hub
// ships dinov2_vit*14_pretrain.pth) or an ONNX export. The format is
// recognised from the content, not the extension.
func Load(path string, opts LoadOptions) (*Model, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, fmt.Errorf("vit: open weights: %w", err)
	}
	var head [8]byte
	n, _ := f.Read(head[:])
	f.Close()
	if opts.Heads == 0 {
		opts.Heads = headsFromHFConfig(filepath.Join(filepath.Dir(path), "config.json"))
	}
	switch {
	case n >= 4 && string(head[:4]) == "PK\x03\x04":
		sd, err := pth.ReadFile(path)
		if err != nil {
			return nil, fmt.Errorf("vit: %s: %w", path, err)
		}
		m, err := FromStateDict(sd, opts)
		if err != nil {
			return nil, fmt.Errorf("%s: %w", path, err)
		}
		return m, nil
	case strings.EqualFold(filepath.Ext(path), ".onnx"):
		om, err := onnx.ReadFile(path)
		if err != nil {
			return nil, fmt.Errorf("vit: %s: %w", path, err)
		}
		m, err := FromONNX(om, opts)
		if err != nil {
			return nil, fmt.Errorf("%s: %w", path, err)
		}
		return m, nil
	default:
		sf, err := safetensors.ReadFile(path)
		if err != nil {
			return nil, fmt.Errorf("vit: %s is neither a PyTorch zip checkpoint, an .onnx file nor safetensors: %w", path, err)
		}
		sd := map[string]*tensor.Tensor{}
		for name, t := range sf.Tensors {
			v, err := t.Tensor()
			if err != nil {
				continue // integer buffers and the like are not weights
			}
			sd[name] = v
		}
		m, err := FromStateDict(sd, opts)
		if err != nil {
			return nil, fmt.Errorf("%s: %w", path, err)
		}
		return m, nil
	}
}

func headsFromHFConfig(path string) int {
	b, err := os.ReadFile(path)
	if err != nil {
		return 0
	}
	var c struct {
		Heads int `json:"num_attention_heads"`
	}
	if json.Unmarshal(b, &c) != nil {
		return 0
	}
	return c.Heads
}

var hfLayer = regexp.MustCompile(`^encoder\.layer\.(\d+)\.(.*)$`)

// hfToHub renames Hugging Face Dinov2Model keys to torch-hub keys, joining
// the separate query/key/value projections into qkv.
func hfToHub(sd map[string]*tensor.Tensor) (map[string]*tensor.Tensor, error) {
	out := map[string]*tensor.Tensor{}
	simple := map[string]string{
		"embeddings.cls_token":                          "cls_token",
		"embeddings.mask_token":                         "mask_token",
		"embeddings.position_embeddings":                "pos_embed",
		"embeddings.register_tokens":                    "register_tokens",
		"embeddings.patch_embeddings.projection.weight": "patch_embed.proj.weight",
		"embeddings.patch_embeddings.projection.bias":   "patch_embed.proj.bias",
		"layernorm.weight":                              "norm.weight",
		"layernorm.bias":                                "norm.bias",
	}
	inBlock := map[string]string{
		"norm1.weight": "norm1.weight", "norm1.bias": "norm1.bias",
		"norm2.weight": "norm2.weight", "norm2.bias": "norm2.bias",
		"attention.output.dense.weight": "attn.proj.weight", "attention.output.dense.bias": "attn.proj.bias",
		"layer_scale1.lambda1": "ls1.gamma", "layer_scale2.lambda1": "ls2.gamma",
		"mlp.fc1.weight": "mlp.fc1.weight", "mlp.fc1.bias": "mlp.fc1.bias",
		"mlp.fc2.weight": "mlp.fc2.weight", "mlp.fc2.bias": "mlp.fc2.bias",
		"mlp.weights_in.weight": "mlp.w12.weight", "mlp.weights_in.bias": "mlp.w12.bias",
		"mlp.weights_out.weight": "mlp.w3.weight", "mlp.weights_out.bias": "mlp.w3.bias",
	}
	qkv := map[string]map[string]*tensor.Tensor{} // "blocks.N.attn.qkv.weight" → q/k/v parts
	for k, v := range sd {
		if h, ok := simple[k]; ok {
			out[h] = v
			continue
		}
		mm := hfLayer.FindStringSubmatch(k)
		if mm == nil {
			continue
		}
		p := "blocks." + mm[1] + "."
		if h, ok := inBlock[mm[2]]; ok {
			out[p+h] = v
			continue
		}
		for _, part := range []string{"query", "key", "value"} {
			for _, kind := range []string{"weight", "bias"} {
				if mm[2] == "attention.attention."+part+"."+kind {
					dst := p + "attn.qkv." + kind
					if qkv[dst] == nil {
						qkv[dst] = map[string]*tensor.Tensor{}
					}
					qkv[dst][part] = v
				}
			}
		}
	}
	for dst, parts := range qkv {
		q, k, v := parts["query"], parts["key"], parts["value"]
		if q == nil || k == nil || v == nil {
			return nil, fmt.Errorf("%w: %s needs attention.attention.{query,key,value} but one is missing", ErrWeights, dst)
		}
		if !sameShape(q, k) || !sameShape(q, v) || len(q.Shape) == 0 {
			return nil, fmt.Errorf("%w: %s: query/key/value shapes differ (%s, %s, %s)", ErrWeights, dst,
				tensor.ShapeString(q.Shape), tensor.ShapeString(k.Shape), tensor.ShapeString(v.Shape))
		}
		shape := append([]int{3 * q.Shape[0]}, q.Shape[1:]...)
		data := make([]float32, 0, 3*len(q.Data))
		data = append(append(append(data, q.Data...), k.Data...), v.Data...)
		out[dst] = &tensor.Tensor{Shape: shape, Data: data}
	}
	return out, nil
}

func sameShape(a, b *tensor.Tensor) bool { return a.SameShape(b.Shape...) }

// stripPrefix removes a wrapper prefix ("module.", "ext.model.", "dinov2.",
// "teacher.backbone." …) found in front of the cls_token key.
func stripPrefix(sd map[string]*tensor.Tensor) map[string]*tensor.Tensor {
	prefix := ""
	found := false
	for k := range sd {
		for _, anchor := range []string{"embeddings.cls_token", "cls_token"} {
			if strings.HasSuffix(k, anchor) && (k == anchor || strings.HasSuffix(strings.TrimSuffix(k, anchor), ".")) {
				if p := strings.TrimSuffix(k, anchor); !found || len(p) < len(prefix) {
					prefix, found = p, true
				}
			}
		}
	}
	if prefix == "" {
		return sd
	}
	out := map[string]*tensor.Tensor{}
	for k, v := range sd {
		if strings.HasPrefix(k, prefix) {
			out[strings.TrimPrefix(k, prefix)] = v
		}
	}
	return out
}

var hubBlock = regexp.MustCompile(`^blocks\.(?:\d+\.)?(\d+)\.(.*)$`)

// FromStateDict builds a model from a state dict under torch-hub key names
// (blocks.N.attn.qkv.weight …, also chunked blocks.C.N.…) or Hugging Face
// Dinov2Model names (encoder.layer.N.attention.attention.query.weight …),
// with any common wrapper prefix. It infers the architecture from the
// shapes and checks every tensor.
func FromStateDict(in map[string]*tensor.Tensor, opts LoadOptions) (*Model, error) {
	sd := stripPrefix(in)
	if _, ok := sd["embeddings.cls_token"]; ok {
		var err error
		if sd, err = hfToHub(sd); err != nil {
			return nil, err
		}
	}
	// Chunked blocks (block_chunks > 0) keep their global index last.
	flat := map[string]*tensor.Tensor{}
	for k, v := range sd {
		if mm := hubBlock.FindStringSubmatch(k); mm != nil {
			flat["blocks."+mm[1]+"."+mm[2]] = v
		} else {
			flat[k] = v
		}
	}
	sd = flat
	get := func(name string, shape ...int) ([]float32, error) {
		t, ok := sd[name]
		if !ok {
			return nil, fmt.Errorf("%w: key %q is missing", ErrWeights, name)
		}
		if !t.SameShape(shape...) {
			return nil, fmt.Errorf("%w: %q has shape %s, want %s", ErrWeights, name, tensor.ShapeString(t.Shape), tensor.ShapeString(shape))
		}
		for _, v := range t.Data {
			if math.IsNaN(float64(v)) || math.IsInf(float64(v), 0) {
				return nil, fmt.Errorf("%w: %q contains NaN or Inf", ErrWeights, name)
			}
		}
		return t.Data, nil
	}
	cls, ok := sd["cls_token"]
	if !ok || len(cls.Shape) == 0 {
		keys := make([]string, 0, len(in))
		for k := range in {
			keys = append(keys, k)
		}
		sort.Strings(keys)
		if len(keys) > 5 {
			keys = append(keys[:5], "…")
		}
		return nil, fmt.Errorf("%w: no cls_token (torch-hub) or embeddings.cls_token (Hugging Face) key; is this a DINOv2 checkpoint? keys: %s", ErrWeights, strings.Join(keys, ", "))
	}
	var c Config
	c.Dim = cls.Shape[len(cls.Shape)-1]
	D := c.Dim
	pw, ok := sd["patch_embed.proj.weight"]
	if !ok || len(pw.Shape) != 4 || pw.Shape[0] != D || pw.Shape[2] != pw.Shape[3] {
		return nil, fmt.Errorf("%w: patch_embed.proj.weight must be [%d, C, P, P]", ErrWeights, D)
	}
	c.InChans, c.PatchSize = pw.Shape[1], pw.Shape[2]
	pe, ok := sd["pos_embed"]
	if !ok || len(pe.Shape) != 3 || pe.Shape[2] != D {
		return nil, fmt.Errorf("%w: pos_embed must be [1, 1+M², %d]", ErrWeights, D)
	}
	c.PosGrid = int(math.Round(math.Sqrt(float64(pe.Shape[1] - 1))))
	if c.PosGrid*c.PosGrid+1 != pe.Shape[1] {
		return nil, fmt.Errorf("%w: pos_embed has %d positions, not 1 + a square grid", ErrWeights, pe.Shape[1])
	}
	if r, ok := sd["register_tokens"]; ok {
		if len(r.Shape) != 3 || r.Shape[0] != 1 || r.Shape[2] != D {
			return nil, fmt.Errorf("%w: register_tokens has shape %s, want [1, R, %d]", ErrWeights, tensor.ShapeString(r.Shape), D)
		}
		c.Registers = r.Shape[1]
	}
	for k := range sd {
		if mm := hubBlock.FindStringSubmatch(k); mm != nil {
			i, _ := strconv.Atoi(mm[1])
			c.Depth = max(c.Depth, i+1)
		}
	}
	if c.Depth == 0 {
		return nil, fmt.Errorf("%w: no transformer blocks (blocks.N.* keys)", ErrWeights)
	}
	if w12, ok := sd["blocks.0.mlp.w12.weight"]; ok {
		c.SwiGLU = true
		if len(w12.Shape) != 2 || w12.Shape[0]%2 != 0 {
			return nil, fmt.Errorf("%w: blocks.0.mlp.w12.weight has shape %s, want [2H, %d]", ErrWeights, tensor.ShapeString(w12.Shape), D)
		}
		c.MLPHidden = w12.Shape[0] / 2
	} else if fc1, ok := sd["blocks.0.mlp.fc1.weight"]; ok && len(fc1.Shape) == 2 {
		c.MLPHidden = fc1.Shape[0]
	} else {
		return nil, fmt.Errorf("%w: key %q is missing", ErrWeights, "blocks.0.mlp.fc1.weight")
	}
	c.Heads = opts.Heads
	if c.Heads == 0 {
		c.Heads = max(1, D/64)
	}
	if D%c.Heads != 0 {
		return nil, fmt.Errorf("%w: width %d is not divisible by %d heads; set LoadOptions.Heads", ErrWeights, D, c.Heads)
	}
	_, c.FinalNorm = sd["norm.weight"]

	m := &Model{Config: c}
	var err error
	P, H := c.PatchSize, c.MLPHidden
	must := func(dst *[]float32, name string, shape ...int) {
		if err == nil {
			*dst, err = get(name, shape...)
		}
	}
	must(&m.ClsToken, "cls_token", 1, 1, D)
	must(&m.PosEmbed, "pos_embed", 1, 1+c.PosGrid*c.PosGrid, D)
	must(&m.PatchW, "patch_embed.proj.weight", D, c.InChans, P, P)
	must(&m.PatchB, "patch_embed.proj.bias", D)
	if c.Registers > 0 {
		must(&m.RegisterTokens, "register_tokens", 1, c.Registers, D)
	}
	m.Blocks = make([]Block, c.Depth)
	for i := range m.Blocks {
		b := &m.Blocks[i]
		p := fmt.Sprintf("blocks.%d.", i)
		must(&b.Norm1W, p+"norm1.weight", D)
		must(&b.Norm1B, p+"norm1.bias", D)
		must(&b.QKVW, p+"attn.qkv.weight", 3*D, D)
		must(&b.QKVB, p+"attn.qkv.bias", 3*D)
		must(&b.ProjW, p+"attn.proj.weight", D, D)
		must(&b.ProjB, p+"attn.proj.bias", D)
		must(&b.LS1, p+"ls1.gamma", D)
		must(&b.Norm2W, p+"norm2.weight", D)
		must(&b.Norm2B, p+"norm2.bias", D)
		if c.SwiGLU {
			must(&b.FC1W, p+"mlp.w12.weight", 2*H, D)
			must(&b.FC1B, p+"mlp.w12.bias", 2*H)
			must(&b.FC2W, p+"mlp.w3.weight", D, H)
			must(&b.FC2B, p+"mlp.w3.bias", D)
		} else {
			must(&b.FC1W, p+"mlp.fc1.weight", H, D)
			must(&b.FC1B, p+"mlp.fc1.bias", H)
			must(&b.FC2W, p+"mlp.fc2.weight", D, H)
			must(&b.FC2B, p+"mlp.fc2.bias", D)
		}
		must(&b.LS2, p+"ls2.gamma", D)
	}
	if c.FinalNorm {
		must(&m.NormW, "norm.weight", D)
		must(&m.NormB, "norm.bias", D)
	}
	if err != nil {
		return nil, err
	}
	if err := m.validate(); err != nil {
		return nil, err
	}
	return m, nil
}

// FromONNX recovers torch-hub weights from an ONNX export of a DINOv2 /
// DINO-Tracker extractor (torch.onnx.export, constant folding on) and builds
// the model. Parameters used as-is keep their PyTorch names (with a wrapper
// prefix); every Linear weight becomes an anonymous transposed initializer
// consumed by a MatMul whose result feeds an Add with the named bias, so it
// is named after that bias; the positional embedding is rebuilt from the
// Resize node's input grid and the CLS position concatenated to its output.
// Blocks after the exported one and the final norm may be absent.
func FromONNX(om *onnx.Model, opts LoadOptions) (*Model, error) {
	g := &om.Graph
	if opts.Heads == 0 {
		opts.Heads = onnxHeads(g)
	}
	sd := map[string]*tensor.Tensor{}
	for k, v := range g.Initializers {
		sd[k] = v
	}
	for i := range g.Nodes {
		n := &g.Nodes[i]
		switch n.OpType {
		case "LayerNormalization":
			if a, ok := n.Attrs["epsilon"]; ok && math.Abs(float64(a.F)-LayerNormEps) > 1e-9 {
				return nil, fmt.Errorf("%w: ONNX LayerNormalization %s has epsilon %g, DINOv2 uses 1e-6", ErrWeights, n.Name, a.F)
			}
		case "MatMul":
			if len(n.Inputs) != 2 {
				continue
			}
			w, ok := g.Initializers[n.Inputs[1]]
			if !ok || len(w.Shape) != 2 || len(n.Outputs) != 1 {
				continue
			}
			var bias string
			for _, cn := range g.Consumers(n.Outputs[0]) {
				if cn.OpType != "Add" {
					continue
				}
				for _, in := range cn.Inputs {
					if strings.HasSuffix(in, ".bias") {
						if _, ok := g.Initializers[in]; ok {
							bias = in
						}
					}
				}
			}
			if bias == "" {
				return nil, fmt.Errorf("%w: ONNX MatMul %s uses initializer %s but no Add with a named .bias follows it; cannot name the Linear layer", ErrWeights, n.Name, n.Inputs[1])
			}
			in, out := w.Shape[0], w.Shape[1]
			t := make([]float32, in*out)
			for r := 0; r < in; r++ {
				for c := 0; c < out; c++ {
					t[c*in+r] = w.Data[r*out+c]
				}
			}
			sd[strings.TrimSuffix(bias, ".bias")+".weight"] = &tensor.Tensor{Shape: []int{out, in}, Data: t}
		case "Resize":
			if len(n.Inputs) == 0 {
				continue
			}
			grid, ok := g.Initializers[n.Inputs[0]]
			if !ok || len(grid.Shape) != 4 || grid.Shape[0] != 1 || grid.Shape[2] != grid.Shape[3] {
				continue
			}
			D, M := grid.Shape[1], grid.Shape[2]
			clsPos := findCLSPos(g, n, D)
			if clsPos == nil {
				return nil, fmt.Errorf("%w: ONNX graph resizes the positional grid in %s but the CLS position ([1,1,%d] initializer concatenated after it) was not found", ErrWeights, n.Name, D)
			}
			pe := make([]float32, (1+M*M)*D)
			copy(pe, clsPos.Data)
			for c := 0; c < D; c++ {
				for t := 0; t < M*M; t++ {
					pe[(1+t)*D+c] = grid.Data[c*M*M+t]
				}
			}
			sd["pos_embed"] = &tensor.Tensor{Shape: []int{1, 1 + M*M, D}, Data: pe}
		}
	}
	if _, ok := sd["pos_embed"]; !ok {
		// A graph exported at the native size keeps pos_embed itself.
		for k, v := range g.Initializers {
			if strings.HasSuffix(k, "pos_embed") {
				sd["pos_embed"] = v
			}
		}
	}
	// Rename "<prefix>cls_token" etc. by the common wrapper prefix; a bare
	// pos_embed added above has no prefix, so give it the same one.
	for k := range sd {
		if strings.HasSuffix(k, "cls_token") {
			prefix := strings.TrimSuffix(k, "cls_token")
			if prefix != "" {
				if pe, ok := sd["pos_embed"]; ok {
					sd[prefix+"pos_embed"] = pe
					delete(sd, "pos_embed")
				}
			}
			break
		}
	}
	return FromStateDict(sd, opts)
}

// onnxHeads reads the head count from the constant target shape of the
// attention's qkv Reshape, [B, N, 3, heads, head_dim]; 0 when not found.
func onnxHeads(g *onnx.Graph) int {
	for i := range g.Nodes {
		n := &g.Nodes[i]
		if n.OpType != "Reshape" || len(n.Inputs) < 2 {
			continue
		}
		var shape []int64
		if t, ok := g.InitializerInfo[n.Inputs[1]]; ok {
			shape = t.Int64
		} else if p := g.Producer(n.Inputs[1]); p != nil && p.OpType == "Constant" {
			if a, ok := p.Attrs["value"]; ok && a.T != nil {
				shape = a.T.Int64
			}
		}
		if len(shape) == 5 && shape[2] == 3 && shape[3] > 0 {
			return int(shape[3])
		}
	}
	return 0
}

// findCLSPos finds the [1,1,D] initializer that a Concat joins with the
// (reshaped) output of the pos-embed Resize node.
func findCLSPos(g *onnx.Graph, resize *onnx.Node, D int) *tensor.Tensor {
	// Walk forward from the Resize output through shape-only ops.
	frontier := append([]string(nil), resize.Outputs...)
	seen := map[string]bool{}
	for step := 0; step < 8 && len(frontier) > 0; step++ {
		var next []string
		for _, name := range frontier {
			for _, cn := range g.Consumers(name) {
				if seen[cn.Name+"|"+name] {
					continue
				}
				seen[cn.Name+"|"+name] = true
				if cn.OpType == "Concat" {
					for _, in := range cn.Inputs {
						if t, ok := g.Initializers[in]; ok && t.SameShape(1, 1, D) && !strings.HasSuffix(in, "cls_token") {
							return t
						}
					}
				}
				next = append(next, cn.Outputs...)
			}
		}
		frontier = next
	}
	return nil
}
