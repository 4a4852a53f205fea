// Package pth reads PyTorch checkpoints written by torch.save in the zip
// format (torch ≥ 1.6), such as the DINOv2 torch.hub weights
// (dinov2_vitl14_pretrain.pth) and DINO-Tracker's per-video checkpoints.
//
// Such a file is a zip archive with one top-level folder <folder>/ holding
// data.pkl (the pickled object), data/<key> (one raw little-endian storage per
// key), version and, in newer files, byteorder. The pickle is run by a
// restricted unpickler that never executes anything: GLOBAL may only name
// collections.OrderedDict, torch._utils._rebuild_tensor(_v2),
// torch._utils._rebuild_parameter(_with_state) and the torch.*Storage classes
// (Float, Double, Half, BFloat16, Long, Int, Short, Char, Byte, Bool). Any
// other global, including os.system or torch.storage._load_from_bytes, fails
// with an error wrapping ErrForbiddenGlobal that names it. The legacy
// (pre-1.6, non-zip) format is not supported.
//
// # Result
//
// The pickled object is flattened into a map from dotted key to tensor:
// dict and OrderedDict keys (strings, or ints written in decimal) and list or
// tuple indices are joined with ".". A plain state dict therefore keeps its
// own keys ("blocks.0.attn.qkv.weight"), while {"model": {...}} or
// {"state_dict": {...}} gives "model.blocks.0…" / "state_dict.blocks.0…"; use
// StripPrefix to remove such a wrapper. A bare tensor saved on its own gets the
// empty key "". Non-tensor leaves (ints, floats, strings, None, …) and dict
// attributes such as OrderedDict._metadata are not returned as tensors but
// listed in Checkpoint.Skipped.
//
// Every tensor is materialised as a contiguous row-major float32
// tensor.Tensor, honouring the storage offset, sizes and strides. float32 is
// copied bit-for-bit; float16, bfloat16 and float64 are converted (float64 is
// rounded to nearest); integer and bool tensors are converted to float32 too
// (exact up to 2^24 in magnitude) and their original dtype is kept in
// Checkpoint.DTypes. Two keys that refer to the same tensor object share one
// *tensor.Tensor.
//
// # Limits
//
// Sizes are validated before anything is allocated: a storage's numel times
// its element size must fit in its zip entry, every view must lie inside its
// storage, and a view may not hold more elements than its storage (overlapping
// views such as expand() results are accepted only up to MaxExpandedElements).
// Malformed input gives an error wrapping ErrFormat, never a panic.
package pth

import (
	"archive/zip"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"math"
	"os"
	"sort"
	"strconv"
	"strings"

	"dinotracker/safetensors"
	"dinotracker/tensor"
)

var (
	// ErrFormat is wrapped by every error about a malformed or unsupported file.
	ErrFormat = errors.New("pth: malformed or unsupported checkpoint")
	// ErrForbiddenGlobal is wrapped (together with ErrFormat) by the error for
	// a pickle GLOBAL outside the allowlist; the error text names the global
	// (e.g. "os.system").
	ErrForbiddenGlobal = errors.New("forbidden pickle global")
)

const (
	// MaxPickleSize bounds data.pkl (256 MiB; real state dicts need a few MiB).
	MaxPickleSize = 256 << 20
	// MaxExpandedElements is the largest element count accepted for a view
	// that holds more elements than its storage (stride-0 or overlapping views).
	MaxExpandedElements = 1 << 20
	// MaxStorageBytes bounds one storage (1 TiB); larger sizes are rejected
	// as absurd before any arithmetic could overflow.
	MaxStorageBytes = 1 << 40
)

// Skipped describes a non-tensor entry of the checkpoint.
type Skipped struct {
	Key  string // dotted key, as tensors are named
	Type string // Python type ("int", "float", "str", "None", "dict attribute", …)
}

