package pth

import (
	"archive/zip"
	"bytes"
	"errors"
	"io"
	"math"
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"testing"

	"dinotracker/safetensors"
	"dinotracker/tensor"
)

var goldenDir = filepath.Join("..", "testdata", "golden", "dinov2_tiny_stride7")

func load(t *testing.T, b []byte) (*Checkpoint, error) {
	t.Helper()
	return Load(bytes.NewReader(b), int64(len(b)))
}

func TestFixtureMatchesSafetensors(t *testing.T) {
	c, err := LoadFile(filepath.Join(goldenDir, "weights_hub.pth"))
	if err != nil {
		t.Fatal(err)
	}
	st, err := safetensors.ReadFile(filepath.Join(goldenDir, "weights_hub.safetensors"))
	if err != nil {
		t.Fatal(err)
	}
	if c.Folder != "weights_hub" || c.Version != "3" || c.BigEndian {
		t.Errorf("folder %q version %q big-endian %v", c.Folder, c.Version, c.BigEndian)
	}
	if len(c.Skipped) != 0 {
		t.Errorf("unexpected skipped entries %v", c.Skipped)
	}
	if len(c.Tensors) != len(st.Tensors) {
		t.Errorf("%d tensors in .pth, %d in .safetensors", len(c.Tensors), len(st.Tensors))
	}
	for name, want := range st.Tensors {
		got := c.Tensors[name]
		if got == nil {
			t.Errorf("%s missing from .pth", name)
			continue
		}
		if want.DType != "F32" || c.DTypes[name] != "float32" {
			t.Errorf("%s: dtypes %s / %s", name, want.DType, c.DTypes[name])
		}
		if !reflect.DeepEqual(got.Shape, want.Shape) {
			t.Errorf("%s: shape %v, want %v", name, got.Shape, want.Shape)
			continue
		}
		wd, err := want.Float32()
		if err != nil {
			t.Fatal(err)
		}
		for i := range wd {
			if math.Float32bits(got.Data[i]) != math.Float32bits(wd[i]) {
				t.Errorf("%s[%d] = %v, want %v", name, i, got.Data[i], wd[i])
				break
			}
		}
	}
	// The convenience API gives the same map.
	m, err := ReadFile(filepath.Join(goldenDir, "weights_hub.pth"))
	if err != nil || len(m) != len(c.Tensors) {
		t.Fatalf("ReadFile: %d tensors, %v", len(m), err)
	}
}

func TestCrafted(t *testing.T) {
	c, err := load(t, smallCheckpoint(t))
	if err != nil {
		t.Fatal(err)
	}
	want := map[string]*tensor.Tensor{
		"model.w":     {Shape: []int{2, 3}, Data: []float32{0, 1, 2, 3, 4, 5}},
		"model.wt":    {Shape: []int{3, 2}, Data: []float32{0, 3, 1, 4, 2, 5}},
		"model.tail":  {Shape: []int{2}, Data: []float32{4, 5}},
		"model.h":     {Shape: []int{3}, Data: []float32{1, -2, 0.333251953125}},
		"model.bf":    {Shape: []int{2}, Data: []float32{1.5, -3}},
		"model.d":     {Shape: []int{}, Data: []float32{float32(0.1)}},
		"model.i":     {Shape: []int{2}, Data: []float32{1 << 40, -1}},
		"model.bcast": {Shape: []int{2, 2}, Data: []float32{1, 2, 1, 2}},
		"model.empty": {Shape: []int{0, 5}, Data: []float32{}},
		"model.tied":  {Shape: []int{2, 3}, Data: []float32{0, 1, 2, 3, 4, 5}},
		"list.1":      {Shape: []int{1}, Data: []float32{5}},
	}
	if len(c.Tensors) != len(want) {
		t.Errorf("got %d tensors, want %d", len(c.Tensors), len(want))
	}
	for k, w := range want {
		g := c.Tensors[k]
		if g == nil || !reflect.DeepEqual(g.Shape, w.Shape) || !reflect.DeepEqual(g.Data, w.Data) {
			t.Errorf("%s = %+v, want %+v", k, g, w)
		}
	}
	if c.Tensors["model.tied"] != c.Tensors["model.w"] {
		t.Error("tied keys should share one tensor")
	}
	dt := map[string]string{"model.h": "float16", "model.bf": "bfloat16", "model.d": "float64", "model.i": "int64", "model.w": "float32"}
	for k, v := range dt {
		if c.DTypes[k] != v {
			t.Errorf("dtype of %s = %q, want %q", k, c.DTypes[k], v)
		}
	}
	wantSkipped := []Skipped{{"epoch", "int"}, {"list.0", "int"}, {"lr", "float"}, {"model._metadata", "dict attribute"}, {"name", "str"}, {"none", "None"}}
	if !reflect.DeepEqual(c.Skipped, wantSkipped) {
		t.Errorf("skipped %v, want %v", c.Skipped, wantSkipped)
	}
	if s := StripPrefix(c.Tensors, "model"); len(s) != 10 || s["w"] == nil {
		t.Errorf("StripPrefix: %d tensors", len(s))
	}
}

