// Package safetensors reads and writes the safetensors file format
// (https://github.com/huggingface/safetensors): an 8-byte little-endian header
// length, a JSON header mapping tensor names to dtype, shape and byte offsets
// (plus an optional "__metadata__" map of strings), then the raw little-endian
// C-order data.
//
// Reading validates everything a hostile or truncated file could get wrong:
// header size, JSON, dtypes, shapes against byte ranges, overlapping or
// out-of-bounds ranges. Writing is atomic (temporary file + rename).
package safetensors

import (
	"encoding/binary"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"math"
	"os"
	"path/filepath"
	"sort"

	"dinotracker/tensor"
)

// MaxHeaderSize bounds the JSON header (100 MB, as the reference implementation does).
const MaxHeaderSize = 100 << 20

// ErrFormat is wrapped by every error about a malformed file.
var ErrFormat = errors.New("safetensors: malformed file")

// Tensor is one entry of a file: its dtype name as written in the header
// ("F32", "F16", "BF16", "F64", "I64", "I32", "I16", "I8", "U8", "BOOL"), its
// shape and its raw little-endian bytes.
type Tensor struct {
	DType string
	Shape []int
	Raw   []byte
}

// File is a parsed safetensors file.
type File struct {
	Metadata map[string]string
	Tensors  map[string]*Tensor
	order    []string
}

// Names lists the tensor names in file (offset) order.
func (f *File) Names() []string { return append([]string(nil), f.order...) }

var dtypeSize = map[string]int{
	"F64": 8, "F32": 4, "F16": 2, "BF16": 2,
	"I64": 8, "I32": 4, "I16": 2, "I8": 1, "U8": 1, "U16": 2, "U32": 4, "U64": 8, "BOOL": 1,
}

// DTypeSize returns the element size in bytes of a dtype name, or 0 if unknown.
func DTypeSize(dtype string) int { return dtypeSize[dtype] }

type headerEntry struct {
	DType       string  `json:"dtype"`
	Shape       []int64 `json:"shape"`
	DataOffsets []int64 `json:"data_offsets"`
}

// ReadFile reads and parses a whole safetensors file.
func ReadFile(path string) (*File, error) {
	b, err := os.ReadFile(path)
	if err != nil {
		return nil, fmt.Errorf("safetensors: read %s: %w", path, err)
	}
	f, err := Parse(b)
	if err != nil {
		return nil, fmt.Errorf("%s: %w", path, err)
	}
	return f, nil
}

// Parse parses a safetensors file held in memory. The returned tensors alias b.
func Parse(b []byte) (*File, error) {
	if len(b) < 8 {
		return nil, fmt.Errorf("%w: %d bytes is shorter than the 8-byte header length", ErrFormat, len(b))
	}
	n := binary.LittleEndian.Uint64(b[:8])
	if n > MaxHeaderSize || n > uint64(len(b)-8) {
		return nil, fmt.Errorf("%w: header length %d exceeds the file (%d bytes) or the %d-byte limit; the file may be truncated", ErrFormat, n, len(b), MaxHeaderSize)
	}
	var raw map[string]json.RawMessage
	if err := json.Unmarshal(b[8:8+n], &raw); err != nil {
		return nil, fmt.Errorf("%w: header JSON: %v", ErrFormat, err)
	}
	data := b[8+n:]
	f := &File{Tensors: map[string]*Tensor{}}
	type span struct {
		name       string
		start, end int64
	}
	var spans []span
	for name, msg := range raw {
		if name == "__metadata__" {
			if err := json.Unmarshal(msg, &f.Metadata); err != nil {
				return nil, fmt.Errorf("%w: __metadata__ must map strings to strings: %v", ErrFormat, err)
			}
			continue
		}
		var h headerEntry
		if err := json.Unmarshal(msg, &h); err != nil {
			return nil, fmt.Errorf("%w: tensor %q: %v", ErrFormat, name, err)
		}
		size := dtypeSize[h.DType]
		if size == 0 {
			return nil, fmt.Errorf("%w: tensor %q has unknown dtype %q", ErrFormat, name, h.DType)
		}
		if len(h.DataOffsets) != 2 {
			return nil, fmt.Errorf("%w: tensor %q: data_offsets must have 2 entries", ErrFormat, name)
		}
		start, end := h.DataOffsets[0], h.DataOffsets[1]
		if start < 0 || end < start || end > int64(len(data)) {
			return nil, fmt.Errorf("%w: tensor %q: byte range [%d,%d) outside the %d data bytes; the file may be truncated", ErrFormat, name, start, end, len(data))
		}
		count := int64(1)
		shape := make([]int, len(h.Shape))
		for i, d := range h.Shape {
			if d < 0 || (d > 0 && count > math.MaxInt32*int64(64)/d) {
				return nil, fmt.Errorf("%w: tensor %q: bad shape %v", ErrFormat, name, h.Shape)
			}
			count *= d
			shape[i] = int(d)
		}
		if count*int64(size) != end-start {
			return nil, fmt.Errorf("%w: tensor %q: shape %v of %s needs %d bytes but the range holds %d", ErrFormat, name, h.Shape, h.DType, count*int64(size), end-start)
		}
		f.Tensors[name] = &Tensor{DType: h.DType, Shape: shape, Raw: data[start:end:end]}
		spans = append(spans, span{name, start, end})
	}
	sort.Slice(spans, func(i, j int) bool {
		if spans[i].start != spans[j].start {
			return spans[i].start < spans[j].start
		}
		return spans[i].name < spans[j].name
	})
	for i, s := range spans {
		if i > 0 && s.start < spans[i-1].end {
			return nil, fmt.Errorf("%w: tensors %q and %q overlap", ErrFormat, spans[i-1].name, s.name)
		}
		f.order = append(f.order, s.name)
	}
	return f, nil
}

