package onnx

import (
	"encoding/json"
	"errors"
	"math"
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"testing"

	"dinotracker/safetensors"
)

var (
	onnxDir   = filepath.Join("..", "testdata", "golden", "dinov2_tiny_onnx")
	stride7   = filepath.Join("..", "testdata", "golden", "dinov2_tiny_stride7")
	modelPath = filepath.Join(onnxDir, "model.onnx")
)

type caseJSON struct {
	Graph struct { // "saved_model" in case.json
		NNodes      int            `json:"n_nodes"`
		OpCounts    map[string]int `json:"op_counts"`
		ResizeNodes []struct {
			Name   string   `json:"name"`
			Inputs []string `json:"inputs"`
		} `json:"resize_nodes"`
		ResizeScales []float64 `json:"resize_scales_value"`
		LNEpsilon    float64   `json:"layernorm_epsilon_attr"`
	} `json:"saved_model"`
	Initializers struct {
		Kept      []string          `json:"kept_with_pytorch_names"`
		LinearMap map[string]string `json:"linear_weight_map"`
		Derived   map[string][]int  `json:"derived_constants"`
	} `json:"initializers"`
}

func loadCase(t *testing.T) *caseJSON {
	b, err := os.ReadFile(filepath.Join(onnxDir, "case.json"))
	if err != nil {
		t.Fatal(err)
	}
	var c caseJSON
	if err := json.Unmarshal(b, &c); err != nil {
		t.Fatal(err)
	}
	if c.Graph.NNodes == 0 || len(c.Initializers.LinearMap) == 0 {
		t.Fatalf("case.json layout not as expected: %+v", c)
	}
	return &c
}

func bitsEqual(t *testing.T, what string, got, want []float32) {
	t.Helper()
	if len(got) != len(want) {
		t.Errorf("%s: %d values, want %d", what, len(got), len(want))
		return
	}
	for i := range got {
		if math.Float32bits(got[i]) != math.Float32bits(want[i]) {
			t.Errorf("%s[%d] = %v, want %v", what, i, got[i], want[i])
			return
		}
	}
}