func TestBigEndian(t *testing.T) {
	p := newPickle().tensor("FloatStorage", "0", 2, 0, []int64{2}, []int64{1}).op(opStop)
	be := []byte{0x3f, 0x80, 0, 0, 0xc0, 0, 0, 0} // 1, -2 big-endian
	b := makeZip(t, []zipEntry{{"a/data.pkl", p.Bytes()}, {"a/byteorder", []byte("big")}, {"a/data/0", be}})
	c, err := load(t, b)
	if err != nil {
		t.Fatal(err)
	}
	if got := c.Tensors[""]; got == nil || !reflect.DeepEqual(got.Data, []float32{1, -2}) || !c.BigEndian {
		t.Errorf("got %+v", got)
	}
}

// 4-d permuted view, as x.permute(0, 2, 3, 1) of a [2,3,4,5] tensor.
func TestPermutedView(t *testing.T) {
	const n = 2 * 3 * 4 * 5
	src := make([]float32, n)
	for i := range src {
		src[i] = float32(i)
	}
	p := newPickle().tensor("FloatStorage", "0", n, 0, []int64{2, 4, 5, 3}, []int64{60, 5, 1, 20}).op(opStop)
	c, err := load(t, makeZip(t, []zipEntry{{"a/data.pkl", p.Bytes()}, {"a/data/0", f32bytes(src...)}}))
	if err != nil {
		t.Fatal(err)
	}
	got := c.Tensors[""]
	o := 0
	for a := 0; a < 2; a++ {
		for h := 0; h < 4; h++ {
			for w := 0; w < 5; w++ {
				for ch := 0; ch < 3; ch++ {
					if want := src[a*60+ch*20+h*5+w]; got.Data[o] != want {
						t.Fatalf("element %d = %v, want %v", o, got.Data[o], want)
					}
					o++
				}
			}
		}
	}
}

func TestForbiddenGlobal(t *testing.T) {
	cases := map[string][]byte{
		"os.system": newPickle().global("os", "system").str("echo pwned").op(opTuple1, opReduce, opStop).Bytes(),
		"builtins.eval": func() []byte {
			p := newPickle()
			p.op(opShortBinunicode, 8).WriteString("builtins")
			p.op(opShortBinunicode, 4).WriteString("eval")
			return p.op(opStackGlobal, opStop).Bytes()
		}(),
		"torch.storage._load_from_bytes": newPickle().global("torch.storage", "_load_from_bytes").op(opStop).Bytes(),
		"torch.ComplexFloatStorage":      newPickle().global("torch", "ComplexFloatStorage").op(opStop).Bytes(),
	}
	for name, pkl := range cases {
		_, err := load(t, makeZip(t, []zipEntry{{"x/data.pkl", pkl}}))
		if !errors.Is(err, ErrForbiddenGlobal) || !strings.Contains(err.Error(), name) {
			t.Errorf("%s: error %v, want ErrForbiddenGlobal naming it", name, err)
		}
	}
}

