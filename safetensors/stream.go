package safetensors

import (
	"encoding/binary"
	"encoding/json"
	"fmt"
	"io"
	"math"
	"os"
	"path/filepath"

	"dinotracker/tensor"
)

// Header declares one tensor of a file written with Create.
type Header struct {
	Name  string
	DType string // "F32" or "F16"
	Shape []int
}

// Writer streams tensors into a new safetensors file without holding them
// in memory. The declared tensors are filled in order by WriteValues; Close
// checks that every value arrived, syncs and renames the temporary file into
// place, so a reader never sees a partial file.
type Writer struct {
	path    string
	tmp     *os.File
	headers []Header
	cur     int   // tensor being filled
	left    int64 // values still owed to the current tensor
	buf     []byte
	err     error
}

// Create starts writing a safetensors file at path (atomically: the data
// goes to a temporary file beside it until Close).
func Create(path string, headers []Header, metadata map[string]string) (*Writer, error) {
	h := map[string]any{}
	if len(metadata) > 0 {
		h["__metadata__"] = metadata
	}
	var off int64
	for _, e := range headers {
		if e.DType != "F32" && e.DType != "F16" {
			return nil, fmt.Errorf("safetensors: create %s: tensor %q: dtype %q not supported (use F32 or F16)", path, e.Name, e.DType)
		}
		if _, dup := h[e.Name]; dup || e.Name == "" || e.Name == "__metadata__" {
			return nil, fmt.Errorf("safetensors: create %s: duplicate or reserved tensor name %q", path, e.Name)
		}
		n := int64(tensor.NumElements(e.Shape)) * int64(dtypeSize[e.DType])
		shape := e.Shape
		if shape == nil {
			shape = []int{}
		}
		h[e.Name] = map[string]any{"dtype": e.DType, "shape": shape, "data_offsets": []int64{off, off + n}}
		off += n
	}
	hj, err := json.Marshal(h)
	if err != nil {
		return nil, err
	}
	for len(hj)%8 != 0 {
		hj = append(hj, ' ')
	}
	tmp, err := os.CreateTemp(filepath.Dir(path), "."+filepath.Base(path)+".tmp-*")
	if err != nil {
		return nil, fmt.Errorf("safetensors: create temporary file beside %s: %w", path, err)
	}
	w := &Writer{path: path, tmp: tmp, headers: headers, buf: make([]byte, 0, 1<<16)}
	var lenb [8]byte
	binary.LittleEndian.PutUint64(lenb[:], uint64(len(hj)))
	w.buf = append(append(w.buf, lenb[:]...), hj...)
	w.cur = -1
	w.advance()
	return w, nil
}

func (w *Writer) advance() {
	for w.left == 0 && w.cur+1 < len(w.headers) {
		w.cur++
		w.left = int64(tensor.NumElements(w.headers[w.cur].Shape))
	}
}

func (w *Writer) flush() {
	if w.err == nil && len(w.buf) > 0 {
		_, w.err = w.tmp.Write(w.buf)
	}
	w.buf = w.buf[:0]
}

// WriteValues appends values to the tensors in declaration order; a call may
// span several tensors or fill part of one.
func (w *Writer) WriteValues(vals []float32) error {
	if w.err != nil {
		return w.err
	}
	for len(vals) > 0 {
		if w.left == 0 {
			w.err = fmt.Errorf("safetensors: write %s: more values than the declared tensors hold", w.path)
			return w.err
		}
		n := int(min(int64(len(vals)), w.left))
		f16 := w.headers[w.cur].DType == "F16"
		for _, v := range vals[:n] {
			if f16 {
				w.buf = binary.LittleEndian.AppendUint16(w.buf, Float32ToHalf(v))
			} else {
				w.buf = binary.LittleEndian.AppendUint32(w.buf, math.Float32bits(v))
			}
			if len(w.buf) >= cap(w.buf)-8 {
				w.flush()
			}
		}
		vals = vals[n:]
		w.left -= int64(n)
		w.advance()
	}
	return w.err
}

// Close finishes the file: it fails (and removes the temporary file) unless
// every declared value was written.
func (w *Writer) Close() error {
	if w.tmp == nil {
		return w.err
	}
	if w.err == nil && (w.left != 0 || w.cur < len(w.headers)-1) {
		w.err = fmt.Errorf("safetensors: write %s: closed before all declared values were written", w.path)
	}
	w.flush()
	if w.err == nil {
		w.err = w.tmp.Chmod(0o644)
	}
	if w.err == nil {
		w.err = w.tmp.Sync()
	}
	cerr := w.tmp.Close()
	if w.err == nil {
		w.err = cerr
	}
	if w.err == nil {
		w.err = os.Rename(w.tmp.Name(), w.path)
	}
	if w.err != nil {
		os.Remove(w.tmp.Name())
	}
	w.tmp = nil
	return w.err
}

// Abort discards the file being written.
func (w *Writer) Abort() {
	if w.tmp != nil {
		w.tmp.Close()
		os.Remove(w.tmp.Name())
		w.tmp = nil
	}
	if w.err == nil {
		w.err = fmt.Errorf("safetensors: write %s: aborted", w.path)
	}
}