func TestFixtureModel(t *testing.T) {
	cs := loadCase(t)
	m, err := ReadFile(modelPath)
	if err != nil {
		t.Fatal(err)
	}
	g := &m.Graph
	if m.Opset != 17 || m.IRVersion != 8 || m.ProducerName != "pytorch" {
		t.Errorf("opset %d ir %d producer %q", m.Opset, m.IRVersion, m.ProducerName)
	}
	if len(g.Nodes) != 144 || len(g.Nodes) != cs.Graph.NNodes {
		t.Errorf("%d nodes, want 144", len(g.Nodes))
	}
	counts := map[string]int{}
	for _, n := range g.Nodes {
		counts[n.OpType]++
	}
	if !reflect.DeepEqual(counts, cs.Graph.OpCounts) {
		t.Errorf("op counts %v, want %v", counts, cs.Graph.OpCounts)
	}
	if !reflect.DeepEqual(g.Inputs, []string{"input"}) || !reflect.DeepEqual(g.Outputs, []string{"tokens"}) {
		t.Errorf("inputs %v outputs %v", g.Inputs, g.Outputs)
	}
	if !reflect.DeepEqual(g.InputInfo[0].Shape, []int64{1, 3, 70, 112}) || g.InputInfo[0].ElemType != Float {
		t.Errorf("input info %+v", g.InputInfo[0])
	}
	if !reflect.DeepEqual(g.OutputInfo[0].Shape, []int64{1, 136, 64}) {
		t.Errorf("output info %+v", g.OutputInfo[0])
	}
	if p := g.Producer("tokens"); p == nil || g.Producer("input") != nil || g.Producer("ext.model.cls_token") != nil {
		t.Error("Producer: wrong result for tokens/input/initializer")
	}

	weights, err := safetensors.ReadFile(filepath.Join(stride7, "weights_hub.safetensors"))
	if err != nil {
		t.Fatal(err)
	}
	weight := func(name string) ([]float32, []int) {
		w := weights.Tensors[name]
		if w == nil {
			t.Fatalf("%s missing from weights_hub.safetensors", name)
		}
		d, err := w.Float32()
		if err != nil {
			t.Fatal(err)
		}
		return d, w.Shape
	}

	// Parameters kept under their PyTorch names.
	if len(cs.Initializers.Kept) < 30 {
		t.Fatalf("only %d kept names in case.json", len(cs.Initializers.Kept))
	}
	for _, name := range cs.Initializers.Kept {
		got := g.Initializers[name]
		if got == nil {
			t.Errorf("initializer %s missing", name)
			continue
		}
		want, shape := weight(strings.TrimPrefix(name, "ext.model."))
		if !reflect.DeepEqual(got.Shape, shape) {
			t.Errorf("%s: shape %v, want %v", name, got.Shape, shape)
		}
		bitsEqual(t, name, got.Data, want)
	}
	if s := g.Initializers["ext.model.blocks.0.norm1.weight"]; s == nil || !reflect.DeepEqual(s.Shape, []int{64}) {
		t.Errorf("ext.model.blocks.0.norm1.weight = %v", s)
	}

	// Linear weights: each onnx::MatMul_<n> is consumed by exactly one MatMul
	// (as its second input) and holds the PyTorch weight transposed.
	for init, desc := range cs.Initializers.LinearMap {
		cons := g.Consumers(init)
		if len(cons) != 1 || cons[0].OpType != "MatMul" || cons[0].Inputs[1] != init {
			t.Errorf("%s: consumers %v", init, cons)
		}
		src := strings.Fields(desc)[0] // e.g. blocks.0.attn.qkv.weight
		w, shape := weight(src)
		got := g.Initializers[init]
		if got == nil || !reflect.DeepEqual(got.Shape, []int{shape[1], shape[0]}) {
			t.Errorf("%s: %v, want the transpose of %s %v", init, got, src, shape)
			continue
		}
		wt := make([]float32, len(w))
		for i := 0; i < shape[0]; i++ {
			for j := 0; j < shape[1]; j++ {
				wt[j*shape[0]+i] = w[i*shape[1]+j]
			}
		}
		bitsEqual(t, init+" vs "+src+"ᵀ", got.Data, wt)
	}
	// The MatMul of block 0's qkv is found from the graph alone.
	qkv := g.Producer("/model/blocks.0/attn/qkv/MatMul_output_0")
	if qkv == nil || qkv.OpType != "MatMul" || cs.Initializers.LinearMap[qkv.Inputs[1]] == "" ||
		!strings.HasPrefix(cs.Initializers.LinearMap[qkv.Inputs[1]], "blocks.0.attn.qkv.weight") {
		t.Errorf("block 0 qkv MatMul: %+v", qkv)
	}

	// Positional embedding, folded into the Resize input and the CLS part.
	pos, _ := weight("pos_embed") // [1, 1+37*37, 64]
	for name, shape := range cs.Initializers.Derived {
		if got := g.Initializers[name]; got == nil || !reflect.DeepEqual(got.Shape, shape) {
			t.Errorf("%s: %v, want shape %v", name, got, shape)
		}
	}
	var resizeIn, clsName string
	for name := range cs.Initializers.Derived {
		if strings.HasPrefix(name, "onnx::Resize_") {
			resizeIn = name
		} else {
			clsName = name
		}
	}
	bitsEqual(t, clsName, g.Initializers[clsName].Data, pos[:64])
	grid := make([]float32, 64*37*37)
	for p := 0; p < 37*37; p++ {
		for c := 0; c < 64; c++ {
			grid[c*37*37+p] = pos[(1+p)*64+c]
		}
	}
	bitsEqual(t, resizeIn, g.Initializers[resizeIn].Data, grid)

	// Resize node.
	var resize *Node
	for i := range g.Nodes {
		if g.Nodes[i].OpType == "Resize" {
			resize = &g.Nodes[i]
		}
	}
	if resize == nil {
		t.Fatal("no Resize node")
	}
	if want := cs.Graph.ResizeNodes[0]; resize.Name != want.Name || !reflect.DeepEqual(resize.Inputs, want.Inputs) || resize.Inputs[0] != resizeIn {
		t.Errorf("Resize %q inputs %q, want %q %q", resize.Name, resize.Inputs, want.Name, want.Inputs)
	}
	if a := resize.Attrs["mode"]; a.Type != AttrString || a.S != "cubic" {
		t.Errorf("mode %+v", a)
	}
	if a := resize.Attrs["coordinate_transformation_mode"]; a.S != "half_pixel" {
		t.Errorf("coordinate_transformation_mode %+v", a)
	}
	if a, ok := resize.Attr("cubic_coeff_a"); !ok || a.Type != AttrFloat || a.F != -0.75 {
		t.Errorf("cubic_coeff_a %+v", a)
	}
	sc := g.Producer(resize.Inputs[2])
	if sc == nil || sc.OpType != "Constant" || sc.Attrs["value"].T == nil {
		t.Fatalf("scales producer %+v", sc)
	}
	scales := sc.Attrs["value"].T
	if scales.DataType != Float || !reflect.DeepEqual(scales.Dims, []int64{4}) {
		t.Errorf("scales %+v", scales)
	}
	for i, v := range cs.Graph.ResizeScales {
		if scales.Value.Data[i] != float32(v) {
			t.Errorf("scales[%d] = %v, want %v", i, scales.Value.Data[i], float32(v))
		}
	}
	// LayerNormalization epsilon and an INT64 constant.
	nLN := 0
	for _, n := range g.Nodes {
		switch n.OpType {
		case "LayerNormalization":
			nLN++
			if a := n.Attrs["epsilon"]; float64(a.F) != cs.Graph.LNEpsilon || n.Attrs["axis"].I != -1 {
				t.Errorf("%s: epsilon %v axis %v", n.Name, a.F, n.Attrs["axis"].I)
			}
		case "Reshape":
			if shape := g.Producer(n.Inputs[1]); shape != nil && shape.OpType == "Constant" {
				v := shape.Attrs["value"].T
				if v.DataType != Int64 || len(v.Int64) != len(v.Value.Data) || len(v.Int64) == 0 {
					t.Errorf("%s shape constant %+v", n.Name, v)
				}
			}
		}
	}
	if nLN != 6 {
		t.Errorf("%d LayerNormalization nodes", nLN)
	}
}