func TestErrors(t *testing.T) {
	real, err := os.ReadFile(filepath.Join(goldenDir, "weights_hub.pth"))
	if err != nil {
		t.Fatal(err)
	}
	zr, err := zip.NewReader(bytes.NewReader(real), int64(len(real)))
	if err != nil {
		t.Fatal(err)
	}
	var entries []zipEntry
	for _, f := range zr.File {
		rc, _ := f.Open()
		b, _ := io.ReadAll(rc)
		rc.Close()
		entries = append(entries, zipEntry{f.Name, b})
	}
	without := func(name string) []zipEntry {
		var out []zipEntry
		for _, e := range entries {
			if e.name != name {
				out = append(out, e)
			}
		}
		return out
	}
	replace := func(name string, data []byte) []zipEntry {
		out := append([]zipEntry(nil), entries...)
		for i := range out {
			if out[i].name == name {
				out[i].data = data
			}
		}
		return out
	}
	pkl := entries[0].data
	p := newPickle().tensor("FloatStorage", "0", 4, 0, []int64{2, 3}, []int64{3, 1}).op(opStop)
	cases := []struct {
		name string
		file []byte
		msg  string
	}{
		{"missing storage", makeZip(t, without("weights_hub/data/5")), "weights_hub/data/5 is missing"},
		{"short storage", makeZip(t, replace("weights_hub/data/5", []byte{1, 2, 3})), "entry holds 3 bytes"},
		{"missing data.pkl", makeZip(t, without("weights_hub/data.pkl")), "data.pkl"},
		{"truncated pickle", makeZip(t, replace("weights_hub/data.pkl", pkl[:len(pkl)/2])), "truncated"},
		{"view outside storage", makeZip(t, []zipEntry{{"a/data.pkl", p.Bytes()}, {"a/data/0", f32bytes(1, 2, 3, 4)}}), "reaches element 5"},
		{"not a zip", []byte("hello world"), "not a zip"},
		{"legacy format", []byte{0x80, 2, 0x8a, 10, 0, 0}, "legacy"},
		{"bad byteorder", makeZip(t, append(entries, zipEntry{"weights_hub/byteorder", []byte("middle")})), "byteorder"},
	}
	for _, tc := range cases {
		_, err := load(t, tc.file)
		if !errors.Is(err, ErrFormat) || !strings.Contains(err.Error(), tc.msg) {
			t.Errorf("%s: error %v, want ErrFormat mentioning %q", tc.name, err, tc.msg)
		}
	}
	// Every truncation of the real file fails cleanly.
	for _, n := range []int{0, 3, 100, len(real) / 3, len(real) / 2, len(real) - 200, len(real) - 22, len(real) - 1} {
		if _, err := load(t, real[:n]); err == nil {
			t.Errorf("truncated to %d bytes: no error", n)
		}
	}
}

func TestHostilePickles(t *testing.T) {
	// A dict that contains itself, and an exponential DAG of tuples: both
	// must terminate quickly.
	cyc := newPickle().op(opEmptyDict, opBinput, 0).str("self").op(opBinget, 0, opSetitem, opStop)
	dag := newPickle().op(opNone)
	for i := 0; i < 200; i++ {
		dag.op(opBinput, 0, opPop, opBinget, 0, opBinget, 0, opTuple2)
	}
	dag.op(opStop)
	huge := newPickle().tensor("FloatStorage", "0", 1<<62, 0, []int64{1 << 31, 1 << 31}, []int64{1 << 31, 1}).op(opStop)
	expand := newPickle().tensor("FloatStorage", "0", 1, 0, []int64{1 << 31, 1 << 31}, []int64{0, 0}).op(opStop)
	for _, tc := range []struct {
		name string
		pkl  []byte
		msg  string // "" means success
	}{
		{"cycle", cyc.Bytes(), ""},
		{"dag", dag.Bytes(), ""},
		{"huge storage", huge.Bytes(), "declares 4611686018427387904 float32 elements"},
		{"huge expanded view", expand.Bytes(), "more than its storage"},
	} {
		c, err := load(t, makeZip(t, []zipEntry{{"x/data.pkl", tc.pkl}, {"x/data/0", f32bytes(1)}}))
		switch {
		case tc.msg == "" && err != nil:
			t.Errorf("%s: %v", tc.name, err)
		case tc.msg == "" && len(c.Tensors) != 0:
			t.Errorf("%s: %d tensors", tc.name, len(c.Tensors))
		case tc.msg != "" && (err == nil || !strings.Contains(err.Error(), tc.msg)):
			t.Errorf("%s: error %v, want one mentioning %q", tc.name, err, tc.msg)
		}
		if tc.name == "cycle" && (len(c.Skipped) != 1 || c.Skipped[0].Key != "self") {
			t.Errorf("cycle: skipped %v", c.Skipped)
		}
	}
	for _, pkl := range [][]byte{
		{opProto, 2, opMark, opBinint1, 1, opMark, opReduce, opStop}, // REDUCE across a mark
		{opProto, 2, opLong1, 9, 1, 2, 3, 4, 5, 6, 7, 8, 9, opStop},  // 9-byte int
		{opProto, 2, opBinunicode, 0xff, 0xff, 0xff, 0x7f, 'a', opStop},
		{opProto, 2, opLongBinget, 1, 0, 0, 0, opStop},
		{opProto, 2, 'i', opStop},
	} {
		if _, _, err := unpickle(pkl); err == nil {
			t.Errorf("%q: no error", pkl)
		}
	}
}