// Float32 converts a tensor of any floating or integer dtype to float32 values.
func (t *Tensor) Float32() ([]float32, error) {
	n := len(t.Raw) / max(1, dtypeSize[t.DType])
	out := make([]float32, n)
	r := t.Raw
	le := binary.LittleEndian
	switch t.DType {
	case "F32":
		for i := range out {
			out[i] = math.Float32frombits(le.Uint32(r[4*i:]))
		}
	case "F64":
		for i := range out {
			out[i] = float32(math.Float64frombits(le.Uint64(r[8*i:])))
		}
	case "F16":
		for i := range out {
			out[i] = HalfToFloat32(le.Uint16(r[2*i:]))
		}
	case "BF16":
		for i := range out {
			out[i] = math.Float32frombits(uint32(le.Uint16(r[2*i:])) << 16)
		}
	case "I64":
		for i := range out {
			out[i] = float32(int64(le.Uint64(r[8*i:])))
		}
	case "I32":
		for i := range out {
			out[i] = float32(int32(le.Uint32(r[4*i:])))
		}
	case "I16":
		for i := range out {
			out[i] = float32(int16(le.Uint16(r[2*i:])))
		}
	case "I8":
		for i := range out {
			out[i] = float32(int8(r[i]))
		}
	case "U8", "BOOL":
		for i := range out {
			out[i] = float32(r[i])
		}
	default:
		return nil, fmt.Errorf("safetensors: cannot convert dtype %s to float32", t.DType)
	}
	return out, nil
}

// Float64 converts a tensor to float64 values (exact for F64, F32, F16 and integers up to 2^53).
func (t *Tensor) Float64() ([]float64, error) {
	le := binary.LittleEndian
	switch t.DType {
	case "F64":
		out := make([]float64, len(t.Raw)/8)
		for i := range out {
			out[i] = math.Float64frombits(le.Uint64(t.Raw[8*i:]))
		}
		return out, nil
	case "I64":
		out := make([]float64, len(t.Raw)/8)
		for i := range out {
			out[i] = float64(int64(le.Uint64(t.Raw[8*i:])))
		}
		return out, nil
	}
	f, err := t.Float32()
	if err != nil {
		return nil, err
	}
	out := make([]float64, len(f))
	for i, v := range f {
		out[i] = float64(v)
	}
	return out, nil
}

// Tensor converts to a float32 tensor.Tensor.
func (t *Tensor) Tensor() (*tensor.Tensor, error) {
	d, err := t.Float32()
	if err != nil {
		return nil, err
	}
	return &tensor.Tensor{Shape: append([]int(nil), t.Shape...), Data: d}, nil
}

// HalfToFloat32 converts an IEEE 754 binary16 value to float32.
func HalfToFloat32(h uint16) float32 {
	sign := uint32(h>>15) << 31
	exp := uint32(h>>10) & 0x1f
	frac := uint32(h) & 0x3ff
	switch {
	case exp == 0 && frac == 0:
		return math.Float32frombits(sign)
	case exp == 0: // subnormal
		e := uint32(127 - 15 + 1)
		for frac&0x400 == 0 {
			frac <<= 1
			e--
		}
		frac &= 0x3ff
		return math.Float32frombits(sign | e<<23 | frac<<13)
	case exp == 0x1f:
		return math.Float32frombits(sign | 0xff<<23 | frac<<13)
	}
	return math.Float32frombits(sign | (exp+127-15)<<23 | frac<<13)
}