func TestSmallModel(t *testing.T) {
	m, err := Parse(smallModel())
	if err != nil {
		t.Fatal(err)
	}
	g := &m.Graph
	if m.Opset != 17 || m.ProducerName != "test" || g.Name != "g" || len(g.Nodes) != 4 {
		t.Fatalf("%+v", m)
	}
	if !reflect.DeepEqual(g.InputInfo[0], ValueInfo{"x", Float, []int64{-1, 1, 1, 1}, []string{"N", "", "", ""}}) {
		t.Errorf("input info %+v", g.InputInfo[0])
	}
	if got := g.Initializers["w"]; !reflect.DeepEqual(got.Shape, []int{1, 1, 2, 2}) || !reflect.DeepEqual(got.Data, []float32{1, 2, 3, 4}) {
		t.Errorf("w = %+v", got)
	}
	if got := g.Nodes[0].Attrs["value"].T; !reflect.DeepEqual(got.Int64, []int64{-1, 4}) || !reflect.DeepEqual(got.Value.Data, []float32{-1, 4}) {
		t.Errorf("constant = %+v", got)
	}
	if got := g.Nodes[3].Attrs["perm"]; got.Type != AttrInts || !reflect.DeepEqual(got.Ints, []int64{0, 1, 3, 2}) {
		t.Errorf("perm = %+v", got)
	}
	if c := g.Consumers("xr"); len(c) != 1 || c[0].Name != "m" {
		t.Errorf("consumers of xr: %v", c)
	}
	if c := g.Consumers(""); c != nil {
		t.Errorf("consumers of the empty name: %v", c)
	}
}

func TestTensorEncodings(t *testing.T) {
	half := []int64{0x3c00, 0xc000} // 1, -2
	cases := []struct {
		name  string
		proto pb
		f32   []float32
		i64   []int64
	}{
		{"unpacked float", tensorProto("a", Float, []int64{2}, pb(nil).fixed32(4, 1.5).fixed32(4, -2)), []float32{1.5, -2}, nil},
		{"double_data", tensorProto("a", Double, []int64{2}, pb(nil).fixed64(10, 0.1).fixed64(10, 3)), []float32{float32(0.1), 3}, nil},
		{"raw double", tensorProto("a", Double, []int64{1}, pb(nil).bytes(9, binaryF64(2.5))), []float32{2.5}, nil},
		{"int32 negative", tensorProto("a", Int32, []int64{3}, pb(nil).bytes(5, packedVarints(-5, 0, 7))), []float32{-5, 0, 7}, []int64{-5, 0, 7}},
		{"int64 unpacked", tensorProto("a", Int64, []int64{2}, pb(nil).varint(7, math.MaxInt64).varint(7, -1)), []float32{math.MaxInt64, -1}, []int64{math.MaxInt64, -1}},
		{"float16 in int32_data", tensorProto("a", Float16, []int64{2}, pb(nil).bytes(5, packedVarints(half...))), []float32{1, -2}, nil},
		{"raw float16", tensorProto("a", Float16, []int64{2}, pb(nil).bytes(9, []byte{0x00, 0x3c, 0x00, 0xc0})), []float32{1, -2}, nil},
		{"raw bfloat16", tensorProto("a", BFloat16, []int64{1}, pb(nil).bytes(9, []byte{0xc0, 0x3f})), []float32{1.5}, nil},
		{"raw int64", tensorProto("a", Int64, []int64{1}, pb(nil).bytes(9, []byte{0xfe, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff})), []float32{-2}, []int64{-2}},
		{"raw bool", tensorProto("a", Bool, []int64{2}, pb(nil).bytes(9, []byte{1, 0})), []float32{1, 0}, []int64{1, 0}},
		{"uint64_data", tensorProto("a", Uint64, []int64{1}, pb(nil).varint(11, 3)), []float32{3}, []int64{3}},
		{"int8 in int32_data", tensorProto("a", Int8, []int64{1}, pb(nil).varint(5, -3)), []float32{-3}, []int64{-3}},
		{"scalar", tensorProto("a", Float, nil, pb(nil).bytes(9, packedFloats(7))), []float32{7}, nil},
		{"empty", tensorProto("a", Float, []int64{0, 3}, nil), []float32{}, nil},
	}
	for _, tc := range cases {
		got, err := parseTensor(tc.proto)
		if err != nil {
			t.Errorf("%s: %v", tc.name, err)
			continue
		}
		if !reflect.DeepEqual(got.Value.Data, tc.f32) || !reflect.DeepEqual(got.Int64, tc.i64) || got.Value.Len() != len(tc.f32) {
			t.Errorf("%s: got %v / %v, want %v / %v", tc.name, got.Value.Data, got.Int64, tc.f32, tc.i64)
		}
	}
}