// Checkpoint is a loaded torch.save file.
type Checkpoint struct {
	// Tensors maps dotted keys to contiguous float32 tensors.
	Tensors map[string]*tensor.Tensor
	// DTypes maps the same keys to the stored torch dtype ("float32",
	// "float16", "bfloat16", "float64", "int64", "int32", "int16", "int8",
	// "uint8", "bool").
	DTypes map[string]string
	// Skipped lists the non-tensor leaves, sorted by key.
	Skipped []Skipped
	// Folder is the archive's top-level folder (e.g. "archive").
	Folder string
	// Version is the content of <folder>/version ("" when absent).
	Version string
	// BigEndian reports a <folder>/byteorder of "big".
	BigEndian bool
}

// ReadFile loads the tensors of a torch.save checkpoint file.
func ReadFile(path string) (map[string]*tensor.Tensor, error) {
	c, err := LoadFile(path)
	if err != nil {
		return nil, err
	}
	return c.Tensors, nil
}

// Read loads the tensors of a torch.save checkpoint of the given size.
func Read(r io.ReaderAt, size int64) (map[string]*tensor.Tensor, error) {
	c, err := Load(r, size)
	if err != nil {
		return nil, err
	}
	return c.Tensors, nil
}

// LoadFile is Load on a file. Storages are read one at a time, so the peak
// memory is the float32 tensors plus one raw storage.
func LoadFile(path string) (*Checkpoint, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, fmt.Errorf("pth: %w", err)
	}
	defer f.Close()
	st, err := f.Stat()
	if err != nil {
		return nil, fmt.Errorf("pth: %w", err)
	}
	c, err := Load(f, st.Size())
	if err != nil {
		return nil, fmt.Errorf("%s: %w", path, err)
	}
	return c, nil
}