// Reader reads tensors from a safetensors file on demand, without loading
// the file: only the header is parsed by Open, and ReadRange fetches values.
type Reader struct {
	f        *os.File
	dataOff  int64
	Metadata map[string]string
	entries  map[string]entry
}

type entry struct {
	dtype      string
	shape      []int
	start, end int64
}

// Open parses the header of a safetensors file and checks that every tensor
// lies inside the file (a truncated file is reported, wrapping ErrFormat).
func Open(path string) (*Reader, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, fmt.Errorf("safetensors: %w", err)
	}
	r, err := openFile(f)
	if err != nil {
		f.Close()
		return nil, fmt.Errorf("%s: %w", path, err)
	}
	return r, nil
}

func openFile(f *os.File) (*Reader, error) {
	st, err := f.Stat()
	if err != nil {
		return nil, err
	}
	var lenb [8]byte
	if _, err := io.ReadFull(f, lenb[:]); err != nil {
		return nil, fmt.Errorf("%w: cannot read the header length: %v", ErrFormat, err)
	}
	n := binary.LittleEndian.Uint64(lenb[:])
	if n > MaxHeaderSize || int64(n) > st.Size()-8 {
		return nil, fmt.Errorf("%w: header length %d exceeds the file size %d; the file is truncated", ErrFormat, n, st.Size())
	}
	hb := make([]byte, n)
	if _, err := io.ReadFull(f, hb); err != nil {
		return nil, fmt.Errorf("%w: header: %v", ErrFormat, err)
	}
	// Reuse Parse's validation on the header with a virtual data section of
	// the file's real length.
	dataLen := st.Size() - 8 - int64(n)
	var raw map[string]json.RawMessage
	if err := json.Unmarshal(hb, &raw); err != nil {
		return nil, fmt.Errorf("%w: header JSON: %v", ErrFormat, err)
	}
	r := &Reader{f: f, dataOff: 8 + int64(n), entries: map[string]entry{}}
	for name, msg := range raw {
		if name == "__metadata__" {
			if err := json.Unmarshal(msg, &r.Metadata); err != nil {
				return nil, fmt.Errorf("%w: __metadata__: %v", ErrFormat, err)
			}
			continue
		}
		var h headerEntry
		if err := json.Unmarshal(msg, &h); err != nil {
			return nil, fmt.Errorf("%w: tensor %q: %v", ErrFormat, name, err)
		}
		size := dtypeSize[h.DType]
		if size == 0 || len(h.DataOffsets) != 2 {
			return nil, fmt.Errorf("%w: tensor %q: bad dtype or offsets", ErrFormat, name)
		}
		start, end := h.DataOffsets[0], h.DataOffsets[1]
		if start < 0 || end < start || end > dataLen {
			return nil, fmt.Errorf("%w: tensor %q: bytes [%d,%d) beyond the %d data bytes; the file is truncated", ErrFormat, name, start, end, dataLen)
		}
		count := int64(1)
		shape := make([]int, len(h.Shape))
		for i, d := range h.Shape {
			if d < 0 || (d > 0 && count > math.MaxInt64/8/d) {
				return nil, fmt.Errorf("%w: tensor %q: bad shape %v", ErrFormat, name, h.Shape)
			}
			count *= d
			shape[i] = int(d)
		}
		if count*int64(size) != end-start {
			return nil, fmt.Errorf("%w: tensor %q: shape %v does not match its %d bytes", ErrFormat, name, h.Shape, end-start)
		}
		r.entries[name] = entry{h.DType, shape, start, end}
	}
	return r, nil
}

// Shape returns a tensor's dtype and shape; ok is false when it is absent.
func (r *Reader) Shape(name string) (dtype string, shape []int, ok bool) {
	e, ok := r.entries[name]
	return e.dtype, append([]int(nil), e.shape...), ok
}

// ReadRange reads len(dst) values of an F32 or F16 tensor starting at
// element offset off (row-major) into dst.
func (r *Reader) ReadRange(name string, off int64, dst []float32) error {
	e, ok := r.entries[name]
	if !ok {
		return fmt.Errorf("safetensors: no tensor %q", name)
	}
	size := int64(dtypeSize[e.dtype])
	if e.dtype != "F32" && e.dtype != "F16" {
		return fmt.Errorf("safetensors: tensor %q is %s; ReadRange reads F32 or F16", name, e.dtype)
	}
	if off < 0 || e.start+(off+int64(len(dst)))*size > e.end {
		return fmt.Errorf("safetensors: range [%d,%d) outside tensor %q", off, off+int64(len(dst)), name)
	}
	b := make([]byte, int64(len(dst))*size)
	if _, err := r.f.ReadAt(b, r.dataOff+e.start+off*size); err != nil {
		return fmt.Errorf("safetensors: read %q: %w", name, err)
	}
	le := binary.LittleEndian
	if size == 4 {
		for i := range dst {
			dst[i] = math.Float32frombits(le.Uint32(b[4*i:]))
		}
	} else {
		for i := range dst {
			dst[i] = HalfToFloat32(le.Uint16(b[2*i:]))
		}
	}
	return nil
}

// Close closes the file.
func (r *Reader) Close() error { return r.f.Close() }
