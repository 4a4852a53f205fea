package vit

import (
	"errors"
	"math"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"dinotracker/internal/golden"
	"dinotracker/safetensors"
	"dinotracker/tensor"
)

func stride7Dir(t *testing.T) string {
	d := filepath.Join(golden.Dir(), "dinov2_tiny_stride7")
	if _, err := os.Stat(d); err != nil {
		t.Skip("dinov2_tiny_stride7 case not present")
	}
	return d
}

func sameStateDict(t *testing.T, a, b *Model) {
	t.Helper()
	sa, sb := a.StateDict(), b.StateDict()
	if len(sa) != len(sb) {
		t.Fatalf("%d vs %d tensors", len(sa), len(sb))
	}
	for k, x := range sa {
		y, ok := sb[k]
		if !ok || !x.SameShape(y.Shape...) {
			t.Fatalf("%s: missing or shape differs", k)
		}
		for i := range x.Data {
			if math.Float32bits(x.Data[i]) != math.Float32bits(y.Data[i]) {
				t.Fatalf("%s[%d]: %v vs %v", k, i, x.Data[i], y.Data[i])
			}
		}
	}
}

// TestWeightFormatsAgree loads the same weights from torch-hub safetensors,
// Hugging Face safetensors, a PyTorch .pth and the ONNX export, and checks
// that every tensor is bit-for-bit identical (the ONNX export lacks the
// blocks after block 2 and the final norm, so only its blocks are compared).
func TestWeightFormatsAgree(t *testing.T) {
	d := stride7Dir(t)
	hub, err := Load(filepath.Join(d, "weights_hub.safetensors"), LoadOptions{Heads: 4})
	if err != nil {
		t.Fatal(err)
	}
	if hub.Depth != 4 || hub.Dim != 64 || hub.MLPHidden != 256 || hub.PosGrid != 37 || !hub.FinalNorm || hub.Registers != 0 {
		t.Fatalf("inferred config %+v", hub.Config)
	}
	for _, f := range []string{"weights_hf.safetensors", "weights_hub.pth"} {
		t.Run(f, func(t *testing.T) {
			p := filepath.Join(d, f)
			if _, err := os.Stat(p); err != nil {
				t.Skip(err)
			}
			m, err := Load(p, LoadOptions{Heads: 4})
			if err != nil {
				t.Fatal(err)
			}
			sameStateDict(t, hub, m)
		})
	}
	t.Run("onnx", func(t *testing.T) {
		p := filepath.Join(golden.Dir(), "dinov2_tiny_onnx", "model.onnx")
		if _, err := os.Stat(p); err != nil {
			t.Skip(err)
		}
		m, err := Load(p, LoadOptions{Heads: 4})
		if err != nil {
			t.Fatal(err)
		}
		if m.Depth != 3 || m.FinalNorm {
			t.Fatalf("ONNX model: depth %d final norm %v, want 3 blocks without final norm", m.Depth, m.FinalNorm)
		}
		ref := &Model{Config: hub.Config, ClsToken: hub.ClsToken, PosEmbed: hub.PosEmbed, PatchW: hub.PatchW, PatchB: hub.PatchB, Blocks: hub.Blocks[:3]}
		ref.Depth, ref.FinalNorm = 3, false
		sameStateDict(t, ref, m)
	})
}

func hubStateDict(t *testing.T) map[string]*tensor.Tensor {
	d := stride7Dir(t)
	f, err := safetensors.ReadFile(filepath.Join(d, "weights_hub.safetensors"))
	if err != nil {
		t.Fatal(err)
	}
	sd := map[string]*tensor.Tensor{}
	for k, v := range f.Tensors {
		x, err := v.Tensor()
		if err != nil {
			t.Fatal(err)
		}
		sd[k] = x
	}
	return sd
}

// TestWeightErrors checks that a missing key, a wrong shape, NaN and an
// unrelated checkpoint are reported by name.
func TestWeightErrors(t *testing.T) {
	cases := []struct {
		name   string
		edit   func(sd map[string]*tensor.Tensor)
		expect string
	}{
		{"missing", func(sd map[string]*tensor.Tensor) { delete(sd, "blocks.1.attn.proj.bias") }, `"blocks.1.attn.proj.bias" is missing`},
		{"shape", func(sd map[string]*tensor.Tensor) {
			sd["blocks.2.mlp.fc2.weight"] = &tensor.Tensor{Shape: []int{64, 255}, Data: make([]float32, 64*255)}
		}, `"blocks.2.mlp.fc2.weight" has shape [64,255], want [64,256]`},
		{"nan", func(sd map[string]*tensor.Tensor) { sd["blocks.0.ls1.gamma"].Data[3] = float32(math.NaN()) }, `"blocks.0.ls1.gamma" contains NaN`},
		{"notdino", func(sd map[string]*tensor.Tensor) {
			for k := range sd {
				delete(sd, k)
			}
			sd["conv1.weight"] = tensor.New(3, 3)
		}, "no cls_token"},
		{"heads", func(sd map[string]*tensor.Tensor) {}, "not divisible by 3 heads"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			sd := hubStateDict(t)
			c.edit(sd)
			heads := 4
			if c.name == "heads" {
				heads = 3
			}
			_, err := FromStateDict(sd, LoadOptions{Heads: heads})
			if err == nil || !errors.Is(err, ErrWeights) || !strings.Contains(err.Error(), c.expect) {
				t.Fatalf("error %v, want ErrWeights containing %q", err, c.expect)
			}
		})
	}
}

// TestPrefixAndChunks accepts wrapper prefixes and chunked block keys.
func TestPrefixAndChunks(t *testing.T) {
	sd := hubStateDict(t)
	wrapped := map[string]*tensor.Tensor{}
	for k, v := range sd {
		if strings.HasPrefix(k, "blocks.") {
			// block_chunks=2: blocks.0.{0,1}, blocks.1.{2,3}
			parts := strings.SplitN(k, ".", 3)
			idx := parts[1]
			chunk := "0"
			if idx >= "2" {
				chunk = "1"
			}
			k = "blocks." + chunk + "." + idx + "." + parts[2]
		}
		wrapped["module.backbone."+k] = v
	}
	m, err := FromStateDict(wrapped, LoadOptions{Heads: 4})
	if err != nil {
		t.Fatal(err)
	}
	ref, _ := FromStateDict(sd, LoadOptions{Heads: 4})
	sameStateDict(t, ref, m)
}
