package safetensors

import (
	"bytes"
	"testing"
)

// FuzzParse parses arbitrary bytes as a safetensors file and converts every
// tensor it accepts; neither step may panic, and accepted tensors must be
// consistent with their shapes.
func FuzzParse(f *testing.F) {
	var buf bytes.Buffer
	err := Write(&buf, []Entry{
		{Name: "a", DType: "F32", Shape: []int{2, 3}, Data: []float32{1, 2, 3, 4, 5, 6}},
		{Name: "b", DType: "F16", Shape: []int{2}, Data: []float32{0.5, -2}},
		{Name: "s", DType: "F32", Shape: []int{}, Data: []float32{7}},
	}, map[string]string{"format": "pt"})
	if err != nil {
		f.Fatal(err)
	}
	valid := buf.Bytes()
	f.Add(valid)
	f.Add(valid[:len(valid)-5]) // truncated data
	f.Add(valid[:12])           // truncated header
	f.Add([]byte(`        {"x":{"dtype":"I64","shape":[1],"data_offsets":[0,8]}}`))
	f.Fuzz(func(t *testing.T, data []byte) {
		file, err := Parse(data)
		if err != nil {
			return
		}
		for _, name := range file.Names() {
			tt := file.Tensors[name]
			n := 1
			for _, d := range tt.Shape {
				n *= d
			}
			if n*DTypeSize(tt.DType) != len(tt.Raw) {
				t.Fatalf("%s: shape %v of %s but %d raw bytes", name, tt.Shape, tt.DType, len(tt.Raw))
			}
			if v, err := tt.Float32(); err == nil && len(v) != n {
				t.Fatalf("%s: Float32 gave %d values, want %d", name, len(v), n)
			}
			if v, err := tt.Float64(); err == nil && len(v) != n {
				t.Fatalf("%s: Float64 gave %d values, want %d", name, len(v), n)
			}
			if _, err := tt.Tensor(); err != nil && tt.DType != "U16" && tt.DType != "U32" && tt.DType != "U64" {
				t.Fatalf("%s: %v", name, err)
			}
		}
	})
}
