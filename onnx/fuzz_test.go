package onnx

import (
	"testing"
)

// FuzzParse decodes arbitrary bytes as a ModelProto; it must never panic.
// Seeds are a small crafted model, some of its prefixes and a few crafted
// tensors (the 1 MB golden model is covered by TestFixtureModel instead).
func FuzzParse(f *testing.F) {
	m := smallModel()
	f.Add(m)
	f.Add(m[:len(m)/2])
	f.Add([]byte(pb(nil).bytes(7, pb(nil).bytes(5, tensorProto("i", Int64, []int64{2}, pb(nil).varint(7, -1).varint(7, 3))))))
	f.Add([]byte(pb(nil).bytes(7, pb(nil).bytes(5, tensorProto("h", Float16, []int64{1, 2}, pb(nil).bytes(9, []byte{0, 0x3c, 0, 0xc0}))))))
	f.Fuzz(func(t *testing.T, data []byte) {
		m, err := Parse(data)
		if err != nil {
			return
		}
		for name, v := range m.Graph.Initializers {
			if len(v.Data) != v.Len() {
				t.Fatalf("%s: %d values for shape %v", name, len(v.Data), v.Shape)
			}
		}
		for _, n := range m.Graph.Nodes {
			for _, o := range n.Outputs {
				m.Graph.Consumers(o)
			}
		}
	})
}
