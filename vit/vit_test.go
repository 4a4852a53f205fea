package vit

import (
	"context"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"dinotracker/internal/golden"
	"dinotracker/onnx"
)

// loadCaseModel loads the weights a dinov2_* case names: model.onnx,
// weights_hub.safetensors in the case, or case.json's weights.file.
func loadCaseModel(t *testing.T, c *golden.Case) (m *Model, stride int) {
	t.Helper()
	heads := int(c.Number(0, "model_config", "num_heads"))
	stride = int(c.Number(0, "scalars", "stride"))
	var path string
	for _, cand := range []string{"model.onnx", "weights_hub.safetensors"} {
		if _, err := os.Stat(filepath.Join(c.Dir, cand)); err == nil {
			path = filepath.Join(c.Dir, cand)
			break
		}
	}
	if path == "" {
		if f, ok := c.Path("weights", "file"); ok {
			path = filepath.Join(c.Dir, f.(string))
		}
	}
	if path == "" {
		t.Skip("case names no weights")
	}
	m, err := Load(path, LoadOptions{Heads: heads})
	if err != nil {
		t.Fatal(err)
	}
	if heads == 0 && !strings.HasSuffix(path, ".onnx") {
		t.Fatalf("case.json has no model_config.num_heads")
	}
	if strings.HasSuffix(path, ".onnx") && stride == 0 {
		om, err := onnx.ReadFile(path)
		if err != nil {
			t.Fatal(err)
		}
		for _, n := range om.Graph.Nodes {
			if n.OpType == "Conv" {
				if a, ok := n.Attrs["strides"]; ok && len(a.Ints) > 0 {
					stride = int(a.Ints[0])
				}
			}
		}
	}
	if stride == 0 {
		stride = m.PatchSize
	}
	return m, stride
}

// TestDINOv2Golden runs every dinov2_* case: patch embedding, interpolated
// positional embedding, block inputs and outputs, the feature map and the
// final norm, against the upstream PyTorch tensors at the case's tolerances.
func TestDINOv2Golden(t *testing.T) {
	golden.ForEach(t, "dinov2_", func(t *testing.T, c *golden.Case) {
		m, stride := loadCaseModel(t, c)
		img, shape := c.F32(t, "input_normalized")
		h, w := shape[len(shape)-2], shape[len(shape)-1]
		tol := c.Tolerance(1e-4, "primary")
		if tol == 1e-4 {
			tol = c.Tolerance(1e-4, "all")
		}
		tight := c.Tolerance(4e-5, "tight_optional")
		small := c.Tolerance(3e-5, "pos_embed_interp")
		if c.Has("input_image") {
			raw, _ := c.F32(t, "input_image")
			norm := append([]float32(nil), raw...)
			Normalize(norm, h, w)
			golden.Close(t, "input_normalized", norm, img, c.Tolerance(1e-6, "input_normalized"))
		}
		tokens, gh, gw, err := m.Embed(img, h, w, stride)
		if err != nil {
			t.Fatal(err)
		}
		if wantH := int(c.Number(float64(gh), "scalars", "grid_h")); wantH != gh {
			t.Errorf("grid height %d, case says %d", gh, wantH)
		}
		if wantW := int(c.Number(float64(gw), "scalars", "grid_w")); wantW != gw {
			t.Errorf("grid width %d, case says %d", gw, wantW)
		}
		D, pre := m.Dim, m.NumPrefix()
		if c.Has("pos_embed_interp") {
			want, _ := c.F32(t, "pos_embed_interp")
			pos, err := m.InterpolatedPosEmbed(gh, gw, h, w)
			if err != nil {
				t.Fatal(err)
			}
			golden.Close(t, "pos_embed_interp", pos[D:], want, small)
		}
		if c.Has("patch_embed_out") {
			want, _ := c.F32(t, "patch_embed_out")
			pos, _ := m.InterpolatedPosEmbed(gh, gw, h, w)
			got := make([]float32, gh*gw*D)
			for i := range got {
				got[i] = tokens[pre*D+i] - pos[D+i]
			}
			golden.Close(t, "patch_embed_out", got, want, c.Tolerance(3e-5, "patch_embed_out"))
		}
		if c.Has("tokens_in") {
			want, _ := c.F32(t, "tokens_in")
			golden.Close(t, "tokens_in", tokens, want, small)
		}

		last := m.Depth - 1
		all := make([]int, m.Depth)
		for i := range all {
			all[i] = i
		}
		res, err := m.Run(context.Background(), img, h, w, Request{Stride: stride, Blocks: all, Norm: m.FinalNorm})
		if err != nil {
			t.Fatal(err)
		}
		T := res.Tokens
		checked := 0
		check := func(name string, got []float32, tolerance float64) {
			if c.Has(name) {
				want, _ := c.F32(t, name)
				golden.Close(t, name, got, want, tolerance)
				checked++
			}
		}
		if c.Has("blocks_out") {
			want, shape := c.F32(t, "blocks_out")
			for b := 0; b < shape[0]; b++ {
				golden.Close(t, "blocks_out["+string(rune('0'+b))+"]", res.Blocks[b], want[b*T*D:(b+1)*T*D], tol)
			}
			checked++
		}
		bi := int(c.Number(float64(last), "scalars", "block_index"))
		blockName := "block" + string(rune('0'+bi)) + "_tokens"
		check(blockName, res.Blocks[bi], tol)
		check(blockName+"_f64ref", res.Blocks[bi], tight)
		if c.Has("feature_map") {
			check("feature_map", res.FeatureMap(res.Blocks[bi], nil), tol)
		}
		check("x_prenorm", res.Blocks[last], tol)
		if m.FinalNorm {
			check("final_norm", res.Normed[last], tol)
			check("final_norm_f64ref", res.Normed[last], tight)
			check("x_norm_clstoken", res.Normed[last][:D], tol)
			check("x_norm_clstoken_f64ref", res.Normed[last][:D], tight)
			check("x_norm_patchtokens", res.Normed[last][pre*D:], tol)
			check("x_norm_patchtokens_f64ref", res.Normed[last][pre*D:], tight)
		}
		if ns, ok := c.Ints("scalars", "intermediate_n"); ok {
			var up, upc, np, npc []float32
			for _, n := range ns {
				up = append(up, res.Blocks[n][pre*D:]...)
				upc = append(upc, res.Blocks[n][:D]...)
				if m.FinalNorm {
					np = append(np, res.Normed[n][pre*D:]...)
					npc = append(npc, res.Normed[n][:D]...)
				}
			}
			check("intermediate_unnorm_patch", up, tol)
			check("intermediate_unnorm_cls", upc, tol)
			if m.FinalNorm {
				check("intermediate_norm_patch", np, tol)
				check("intermediate_norm_cls", npc, tol)
			}
		}
		if c.Has("tokens") { // ONNX graph output
			check("tokens", res.Blocks[last], tol)
		}
		if checked == 0 {
			t.Fatal("no output tensor of this case was compared")
		}
	})
}

func TestLayerNormEps(t *testing.T) {
	if LayerNormEps != 1e-6 {
		t.Fatalf("LayerNorm eps is %g; DINOv2 uses 1e-6", LayerNormEps)
	}
}
