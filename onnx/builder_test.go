package onnx

import (
	"encoding/binary"
	"math"
)

// pb is a minimal protobuf encoder for crafted test models.
type pb []byte

func (p pb) key(num, wire int) pb { return binary.AppendUvarint(p, uint64(num<<3|wire)) }

func (p pb) varint(num int, x int64) pb {
	return binary.AppendUvarint(p.key(num, wireVarint), uint64(x))
}

func (p pb) bytes(num int, b []byte) pb {
	p = binary.AppendUvarint(p.key(num, wireBytes), uint64(len(b)))
	return append(p, b...)
}

func (p pb) str(num int, s string) pb { return p.bytes(num, []byte(s)) }

func (p pb) fixed32(num int, f float32) pb {
	return binary.LittleEndian.AppendUint32(p.key(num, wireFixed32), math.Float32bits(f))
}

func (p pb) fixed64(num int, f float64) pb {
	return binary.LittleEndian.AppendUint64(p.key(num, wireFixed64), math.Float64bits(f))
}

func packedVarints(xs ...int64) []byte {
	var b []byte
	for _, x := range xs {
		b = binary.AppendUvarint(b, uint64(x))
	}
	return b
}

func packedFloats(xs ...float32) []byte {
	var b []byte
	for _, x := range xs {
		b = binary.LittleEndian.AppendUint32(b, math.Float32bits(x))
	}
	return b
}

// tensorProto builds a TensorProto with dims (packed) and the given data fields.
func tensorProto(name string, dt DataType, dims []int64, data pb) pb {
	return pb(nil).bytes(1, packedVarints(dims...)).varint(2, int64(dt)).str(8, name).bytesRaw(data)
}

func (p pb) bytesRaw(b []byte) pb { return append(p, b...) }

func attrFloat(name string, f float32) pb { return pb(nil).str(1, name).varint(20, 1).fixed32(2, f) }
func attrInt(name string, i int64) pb     { return pb(nil).str(1, name).varint(20, 2).varint(3, i) }
func attrStr(name, s string) pb           { return pb(nil).str(1, name).varint(20, 3).str(4, s) }

func node(name, op string, ins, outs []string, attrs ...pb) pb {
	p := pb(nil)
	for _, in := range ins {
		p = p.str(1, in)
	}
	for _, o := range outs {
		p = p.str(2, o)
	}
	p = p.str(3, name).str(4, op)
	for _, a := range attrs {
		p = p.bytes(5, a)
	}
	return p
}

func valueInfo(name string, dims ...int64) pb {
	shape := pb(nil)
	for _, d := range dims {
		if d < 0 {
			shape = shape.bytes(1, pb(nil).str(2, "N"))
		} else {
			shape = shape.bytes(1, pb(nil).varint(1, d))
		}
	}
	tt := pb(nil).varint(1, int64(Float)).bytes(2, shape)
	return pb(nil).str(1, name).bytes(2, pb(nil).bytes(1, tt))
}

// smallModel is a valid two-node model: y = Resize(x, scales) * w.
func smallModel() []byte {
	scales := tensorProto("scales", Float, []int64{4}, pb(nil).bytes(9, packedFloats(1, 1, 2, 2)))
	w := tensorProto("w", Float, []int64{1, 1, 2, 2}, pb(nil).bytes(4, packedFloats(1, 2, 3, 4)))
	shape := tensorProto("", Int64, []int64{2}, pb(nil).bytes(7, packedVarints(-1, 4)))
	g := pb(nil).
		bytes(1, node("c", "Constant", nil, []string{"shape"}, pb(nil).str(1, "value").varint(20, 4).bytes(5, shape))).
		bytes(1, node("r", "Resize", []string{"x", "", "scales"}, []string{"xr"},
			attrStr("mode", "cubic"), attrFloat("cubic_coeff_a", -0.75), attrStr("coordinate_transformation_mode", "half_pixel"))).
		bytes(1, node("m", "Mul", []string{"xr", "w"}, []string{"y"})).
		bytes(1, node("t", "Transpose", []string{"y"}, []string{"yt"}, pb(nil).str(1, "perm").varint(20, 7).bytes(8, packedVarints(0, 1, 3, 2)))).
		str(2, "g").
		bytes(5, scales).bytes(5, w).
		bytes(11, valueInfo("x", -1, 1, 1, 1)).
		bytes(12, valueInfo("yt", -1, 1, 2, 2))
	return pb(nil).varint(1, 8).str(2, "test").bytes(7, g).bytes(8, pb(nil).str(1, "").varint(2, 17))
}