// Load reads a torch.save zip checkpoint of the given size from r: tensors,
// their dtypes and the skipped non-tensor entries.
func Load(r io.ReaderAt, size int64) (*Checkpoint, error) {
	var magic [4]byte
	if size < 4 {
		return nil, fmt.Errorf("%w: %d bytes is too short for a zip archive", ErrFormat, size)
	}
	if _, err := r.ReadAt(magic[:], 0); err != nil {
		return nil, fmt.Errorf("%w: %v", ErrFormat, err)
	}
	if string(magic[:]) != "PK\x03\x04" {
		if magic[0] == 0x80 {
			return nil, fmt.Errorf("%w: legacy (pre-1.6, non-zip) torch.save format; re-save with torch.save(..., _use_new_zipfile_serialization=True)", ErrFormat)
		}
		return nil, fmt.Errorf("%w: not a zip archive (torch.save zip format expected)", ErrFormat)
	}
	zr, err := zip.NewReader(r, size)
	if err != nil && !errors.Is(err, zip.ErrInsecurePath) {
		return nil, fmt.Errorf("%w: zip: %v (the file may be truncated)", ErrFormat, err)
	}
	files := map[string]*zip.File{}
	var pkl []string
	for _, f := range zr.File {
		if _, dup := files[f.Name]; dup {
			return nil, fmt.Errorf("%w: duplicate zip entry %q", ErrFormat, f.Name)
		}
		files[f.Name] = f
		if dir, ok := strings.CutSuffix(f.Name, "/data.pkl"); ok && dir != "" && !strings.Contains(dir, "/") {
			pkl = append(pkl, dir)
		}
	}
	if len(pkl) != 1 {
		return nil, fmt.Errorf("%w: expected exactly one <folder>/data.pkl entry, found %d", ErrFormat, len(pkl))
	}
	c := &Checkpoint{Folder: pkl[0], Tensors: map[string]*tensor.Tensor{}, DTypes: map[string]string{}}
	prefix := c.Folder + "/"
	if f := files[prefix+"version"]; f != nil {
		b, err := readEntry(f, 64, size)
		if err != nil {
			return nil, err
		}
		c.Version = strings.TrimSpace(string(b))
	}
	if f := files[prefix+"byteorder"]; f != nil {
		b, err := readEntry(f, 64, size)
		if err != nil {
			return nil, err
		}
		switch s := strings.TrimSpace(string(b)); s {
		case "little":
		case "big":
			c.BigEndian = true
		default:
			return nil, fmt.Errorf("%w: byteorder %q", ErrFormat, s)
		}
	}
	data, err := readEntry(files[prefix+"data.pkl"], MaxPickleSize, size)
	if err != nil {
		return nil, err
	}
	root, _, err := unpickle(data)
	if err != nil {
		return nil, err
	}
	refs, skipped, err := flatten(root)
	if err != nil {
		return nil, err
	}
	c.Skipped = skipped

	// Validate every view and its storage before reading anything.
	type job struct {
		ref  *tensorRef
		keys []string
	}
	byStorage := map[string][]*job{}
	jobOf := map[*tensorRef]*job{}
	viewElems := map[string]int64{} // per storage
	keys := make([]string, 0, len(refs))
	for k := range refs {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	for _, k := range keys {
		t := refs[k]
		if j := jobOf[t]; j != nil {
			j.keys = append(j.keys, k)
			continue
		}
		st := t.st
		f := files[prefix+"data/"+st.key]
		if f == nil {
			return nil, fmt.Errorf("%w: tensor %q: storage entry %sdata/%s is missing", ErrFormat, k, prefix, st.key)
		}
		if _, seen := viewElems[st.key]; !seen {
			viewElems[st.key] = 0
			if st.numel > MaxStorageBytes/int64(st.dt.size) || uint64(st.numel*int64(st.dt.size)) > f.UncompressedSize64 {
				return nil, fmt.Errorf("%w: storage %s declares %d %s elements but its entry holds %d bytes", ErrFormat, st.key, st.numel, st.dt.name, f.UncompressedSize64)
			}
		}
		n, err := checkView(t)
		if err != nil {
			return nil, fmt.Errorf("%w: tensor %q: %v", ErrFormat, k, err)
		}
		// Views of one storage may overlap (a tensor saved next to its
		// transpose, say) but not without bound.
		if viewElems[st.key] += n; viewElems[st.key] > 2*st.numel+4*MaxExpandedElements {
			return nil, fmt.Errorf("%w: the views of storage %s hold %d elements in all, far more than the storage (%d)", ErrFormat, st.key, viewElems[st.key], st.numel)
		}
		j := &job{ref: t, keys: []string{k}}
		jobOf[t] = j
		byStorage[st.key] = append(byStorage[st.key], j)
	}
	skeys := make([]string, 0, len(byStorage))
	for k := range byStorage {
		skeys = append(skeys, k)
	}
	sort.Strings(skeys)
	for _, sk := range skeys {
		jobs := byStorage[sk]
		st := jobs[0].ref.st
		need := st.numel * int64(st.dt.size)
		raw, err := readEntry(files[prefix+"data/"+sk], need, size)
		if err != nil {
			return nil, err
		}
		if int64(len(raw)) != need {
			return nil, fmt.Errorf("%w: storage %s: read %d bytes, want %d (truncated?)", ErrFormat, sk, len(raw), need)
		}
		if c.BigEndian {
			swapBytes(raw, st.dt.size)
		}
		for _, j := range jobs {
			t := materialise(j.ref, raw)
			for _, k := range j.keys {
				c.Tensors[k] = t
				c.DTypes[k] = st.dt.name
			}
		}
	}
	return c, nil
}

// StripPrefix returns the tensors whose key starts with prefix+".", with that
// prefix removed (e.g. StripPrefix(m, "state_dict") or "model").
func StripPrefix(m map[string]*tensor.Tensor, prefix string) map[string]*tensor.Tensor {
	out := map[string]*tensor.Tensor{}
	for k, v := range m {
		if rest, ok := strings.CutPrefix(k, prefix+"."); ok {
			out[rest] = v
		}
	}
	return out
}

// readEntry reads at most limit bytes of a zip entry. For stored entries the
// size is checked against the archive first; compressed entries are read
// incrementally so that a lying header cannot force a large allocation.
func readEntry(f *zip.File, limit, archiveSize int64) ([]byte, error) {
	want := limit
	if f.UncompressedSize64 < uint64(limit) {
		want = int64(f.UncompressedSize64)
	}
	rc, err := f.Open()
	if err != nil {
		return nil, fmt.Errorf("%w: zip entry %s: %v", ErrFormat, f.Name, err)
	}
	defer rc.Close()
	if f.Method == zip.Store {
		off, err := f.DataOffset()
		if err != nil || f.CompressedSize64 != f.UncompressedSize64 || off < 0 || off > archiveSize || int64(f.CompressedSize64) > archiveSize-off {
			return nil, fmt.Errorf("%w: zip entry %s extends past the end of the file (truncated?)", ErrFormat, f.Name)
		}
		b := make([]byte, want)
		if _, err := io.ReadFull(rc, b); err != nil {
			return nil, fmt.Errorf("%w: zip entry %s: %v", ErrFormat, f.Name, err)
		}
		return b, nil
	}
	b, err := io.ReadAll(io.LimitReader(rc, want))
	if err != nil {
		return nil, fmt.Errorf("%w: zip entry %s: %v", ErrFormat, f.Name, err)
	}
	return b, nil
}

// checkView validates a strided view against its storage and returns its
// element count.
func checkView(t *tensorRef) (int64, error) {
	n := int64(1)
	maxIdx := t.offset
	for i, s := range t.size {
		if s != 0 && n > math.MaxInt64/s {
			return 0, fmt.Errorf("size %v overflows", t.size)
		}
		n *= s
		if s > 0 {
			step := t.stride[i]
			if step != 0 && s-1 > (math.MaxInt64-maxIdx)/step {
				return 0, fmt.Errorf("size %v with stride %v overflows", t.size, t.stride)
			}
			maxIdx += (s - 1) * step
		}
	}
	if n == 0 {
		if t.offset > t.st.numel {
			return 0, fmt.Errorf("storage offset %d beyond storage of %d elements", t.offset, t.st.numel)
		}
		return 0, nil
	}
	if maxIdx >= t.st.numel {
		return 0, fmt.Errorf("view (offset %d, size %v, stride %v) reaches element %d of a storage of %d elements", t.offset, t.size, t.stride, maxIdx, t.st.numel)
	}
	if n > t.st.numel && n > MaxExpandedElements {
		return 0, fmt.Errorf("view of size %v holds %d elements, more than its storage (%d); overlapping views that large are not supported", t.size, n, t.st.numel)
	}
	if n > math.MaxInt {
		return 0, fmt.Errorf("size %v too large", t.size)
	}
	return n, nil
}

func swapBytes(b []byte, size int) {
	if size == 1 {
		return
	}
	for i := 0; i+size <= len(b); i += size {
		e := b[i : i+size]
		for l, r := 0, size-1; l < r; l, r = l+1, r-1 {
			e[l], e[r] = e[r], e[l]
		}
	}
}

// decoder returns element i of a little-endian storage as float32.
func decoder(name string) func(b []byte, i int64) float32 {
	le := binary.LittleEndian
	switch name {
	case "float32":
		return func(b []byte, i int64) float32 { return math.Float32frombits(le.Uint32(b[4*i:])) }
	case "float64":
		return func(b []byte, i int64) float32 { return float32(math.Float64frombits(le.Uint64(b[8*i:]))) }
	case "float16":
		return func(b []byte, i int64) float32 { return safetensors.HalfToFloat32(le.Uint16(b[2*i:])) }
	case "bfloat16":
		return func(b []byte, i int64) float32 { return math.Float32frombits(uint32(le.Uint16(b[2*i:])) << 16) }
	case "int64":
		return func(b []byte, i int64) float32 { return float32(int64(le.Uint64(b[8*i:]))) }
	case "int32":
		return func(b []byte, i int64) float32 { return float32(int32(le.Uint32(b[4*i:]))) }
	case "int16":
		return func(b []byte, i int64) float32 { return float32(int16(le.Uint16(b[2*i:]))) }
	case "int8":
		return func(b []byte, i int64) float32 { return float32(int8(b[i])) }
	}
	return func(b []byte, i int64) float32 { return float32(b[i]) } // uint8, bool
}

// materialise copies a validated view out of its raw storage into a
// contiguous row-major float32 tensor.
func materialise(t *tensorRef, raw []byte) *tensor.Tensor {
	shape := make([]int, len(t.size))
	n := 1
	for i, s := range t.size {
		shape[i] = int(s)
		n *= int(s)
	}
	out := &tensor.Tensor{Shape: shape, Data: make([]float32, n)}
	if n == 0 {
		return out
	}
	dec := decoder(t.st.dt.name)
	// Contiguous fast path: strides are row-major (dims of size 1 ignored).
	contiguous := true
	want := int64(1)
	for i := len(t.size) - 1; i >= 0; i-- {
		if t.size[i] != 1 && t.stride[i] != want {
			contiguous = false
			break
		}
		want *= t.size[i]
	}
	if contiguous {
		if t.st.dt.name == "float32" {
			b := raw[4*t.offset:]
			for i := range out.Data {
				out.Data[i] = math.Float32frombits(binary.LittleEndian.Uint32(b[4*i:]))
			}
			return out
		}
		for i := range out.Data {
			out.Data[i] = dec(raw, t.offset+int64(i))
		}
		return out
	}
	nd := len(t.size)
	idx := make([]int64, nd)
	last := nd - 1
	inner, innerStride := t.size[last], t.stride[last]
	base := t.offset
	for o := 0; o < n; {
		p := base
		for k := int64(0); k < inner; k++ {
			out.Data[o] = dec(raw, p)
			o++
			p += innerStride
		}
		// Advance the odometer over the outer dimensions.
		for d := last - 1; d >= 0; d-- {
			idx[d]++
			base += t.stride[d]
			if idx[d] < t.size[d] {
				break
			}
			base -= idx[d] * t.stride[d]
			idx[d] = 0
		}
	}
	return out
}

// flatten walks the unpickled object and returns its tensors by dotted key
// and its non-tensor leaves. Each container is visited once: a cycle or a
// second reference to the same container is an error-free skip.
func flatten(root any) (map[string]*tensorRef, []Skipped, error) {
	refs := map[string]*tensorRef{}
	var skipped []Skipped
	visited := map[any]bool{}
	join := func(prefix, k string) string {
		if prefix == "" {
			return k
		}
		return prefix + "." + k
	}
	type item struct {
		key string
		v   any
	}
	work := []item{{"", root}}
	for len(work) > 0 {
		it := work[len(work)-1]
		work = work[:len(work)-1]
		var children []item
		switch v := it.v.(type) {
		case *tensorRef:
			if _, dup := refs[it.key]; dup {
				return nil, nil, fmt.Errorf("%w: two tensors flatten to the key %q", ErrFormat, it.key)
			}
			refs[it.key] = v
			continue
		case *pyDict, *pyList, *pyTuple:
			if visited[v] {
				skipped = append(skipped, Skipped{it.key, "repeated reference to a " + typeName(v)})
				continue
			}
			visited[v] = true
		default:
			skipped = append(skipped, Skipped{it.key, typeName(v)})
			continue
		}
		switch v := it.v.(type) {
		case *pyDict:
			for i, k := range v.keys {
				var ks string
				switch kk := k.(type) {
				case string:
					ks = kk
				case int64:
					ks = strconv.FormatInt(kk, 10)
				case bool:
					ks = strings.ToUpper(strconv.FormatBool(kk)[:1]) + strconv.FormatBool(kk)[1:]
				default:
					skipped = append(skipped, Skipped{join(it.key, "<"+typeName(k)+" key>"), typeName(v.vals[i]) + " under a " + typeName(k) + " key"})
					continue
				}
				children = append(children, item{join(it.key, ks), v.vals[i]})
			}
			for _, a := range v.attrs {
				skipped = append(skipped, Skipped{join(it.key, a), "dict attribute"})
			}
		case *pyList:
			for i, x := range v.items {
				children = append(children, item{join(it.key, strconv.Itoa(i)), x})
			}
		case *pyTuple:
			for i, x := range v.items {
				children = append(children, item{join(it.key, strconv.Itoa(i)), x})
			}
		}
		for i := len(children) - 1; i >= 0; i-- {
			work = append(work, children[i])
		}
	}
	sort.SliceStable(skipped, func(i, j int) bool { return skipped[i].Key < skipped[j].Key })
	return refs, skipped, nil
}
