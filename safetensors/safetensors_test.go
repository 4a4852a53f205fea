package safetensors

import (
	"bytes"
	"errors"
	"math"
	"os"
	"path/filepath"
	"testing"
)

func TestRoundTripAndStream(t *testing.T) {
	dir := t.TempDir()
	a := []float32{1, -2, 3.5, float32(math.Inf(1)), 0.1}
	b := []float32{7, 8, 9, 10, 11, 12}
	p := filepath.Join(dir, "x.safetensors")
	if err := WriteFile(p, []Entry{{"a", "F32", []int{5}, a}, {"b", "F16", []int{2, 3}, b}}, map[string]string{"k": "v"}); err != nil {
		t.Fatal(err)
	}
	f, err := ReadFile(p)
	if err != nil {
		t.Fatal(err)
	}
	if f.Metadata["k"] != "v" || len(f.Names()) != 2 || f.Names()[0] != "a" {
		t.Fatalf("metadata/order: %v %v", f.Metadata, f.Names())
	}
	got, _ := f.Tensors["a"].Float32()
	for i := range a {
		if got[i] != a[i] {
			t.Fatalf("a[%d]=%v", i, got[i])
		}
	}
	gb, _ := f.Tensors["b"].Float32()
	for i := range b {
		if gb[i] != b[i] {
			t.Fatalf("b[%d]=%v", i, gb[i])
		}
	}

	// Streaming writer: same bytes as Write.
	p2 := filepath.Join(dir, "y.safetensors")
	w, err := Create(p2, []Header{{"a", "F32", []int{5}}, {"b", "F16", []int{2, 3}}}, map[string]string{"k": "v"})
	if err != nil {
		t.Fatal(err)
	}
	for _, chunk := range [][]float32{a[:2], append(append([]float32(nil), a[2:]...), b[:1]...), b[1:]} {
		if err := w.WriteValues(chunk); err != nil {
			t.Fatal(err)
		}
	}
	if err := w.Close(); err != nil {
		t.Fatal(err)
	}
	x, _ := os.ReadFile(p)
	y, _ := os.ReadFile(p2)
	if !bytes.Equal(x, y) {
		t.Fatal("streamed file differs from Write")
	}
	r, err := Open(p2)
	if err != nil {
		t.Fatal(err)
	}
	defer r.Close()
	dst := make([]float32, 3)
	if err := r.ReadRange("b", 3, dst); err != nil || dst[0] != 10 || dst[2] != 12 {
		t.Fatalf("ReadRange: %v %v", dst, err)
	}
	if err := r.ReadRange("b", 4, dst); err == nil {
		t.Fatal("out-of-range read accepted")
	}
}

func TestIncompleteWriterLeavesNothing(t *testing.T) {
	dir := t.TempDir()
	p := filepath.Join(dir, "z.safetensors")
	w, err := Create(p, []Header{{"a", "F32", []int{4}}}, nil)
	if err != nil {
		t.Fatal(err)
	}
	w.WriteValues([]float32{1, 2})
	if err := w.Close(); err == nil {
		t.Fatal("Close accepted a short tensor")
	}
	if ents, _ := os.ReadDir(dir); len(ents) != 0 {
		t.Fatalf("left files behind: %v", ents)
	}
	w, _ = Create(p, []Header{{"a", "F32", []int{1}}}, nil)
	if err := w.WriteValues([]float32{1, 2}); err == nil {
		t.Fatal("too many values accepted")
	}
	w.Abort()
	if ents, _ := os.ReadDir(dir); len(ents) != 0 {
		t.Fatalf("left files behind: %v", ents)
	}
}

func TestTruncatedFileErrors(t *testing.T) {
	dir := t.TempDir()
	p := filepath.Join(dir, "t.safetensors")
	if err := WriteFile(p, []Entry{{"a", "F32", []int{100}, make([]float32, 100)}}, nil); err != nil {
		t.Fatal(err)
	}
	b, _ := os.ReadFile(p)
	for _, n := range []int{0, 5, 12, len(b) - 1} {
		q := filepath.Join(dir, "cut.safetensors")
		os.WriteFile(q, b[:n], 0o644)
		if _, err := ReadFile(q); !errors.Is(err, ErrFormat) {
			t.Errorf("ReadFile of %d bytes: %v, want ErrFormat", n, err)
		}
		if r, err := Open(q); !errors.Is(err, ErrFormat) {
			if r != nil {
				r.Close()
			}
			t.Errorf("Open of %d bytes: %v, want ErrFormat", n, err)
		}
	}
}

func TestHalfConversion(t *testing.T) {
	for _, v := range []float32{0, 1, -1, 0.5, 65504, 6.1035156e-05, 5.9604645e-08, -2.5} {
		if got := HalfToFloat32(Float32ToHalf(v)); got != v {
			t.Errorf("%v → %v", v, got)
		}
	}
	if got := HalfToFloat32(Float32ToHalf(1e6)); !math.IsInf(float64(got), 1) {
		t.Errorf("overflow → %v", got)
	}
	// Round to nearest even: 1 + 2^-11 is halfway between 1 and 1+2^-10.
	if got := HalfToFloat32(Float32ToHalf(1 + 1.0/2048)); got != 1 {
		t.Errorf("tie → %v", got)
	}
	for h := 0; h < 1<<16; h++ {
		f := HalfToFloat32(uint16(h))
		if math.IsNaN(float64(f)) {
			continue
		}
		if back := Float32ToHalf(f); back != uint16(h) {
			t.Fatalf("half %#04x → %v → %#04x", h, f, back)
		}
	}
}
