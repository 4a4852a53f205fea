package pth

import (
	"archive/zip"
	"bytes"
	"encoding/binary"
	"math"
	"testing"
)

// pk writes pickle opcodes for crafted test checkpoints.
type pk struct{ bytes.Buffer }

func newPickle() *pk {
	p := &pk{}
	p.Write([]byte{opProto, 2})
	return p
}

func (p *pk) op(b ...byte) *pk { p.Write(b); return p }

func (p *pk) global(module, name string) *pk {
	p.WriteByte(opGlobal)
	p.WriteString(module + "\n" + name + "\n")
	return p
}

func (p *pk) str(s string) *pk {
	p.WriteByte(opBinunicode)
	binary.Write(&p.Buffer, binary.LittleEndian, uint32(len(s)))
	p.WriteString(s)
	return p
}

func (p *pk) int(n int64) *pk {
	switch {
	case n >= 0 && n < 256:
		p.op(opBinint1, byte(n))
	case n >= math.MinInt32 && n <= math.MaxInt32:
		p.WriteByte(opBinint)
		binary.Write(&p.Buffer, binary.LittleEndian, int32(n))
	default:
		p.op(opLong1, 8)
		binary.Write(&p.Buffer, binary.LittleEndian, n)
	}
	return p
}

func (p *pk) ints(xs ...int64) *pk {
	p.op(opMark)
	for _, x := range xs {
		p.int(x)
	}
	return p.op(opTuple)
}

// tensor emits _rebuild_tensor_v2(storage, offset, size, stride, False, OrderedDict()).
func (p *pk) tensor(storageType, key string, numel, offset int64, size, stride []int64) *pk {
	p.global("torch._utils", "_rebuild_tensor_v2")
	p.op(opMark)
	p.op(opMark).str("storage").global("torch", storageType).str(key).str("cpu").int(numel).op(opTuple, opBinpersid)
	p.int(offset).ints(size...).ints(stride...)
	p.op(opNewfalse).global("collections", "OrderedDict").op(opEmptyTuple, opReduce)
	return p.op(opTuple, opReduce)
}

type zipEntry struct {
	name string
	data []byte
}

func makeZip(t testing.TB, entries []zipEntry) []byte {
	t.Helper()
	var buf bytes.Buffer
	w := zip.NewWriter(&buf)
	for _, e := range entries {
		f, err := w.CreateHeader(&zip.FileHeader{Name: e.name, Method: zip.Store})
		if err != nil {
			t.Fatal(err)
		}
		if _, err := f.Write(e.data); err != nil {
			t.Fatal(err)
		}
	}
	if err := w.Close(); err != nil {
		t.Fatal(err)
	}
	return buf.Bytes()
}

func f32bytes(xs ...float32) []byte {
	b := make([]byte, 0, 4*len(xs))
	for _, x := range xs {
		b = binary.LittleEndian.AppendUint32(b, math.Float32bits(x))
	}
	return b
}

// smallCheckpoint is a crafted checkpoint covering nesting, views, dtypes and
// non-tensor entries. Its expected content is checked in TestCrafted.
func smallCheckpoint(t testing.TB) []byte {
	p := newPickle()
	p.op(opEmptyDict, opBinput, 0, opMark)
	// "model": OrderedDict with tensors and _metadata.
	p.str("model").global("collections", "OrderedDict").op(opEmptyTuple, opReduce, opMark)
	p.str("w").tensor("FloatStorage", "0", 6, 0, []int64{2, 3}, []int64{3, 1}).op(opBinput, 1)
	p.str("wt").tensor("FloatStorage", "0", 6, 0, []int64{3, 2}, []int64{1, 3})
	p.str("tail").tensor("FloatStorage", "0", 6, 4, []int64{2}, []int64{1})
	p.str("h").tensor("HalfStorage", "1", 3, 0, []int64{3}, []int64{1})
	p.str("bf").tensor("BFloat16Storage", "2", 2, 0, []int64{2}, []int64{1})
	p.str("d").tensor("DoubleStorage", "3", 2, 1, []int64{}, []int64{})
	p.str("i").tensor("LongStorage", "4", 2, 0, []int64{2}, []int64{1})
	p.str("bcast").tensor("FloatStorage", "0", 6, 1, []int64{2, 2}, []int64{0, 1})
	p.str("empty").tensor("FloatStorage", "0", 6, 6, []int64{0, 5}, []int64{5, 1})
	p.str("tied").op(opBinget, 1)
	p.op(opSetitems)
	p.op(opEmptyDict).str("_metadata").op(opEmptyDict).op(opSetitem, opBuild)
	// Non-tensor entries.
	p.str("epoch").int(7)
	p.str("lr").op(opBinfloat, 0x3f, 0x50, 0x62, 0x4d, 0xd2, 0xf1, 0xa9, 0xfc)
	p.str("name").str("x")
	p.str("none").op(opNone)
	p.str("list").op(opEmptyList, opMark).int(1).tensor("FloatStorage", "0", 6, 5, []int64{1}, []int64{1}).op(opAppends)
	p.op(opSetitems, opStop)

	le := binary.LittleEndian
	f16 := []byte{}
	for _, h := range []uint16{0x3c00, 0xc000, 0x3555} { // 1, -2, 0.333251953125
		f16 = le.AppendUint16(f16, h)
	}
	bf := []byte{}
	for _, x := range []float32{1.5, -3} {
		bf = le.AppendUint16(bf, uint16(math.Float32bits(x)>>16))
	}
	f64 := le.AppendUint64(le.AppendUint64(nil, math.Float64bits(9)), math.Float64bits(0.1))
	i64 := le.AppendUint64(le.AppendUint64(nil, uint64(1<<40)), uint64(0xffffffffffffffff))
	return makeZip(t, []zipEntry{
		{"ck/data.pkl", p.Bytes()},
		{"ck/data/0", f32bytes(0, 1, 2, 3, 4, 5)},
		{"ck/data/1", f16},
		{"ck/data/2", bf},
		{"ck/data/3", f64},
		{"ck/data/4", i64},
		{"ck/version", []byte("3\n")},
		{"ck/byteorder", []byte("little")},
	})
}