func binaryF64(f float64) []byte {
	return pb(nil).fixed64(1, f)[1:]
}

func TestErrors(t *testing.T) {
	real, err := os.ReadFile(modelPath)
	if err != nil {
		t.Fatal(err)
	}
	for _, n := range []int{0, 1, 7, 100, 1000, len(real) / 2, len(real) - 100, len(real) - 1} {
		if _, err := Parse(real[:n]); err == nil {
			t.Errorf("truncated to %d bytes: no error", n)
		}
	}
	small := smallModel()
	for n := 0; n < len(small); n++ {
		Parse(small[:n]) // must not panic; short prefixes may parse as valid messages
	}
	graphWith := func(init pb) []byte {
		return pb(nil).bytes(7, pb(nil).bytes(5, init))
	}
	cases := []struct {
		name string
		data []byte
		err  error
		msg  string
	}{
		{"external data", graphWith(tensorProto("e", Float, []int64{2}, pb(nil).varint(14, 1).bytes(13, pb(nil).str(1, "location").str(2, "w.bin")))), ErrUnsupported, "external data"},
		{"string tensor", graphWith(tensorProto("s", String, []int64{1}, pb(nil).str(6, "x"))), ErrUnsupported, "string"},
		{"count mismatch", graphWith(tensorProto("c", Float, []int64{3}, pb(nil).bytes(4, packedFloats(1, 2)))), ErrFormat, "need 3 elements"},
		{"raw size mismatch", graphWith(tensorProto("r", Float, []int64{1 << 20, 1 << 10}, pb(nil).bytes(9, []byte{1, 2, 3, 4}))), ErrFormat, "raw_data holds 4"},
		{"huge dims", graphWith(tensorProto("h", Float, []int64{1 << 40, 1 << 40}, nil)), ErrFormat, "bad dims"},
		{"negative dim", graphWith(tensorProto("n", Float, []int64{-1}, nil)), ErrFormat, "bad dims"},
		{"no graph", pb(nil).varint(1, 8), ErrFormat, "no graph"},
		{"bad length", []byte{0x3a, 0xff, 0xff, 0xff, 0xff, 0x0f}, ErrFormat, "exceeds"},
		{"group wire type", []byte{0x0b}, ErrFormat, "wire type 3"},
		{"long varint", []byte{0x08, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0x01}, ErrFormat, "varint"},
		{"not onnx", []byte("hello, world"), ErrFormat, ""},
	}
	for _, tc := range cases {
		_, err := Parse(tc.data)
		if !errors.Is(err, tc.err) || !strings.Contains(err.Error(), tc.msg) {
			t.Errorf("%s: error %v, want %v mentioning %q", tc.name, err, tc.err, tc.msg)
		}
	}
	// Deeply nested subgraphs are refused, not recursed into without bound.
	g := pb(nil)
	for i := 0; i < 100; i++ {
		g = pb(nil).bytes(1, pb(nil).str(4, "If").bytes(5, pb(nil).str(1, "then_branch").varint(20, 5).bytes(6, g)))
	}
	if _, err := Parse(pb(nil).bytes(7, g)); !errors.Is(err, ErrFormat) || !strings.Contains(err.Error(), "nested") {
		t.Errorf("deep nesting: %v", err)
	}
}