// Float32ToHalf converts float32 to binary16 with round-to-nearest-even.
func Float32ToHalf(f float32) uint16 {
	b := math.Float32bits(f)
	sign := uint16(b>>16) & 0x8000
	exp := int32(b>>23&0xff) - 127 + 15
	frac := b & 0x7fffff
	if b>>23&0xff == 0xff { // Inf or NaN
		if frac != 0 {
			return sign | 0x7e00
		}
		return sign | 0x7c00
	}
	if exp >= 0x1f {
		return sign | 0x7c00
	}
	if exp <= 0 {
		if exp < -10 {
			return sign
		}
		frac |= 0x800000
		shift := uint32(14 - exp)
		half := uint32(1) << (shift - 1)
		r := frac >> shift
		rem := frac & (1<<shift - 1)
		if rem > half || (rem == half && r&1 == 1) {
			r++
		}
		return sign | uint16(r)
	}
	r := uint32(exp)<<10 | frac>>13
	rem := frac & 0x1fff
	if rem > 0x1000 || (rem == 0x1000 && r&1 == 1) {
		r++ // may carry into the exponent, which is the correct rounding
	}
	return sign | uint16(r)
}

// Entry is a tensor to write.
type Entry struct {
	Name  string
	DType string // "F32" or "F16"
	Shape []int
	Data  []float32
}

// Write encodes entries (in the given order) and metadata to w.
func Write(w io.Writer, entries []Entry, metadata map[string]string) error {
	header := map[string]any{}
	if len(metadata) > 0 {
		header["__metadata__"] = metadata
	}
	var off int64
	for _, e := range entries {
		size := dtypeSize[e.DType]
		if e.DType != "F32" && e.DType != "F16" {
			return fmt.Errorf("safetensors: write %q: dtype %q not supported (use F32 or F16)", e.Name, e.DType)
		}
		if tensor.NumElements(e.Shape) != len(e.Data) {
			return fmt.Errorf("safetensors: write %q: shape %v holds %d values, got %d", e.Name, e.Shape, tensor.NumElements(e.Shape), len(e.Data))
		}
		if _, dup := header[e.Name]; dup || e.Name == "" {
			return fmt.Errorf("safetensors: write: duplicate or empty tensor name %q", e.Name)
		}
		n := int64(len(e.Data) * size)
		shape := e.Shape
		if shape == nil {
			shape = []int{}
		}
		header[e.Name] = map[string]any{"dtype": e.DType, "shape": shape, "data_offsets": []int64{off, off + n}}
		off += n
	}
	hj, err := json.Marshal(header)
	if err != nil {
		return err
	}
	for len(hj)%8 != 0 {
		hj = append(hj, ' ')
	}
	var lenb [8]byte
	binary.LittleEndian.PutUint64(lenb[:], uint64(len(hj)))
	if _, err := w.Write(lenb[:]); err != nil {
		return err
	}
	if _, err := w.Write(hj); err != nil {
		return err
	}
	buf := make([]byte, 0, 1<<16)
	for _, e := range entries {
		for _, v := range e.Data {
			if e.DType == "F32" {
				buf = binary.LittleEndian.AppendUint32(buf, math.Float32bits(v))
			} else {
				buf = binary.LittleEndian.AppendUint16(buf, Float32ToHalf(v))
			}
			if len(buf) >= 1<<16-8 {
				if _, err := w.Write(buf); err != nil {
					return err
				}
				buf = buf[:0]
			}
		}
	}
	_, err = w.Write(buf)
	return err
}

// WriteFile writes entries atomically: to a temporary file in the same
// directory, synced, then renamed over path.
func WriteFile(path string, entries []Entry, metadata map[string]string) error {
	return WriteAtomic(path, func(w io.Writer) error { return Write(w, entries, metadata) })
}

// WriteAtomic creates path by writing to a temporary file in the same
// directory and renaming it into place only when fill succeeds.
func WriteAtomic(path string, fill func(w io.Writer) error) (err error) {
	dir := filepath.Dir(path)
	tmp, err := os.CreateTemp(dir, "."+filepath.Base(path)+".tmp-*")
	if err != nil {
		return fmt.Errorf("create temporary file beside %s: %w", path, err)
	}
	defer func() {
		if err != nil {
			tmp.Close()
			os.Remove(tmp.Name())
		}
	}()
	if err = fill(tmp); err != nil {
		return fmt.Errorf("write %s: %w", path, err)
	}
	if err = tmp.Chmod(0o644); err != nil {
		return fmt.Errorf("chmod %s: %w", path, err)
	}
	if err = tmp.Sync(); err != nil {
		return fmt.Errorf("sync %s: %w", path, err)
	}
	if err = tmp.Close(); err != nil {
		return fmt.Errorf("close %s: %w", path, err)
	}
	if err = os.Rename(tmp.Name(), path); err != nil {
		return fmt.Errorf("rename into %s: %w", path, err)
	}
	return nil
}
