package onnx

import (
	"encoding/binary"
	"fmt"
	"math"
)

// Protobuf wire types.
const (
	wireVarint  = 0
	wireFixed64 = 1
	wireBytes   = 2
	wireFixed32 = 5
)

// decoder walks the fields of one protobuf message.
type decoder struct {
	b   []byte
	pos int
	msg string // message name, for errors
}

// field is one decoded field. For wireBytes, bytes holds the payload (an
// alias of the input); otherwise u holds the varint or fixed value.
type field struct {
	num   uint64
	wire  int
	u     uint64
	bytes []byte
}

func (d *decoder) errf(format string, args ...any) error {
	return fmt.Errorf("%w: %s at byte %d: %s", ErrFormat, d.msg, d.pos, fmt.Sprintf(format, args...))
}

func (d *decoder) done() bool { return d.pos >= len(d.b) }

func (d *decoder) varint() (uint64, error) {
	var x uint64
	for i := 0; i < 10; i++ {
		if d.pos >= len(d.b) {
			return 0, d.errf("truncated varint")
		}
		c := d.b[d.pos]
		d.pos++
		if i == 9 && c > 1 {
			return 0, d.errf("varint overflows 64 bits")
		}
		x |= uint64(c&0x7f) << (7 * i)
		if c < 0x80 {
			return x, nil
		}
	}
	return 0, d.errf("varint longer than 10 bytes")
}

func (d *decoder) next() (field, error) {
	key, err := d.varint()
	if err != nil {
		return field{}, err
	}
	f := field{num: key >> 3, wire: int(key & 7)}
	if f.num == 0 {
		return f, d.errf("field number 0")
	}
	switch f.wire {
	case wireVarint:
		f.u, err = d.varint()
		return f, err
	case wireFixed64:
		if len(d.b)-d.pos < 8 {
			return f, d.errf("truncated fixed64 field %d", f.num)
		}
		f.u = binary.LittleEndian.Uint64(d.b[d.pos:])
		d.pos += 8
	case wireFixed32:
		if len(d.b)-d.pos < 4 {
			return f, d.errf("truncated fixed32 field %d", f.num)
		}
		f.u = uint64(binary.LittleEndian.Uint32(d.b[d.pos:]))
		d.pos += 4
	case wireBytes:
		n, err := d.varint()
		if err != nil {
			return f, err
		}
		if n > uint64(len(d.b)-d.pos) {
			return f, d.errf("field %d length %d exceeds the remaining %d bytes (truncated file?)", f.num, n, len(d.b)-d.pos)
		}
		f.bytes = d.b[d.pos : d.pos+int(n)]
		d.pos += int(n)
	default:
		return f, d.errf("unsupported wire type %d for field %d", f.wire, f.num)
	}
	return f, nil
}

func (f field) want(d *decoder, wire int, name string) error {
	if f.wire != wire {
		return d.errf("field %s (%d) has wire type %d, want %d", name, f.num, f.wire, wire)
	}
	return nil
}

func (f field) str(d *decoder, name string) (string, error) {
	if err := f.want(d, wireBytes, name); err != nil {
		return "", err
	}
	return string(f.bytes), nil
}

func (f field) int64(d *decoder, name string) (int64, error) {
	if err := f.want(d, wireVarint, name); err != nil {
		return 0, err
	}
	return int64(f.u), nil
}

// appendVarints decodes a repeated varint field, packed or not.
func (f field) appendVarints(d *decoder, out []int64, name string) ([]int64, error) {
	switch f.wire {
	case wireVarint:
		return append(out, int64(f.u)), nil
	case wireBytes:
		sub := &decoder{b: f.bytes, msg: d.msg + "." + name}
		for !sub.done() {
			x, err := sub.varint()
			if err != nil {
				return nil, err
			}
			out = append(out, int64(x))
		}
		return out, nil
	}
	return nil, d.errf("field %s (%d) has wire type %d, want varint or packed", name, f.num, f.wire)
}

// appendFixed32 decodes a repeated float field, packed or not.
func (f field) appendFloats(d *decoder, out []float32, name string) ([]float32, error) {
	switch f.wire {
	case wireFixed32:
		return append(out, math.Float32frombits(uint32(f.u))), nil
	case wireBytes:
		if len(f.bytes)%4 != 0 {
			return nil, d.errf("packed %s of %d bytes is not a multiple of 4", name, len(f.bytes))
		}
		for i := 0; i < len(f.bytes); i += 4 {
			out = append(out, math.Float32frombits(binary.LittleEndian.Uint32(f.bytes[i:])))
		}
		return out, nil
	}
	return nil, d.errf("field %s (%d) has wire type %d, want fixed32 or packed", name, f.num, f.wire)
}

// appendDoubles decodes a repeated double field, packed or not.
func (f field) appendDoubles(d *decoder, out []float64, name string) ([]float64, error) {
	switch f.wire {
	case wireFixed64:
		return append(out, math.Float64frombits(f.u)), nil
	case wireBytes:
		if len(f.bytes)%8 != 0 {
			return nil, d.errf("packed %s of %d bytes is not a multiple of 8", name, len(f.bytes))
		}
		for i := 0; i < len(f.bytes); i += 8 {
			out = append(out, math.Float64frombits(binary.LittleEndian.Uint64(f.bytes[i:])))
		}
		return out, nil
	}
	return nil, d.errf("field %s (%d) has wire type %d, want fixed64 or packed", name, f.num, f.wire)
}
