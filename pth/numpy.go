package pth

// Restricted unpickling of plain Python data with numpy arrays, for dataset
// pickles such as TAP-Vid's (tapvid_davis.pkl) and DINO-Tracker's benchmark
// file. It reuses the opcode set, stack and memo machinery of the torch
// unpickler in pickle.go with its own allowlist; like it, it never executes
// anything.

import (
	"encoding/binary"
	"errors"
	"fmt"
	"math"
	"unicode/utf8"
)

// Array is a numpy ndarray read by UnpickleNumpy.
type Array struct {
	// Dtype is the element type: "bool", "int8", "uint8", "int16",
	// "uint16", "int32", "uint32", "int64", "uint64", "float16",
	// "float32", "float64", or "object".
	Dtype string
	// Shape is the array's shape; a 0-d array has an empty shape.
	Shape []int
	// Data holds the elements in C (row-major) order, little-endian,
	// Size()·ItemSize() bytes; nil for object arrays. It may share memory
	// with the pickle bytes given to UnpickleNumpy: arrays that were stored
	// C-ordered and little-endian are not copied.
	Data []byte
	// Objects holds the elements of an object array (Dtype "object") in C
	// order, as UnpickleNumpy values.
	Objects []any

	built bool
}

// Dict is a Python dict (or collections.OrderedDict) read by
// UnpickleNumpy, keys in insertion order.
type Dict struct {
	Keys, Values []any
}

// Len returns the number of entries.
func (d *Dict) Len() int { return len(d.Keys) }

// Get returns the value of the first key equal to key (for comparable keys:
// strings, ints, floats, bools) and whether there is one.
func (d *Dict) Get(key any) (any, bool) {
	for i, k := range d.Keys {
		if comparableKey(k) && k == key {
			return d.Values[i], true
		}
	}
	return nil, false
}

func comparableKey(k any) bool {
	switch k.(type) {
	case string, int64, float64, bool:
		return true
	}
	return false
}

// npDtype is a numpy.dtype under construction (REDUCE, then BUILD sets the
// byte order).
type npDtype struct {
	name      string // "float32", …, "object"
	size      int    // bytes per element (pointer size for object arrays)
	bigEndian bool
}

var npTypeCodes = map[string]npDtype{
	"b1": {"bool", 1, false},
	"i1": {"int8", 1, false}, "u1": {"uint8", 1, false},
	"i2": {"int16", 2, false}, "u2": {"uint16", 2, false},
	"i4": {"int32", 4, false}, "u4": {"uint32", 4, false},
	"i8": {"int64", 8, false}, "u8": {"uint64", 8, false},
	"f2": {"float16", 2, false}, "f4": {"float32", 4, false}, "f8": {"float64", 8, false},
	"O4": {"object", 4, false}, "O8": {"object", 8, false},
}

// npItemSize returns the element size of a dtype name (0 for object).
func npItemSize(name string) int {
	for _, d := range npTypeCodes {
		if d.name == name && name != "object" {
			return d.size
		}
	}
	return 0
}

// Allowlisted globals of UnpickleNumpy (numpy 1.x names, numpy 2.x's
// numpy._core, Python 2 and 3 builtins).
var npGlobals = map[string]string{
	"numpy.core.multiarray._reconstruct":  "reconstruct",
	"numpy._core.multiarray._reconstruct": "reconstruct",
	"numpy.core.multiarray.scalar":        "scalar",
	"numpy._core.multiarray.scalar":       "scalar",
	"numpy.core.numeric._frombuffer":      "frombuffer",
	"numpy._core.numeric._frombuffer":     "frombuffer",
	"numpy.ndarray":                       "ndarray",
	"numpy.dtype":                         "dtype",
	"_codecs.encode":                      "encode",
	"__builtin__.bytes":                   "bytes",
	"builtins.bytes":                      "bytes",
	"__builtin__.bytearray":               "bytearray",
	"builtins.bytearray":                  "bytearray",
	"collections.OrderedDict":             "ordereddict",
}

const (
	maxNpDims       = 32
	maxNpBytes      = 1 << 40
	maxConvertDepth = 10000
)

// errPickleFormat starts every UnpickleNumpy error; errors.Is matches it
// with ErrFormat.
var errPickleFormat error = pickleFormatError{}

type pickleFormatError struct{}

// Error describes the malformed pickle.
func (pickleFormatError) Error() string { return "pth: malformed or unsupported pickle" }

// Is makes errors.Is(err, ErrFormat) hold.
func (pickleFormatError) Is(target error) bool { return target == ErrFormat }

// errOutOfBand is returned for pickle protocol 5 out-of-band buffers.
var errOutOfBand = errors.New("pickle protocol 5 out-of-band buffers (NEXT_BUFFER/READONLY_BUFFER, written with a buffer_callback) are not supported; re-pickle without buffer_callback")

// UnpickleNumpy runs a pickle (protocols 2–5) of plain Python data and numpy
// arrays, such as the TAP-Vid dataset pickles, and returns the object left
// by STOP, as:
//
//	None → nil; bool, int (up to 64 bits) → int64, float → float64, str →
//	string, bytes and bytearray → []byte, list and tuple → []any, dict and
//	OrderedDict → *Dict, numpy.ndarray → *Array, numpy scalar → bool, int64
//	(uint64 for values above MaxInt64), or float64.
//
// Like the checkpoint reader it never executes anything: GLOBAL may only
// name numpy.core.multiarray._reconstruct and .scalar,
// numpy.core.numeric._frombuffer (numpy 2's numpy._core also), numpy.ndarray,
// numpy.dtype, _codecs.encode and bytes/bytearray (how protocol 2 stores
// bytes) and collections.OrderedDict; any other global fails with an error
// wrapping ErrForbiddenGlobal. Arrays of structured, string or complex
// dtypes, and protocol 5 out-of-band buffers, are rejected. Malformed input
// gives an error wrapping ErrFormat, never a panic.
//
// Strings, bytes and array data share memory with data where they can (see
// Array.Data); do not modify data while the result is in use.
func UnpickleNumpy(data []byte) (any, error) {
	u := &npUnpickler{unpickler: unpickler{data: data, memo: map[uint32]any{},
		d: dialect{global: npResolveGlobal, reduce: npReduce, build: npBuild, typeName: npTypeName, numpy: true}}}
	v, err := u.run()
	if err != nil {
		return nil, fmt.Errorf("%w: %w", errPickleFormat, err)
	}
	out, err := u.convert(v, 0)
	if err != nil {
		return nil, fmt.Errorf("%w: %w", errPickleFormat, err)
	}
	return out, nil
}

type npUnpickler struct {
	unpickler
	converted map[any]any // pointer value → converted value (nil while in progress)
}

func npResolveGlobal(module, name string) (*pyGlobal, error) {
	full := module + "." + name
	if _, ok := npGlobals[full]; ok {
		return &pyGlobal{module, name}, nil
	}
	return nil, fmt.Errorf("%w: %s", ErrForbiddenGlobal, full)
}

func npTypeName(v any) string {
	switch v.(type) {
	case *Array:
		return "numpy.ndarray"
	case *npDtype:
		return "numpy.dtype"
	}
	return typeName(v)
}

// npReduce applies an allowlisted callable.
func npReduce(fn, args any) (any, error) {
	g, ok := fn.(*pyGlobal)
	if !ok {
		return nil, fmt.Errorf("callable is %s, not an allowlisted global", npTypeName(fn))
	}
	a, ok := args.(*pyTuple)
	if !ok {
		return nil, fmt.Errorf("%s: arguments are %s, not a tuple", g, npTypeName(args))
	}
	nargs := func(lo, hi int) error {
		if len(a.items) < lo || len(a.items) > hi {
			return fmt.Errorf("%s: got %d arguments, want %d..%d", g, len(a.items), lo, hi)
		}
		return nil
	}
	switch npGlobals[g.String()] {
	case "reconstruct": // _reconstruct(ndarray, (0,), b'b'); BUILD follows
		if err := nargs(3, 3); err != nil {
			return nil, err
		}
		if c, ok := a.items[0].(*pyGlobal); !ok || npGlobals[c.String()] != "ndarray" {
			return nil, fmt.Errorf("%s: class is %s, not numpy.ndarray", g, npTypeName(a.items[0]))
		}
		return &Array{}, nil
	case "dtype": // dtype('f4', False, True); BUILD sets the byte order
		if err := nargs(1, 3); err != nil {
			return nil, err
		}
		code, ok := a.items[0].(string)
		if !ok {
			return nil, fmt.Errorf("%s: type code is %s, not a string", g, npTypeName(a.items[0]))
		}
		d, ok := npTypeCodes[code]
		if !ok {
			return nil, fmt.Errorf("numpy dtype %q is not supported (want bool, int, uint, float or object)", code)
		}
		return &d, nil
	case "scalar": // scalar(dtype, raw bytes) or scalar(object dtype, value)
		if err := nargs(1, 2); err != nil {
			return nil, err
		}
		d, ok := a.items[0].(*npDtype)
		if !ok {
			return nil, fmt.Errorf("%s: dtype is %s", g, npTypeName(a.items[0]))
		}
		if len(a.items) < 2 {
			return nil, fmt.Errorf("%s: no value", g)
		}
		if d.name == "object" {
			return a.items[1], nil
		}
		raw, err := rawBytes(a.items[1])
		if err != nil {
			return nil, fmt.Errorf("%s: %v", g, err)
		}
		if len(raw) != d.size {
			return nil, fmt.Errorf("%s: %d bytes for a %s", g, len(raw), d.name)
		}
		b := raw
		if d.bigEndian {
			b = swappedCopy(raw, d.size)
		}
		return scalarValue(d.name, b), nil
	case "frombuffer": // _frombuffer(buffer, dtype, shape, order), protocol 5
		if err := nargs(4, 4); err != nil {
			return nil, err
		}
		raw, err := rawBytes(a.items[0])
		if err != nil {
			return nil, fmt.Errorf("%s: %v", g, err)
		}
		d, ok := a.items[1].(*npDtype)
		if !ok {
			return nil, fmt.Errorf("%s: dtype is %s", g, npTypeName(a.items[1]))
		}
		order, _ := a.items[3].(string)
		if order != "C" && order != "F" {
			return nil, fmt.Errorf("%s: order %s, want 'C' or 'F'", g, describe(a.items[3]))
		}
		arr := &Array{}
		if err := arr.set(a.items[2], d, order == "F", raw); err != nil {
			return nil, err
		}
		return arr, nil
	case "encode": // _codecs.encode(str, 'latin1'): protocol 2's bytes
		if err := nargs(1, 2); err != nil {
			return nil, err
		}
		s, ok := a.items[0].(string)
		if !ok {
			return nil, fmt.Errorf("%s: argument is %s, not a str", g, npTypeName(a.items[0]))
		}
		if len(a.items) == 2 {
			enc, _ := a.items[1].(string)
			if enc != "latin1" && enc != "latin-1" && enc != "iso-8859-1" {
				return nil, fmt.Errorf("%s: encoding %s is not latin1", g, describe(a.items[1]))
			}
		}
		return latin1(s)
	case "bytes", "bytearray":
		if err := nargs(0, 2); err != nil {
			return nil, err
		}
		if len(a.items) == 0 {
			return []byte{}, nil
		}
		switch x := a.items[0].(type) {
		case []byte:
			return x, nil
		case string:
			return latin1(x)
		}
		return nil, fmt.Errorf("%s: argument is %s", g, npTypeName(a.items[0]))
	case "ordereddict":
		d := &pyDict{}
		switch len(a.items) {
		case 0:
		case 1:
			l, ok := a.items[0].(*pyList)
			if !ok {
				return nil, fmt.Errorf("%s: argument is %s, not a list of pairs", g, npTypeName(a.items[0]))
			}
			for _, it := range l.items {
				p, ok := it.(*pyTuple)
				if !ok || len(p.items) != 2 {
					return nil, fmt.Errorf("%s: item is %s, not a pair", g, npTypeName(it))
				}
				d.set(p.items[0], p.items[1])
			}
		default:
			return nil, fmt.Errorf("%s: %d arguments", g, len(a.items))
		}
		return d, nil
	}
	return nil, fmt.Errorf("%s is not callable here", g)
}

// latin1 converts a str holding code points 0–255 to bytes, as
// s.encode('latin1') does.
func latin1(s string) ([]byte, error) {
	out := make([]byte, 0, len(s))
	for i := 0; i < len(s); {
		r, n := utf8.DecodeRuneInString(s[i:])
		if r > 0xff || (r == utf8.RuneError && n == 1) {
			return nil, fmt.Errorf("character %U at byte %d is not latin1", r, i)
		}
		out = append(out, byte(r))
		i += n
	}
	return out, nil
}

func rawBytes(v any) ([]byte, error) {
	switch x := v.(type) {
	case []byte:
		return x, nil
	case string: // a Python 2 str
		return []byte(x), nil
	}
	return nil, fmt.Errorf("data is %s, not bytes", npTypeName(v))
}

// npBuild applies a BUILD state to a numpy object (or ignores a dict's
// instance attributes).
func npBuild(obj, state any) error {
	switch o := obj.(type) {
	case *npDtype:
		// (version, endian, subarray, names, fields, elsize, alignment, flags[, metadata])
		s, ok := state.(*pyTuple)
		if !ok || len(s.items) < 5 {
			return fmt.Errorf("numpy dtype state is %s, want a tuple of 8 or 9", npTypeName(state))
		}
		endian, ok := s.items[1].(string)
		if !ok {
			return fmt.Errorf("numpy dtype byte order is %s", npTypeName(s.items[1]))
		}
		switch endian {
		case "<", "|", "=":
			o.bigEndian = false
		case ">":
			o.bigEndian = true
		default:
			return fmt.Errorf("numpy dtype byte order %q", endian)
		}
		for _, it := range s.items[2:5] {
			if _, ok := it.(pyNone); !ok {
				return errors.New("structured and sub-array numpy dtypes are not supported")
			}
		}
		return nil
	case *Array:
		if o.built {
			return errors.New("numpy array state set twice")
		}
		// (version, shape, dtype, is_fortran, raw) or (shape, dtype, is_fortran, raw)
		s, ok := state.(*pyTuple)
		if !ok || (len(s.items) != 5 && len(s.items) != 4) {
			return fmt.Errorf("numpy array state is %s, want a tuple of 5", npTypeName(state))
		}
		it := s.items
		if len(it) == 5 {
			it = it[1:]
		}
		d, ok := it[1].(*npDtype)
		if !ok {
			return fmt.Errorf("numpy array dtype is %s", npTypeName(it[1]))
		}
		fortran, ok := it[2].(bool)
		if !ok {
			return fmt.Errorf("numpy array fortran flag is %s", npTypeName(it[2]))
		}
		if d.name == "object" {
			l, ok := it[3].(*pyList)
			if !ok {
				return fmt.Errorf("numpy object array data is %s, not a list", npTypeName(it[3]))
			}
			return o.setObjects(it[0], fortran, l.items)
		}
		raw, err := rawBytes(it[3])
		if err != nil {
			return fmt.Errorf("numpy array: %v", err)
		}
		return o.set(it[0], d, fortran, raw)
	case *pyDict:
		return nil
	}
	return fmt.Errorf("BUILD on %s is not supported", npTypeName(obj))
}

// shapeOf validates a shape tuple and returns it with its element count.
func shapeOf(v any) ([]int, int, error) {
	t, ok := v.(*pyTuple)
	if !ok {
		return nil, 0, fmt.Errorf("numpy array shape is %s, not a tuple", npTypeName(v))
	}
	if len(t.items) > maxNpDims {
		return nil, 0, fmt.Errorf("numpy array has %d dimensions (max %d)", len(t.items), maxNpDims)
	}
	shape := make([]int, len(t.items))
	n := int64(1)
	for i, it := range t.items {
		x, ok := it.(int64)
		if !ok || x < 0 || x > maxNpBytes {
			return nil, 0, fmt.Errorf("numpy array shape entry %d is %s", i, describe(it))
		}
		shape[i] = int(x)
		if x == 0 {
			n = 0
		} else if n != 0 {
			if n > maxNpBytes/x {
				return nil, 0, fmt.Errorf("numpy array of shape %v is too large", t.items)
			}
			n *= x
		}
	}
	return shape, int(n), nil
}

// set fills a numeric array from its raw bytes, converting to C order and
// little-endian where needed.
func (a *Array) set(shapeV any, d *npDtype, fortran bool, raw []byte) error {
	shape, n, err := shapeOf(shapeV)
	if err != nil {
		return err
	}
	if d.name == "object" {
		return errors.New("numpy object array given as raw bytes")
	}
	if want := int64(n) * int64(d.size); int64(len(raw)) != want {
		return fmt.Errorf("numpy %s array of shape %v needs %d bytes, has %d", d.name, shape, want, len(raw))
	}
	data := raw
	if d.bigEndian && d.size > 1 {
		data = swappedCopy(raw, d.size)
	}
	if fortran && len(shape) > 1 && n > 0 {
		data = fortranToC(data, shape, d.size)
	}
	a.Dtype, a.Shape, a.Data, a.built = d.name, shape, data[:len(data):len(data)], true
	return nil
}

func (a *Array) setObjects(shapeV any, fortran bool, items []any) error {
	shape, n, err := shapeOf(shapeV)
	if err != nil {
		return err
	}
	if len(items) != n {
		return fmt.Errorf("numpy object array of shape %v holds %d items", shape, len(items))
	}
	objs := append([]any(nil), items...)
	if fortran && len(shape) > 1 && n > 0 {
		perm := fortranIndex(shape)
		for c, f := range perm {
			objs[c] = items[f]
		}
	}
	a.Dtype, a.Shape, a.Objects, a.built = "object", shape, objs, true
	return nil
}

// swappedCopy returns a copy of b with the byte order of every size-byte
// element reversed.
func swappedCopy(b []byte, size int) []byte {
	out := append([]byte(nil), b...)
	swapBytes(out, size)
	return out
}

// fortranIndex returns, for each element in C order, its index in Fortran
// order.
func fortranIndex(shape []int) []int {
	n := 1
	for _, s := range shape {
		n *= s
	}
	nd := len(shape)
	fstride := make([]int, nd)
	st := 1
	for k := 0; k < nd; k++ {
		fstride[k] = st
		st *= shape[k]
	}
	idx := make([]int, nd)
	out := make([]int, n)
	f := 0
	for c := 0; c < n; c++ {
		out[c] = f
		for k := nd - 1; k >= 0; k-- { // odometer over the C order
			idx[k]++
			f += fstride[k]
			if idx[k] < shape[k] {
				break
			}
			f -= idx[k] * fstride[k]
			idx[k] = 0
		}
	}
	return out
}

func fortranToC(b []byte, shape []int, size int) []byte {
	out := make([]byte, len(b))
	for c, f := range fortranIndex(shape) {
		copy(out[c*size:(c+1)*size], b[f*size:(f+1)*size])
	}
	return out
}

// scalarValue decodes one little-endian element.
func scalarValue(name string, b []byte) any {
	le := binary.LittleEndian
	switch name {
	case "bool":
		return b[0] != 0
	case "int8":
		return int64(int8(b[0]))
	case "uint8":
		return int64(b[0])
	case "int16":
		return int64(int16(le.Uint16(b)))
	case "uint16":
		return int64(le.Uint16(b))
	case "int32":
		return int64(int32(le.Uint32(b)))
	case "uint32":
		return int64(le.Uint32(b))
	case "int64":
		return int64(le.Uint64(b))
	case "uint64":
		x := le.Uint64(b)
		if x > math.MaxInt64 {
			return x
		}
		return int64(x)
	case "float16":
		return float16(le.Uint16(b))
	case "float32":
		return float64(math.Float32frombits(le.Uint32(b)))
	case "float64":
		return math.Float64frombits(le.Uint64(b))
	}
	return nil
}

// float16 converts an IEEE half-precision value to float64.
func float16(h uint16) float64 {
	sign := 1.0
	if h&0x8000 != 0 {
		sign = -1
	}
	exp := int(h>>10) & 0x1f
	frac := float64(h & 0x3ff)
	switch exp {
	case 0:
		return sign * frac * math.Pow(2, -24)
	case 0x1f:
		if frac != 0 {
			return math.NaN()
		}
		return sign * math.Inf(1)
	}
	return sign * (1 + frac/1024) * math.Pow(2, float64(exp-15))
}

// Size returns the number of elements (the product of Shape).
func (a *Array) Size() int {
	n := 1
	for _, s := range a.Shape {
		n *= s
	}
	return n
}

// ItemSize returns the bytes per element (0 for object arrays).
func (a *Array) ItemSize() int { return npItemSize(a.Dtype) }

// Float64s returns the elements in C order as float64: numbers convert
// exactly (int64 and uint64 beyond 2^53 round), bools become 0 or 1. Object
// arrays convert element by element and fail on a non-number.
func (a *Array) Float64s() ([]float64, error) {
	n := a.Size()
	out := make([]float64, n)
	if a.Dtype == "object" {
		for i, o := range a.Objects {
			switch x := o.(type) {
			case float64:
				out[i] = x
			case int64:
				out[i] = float64(x)
			case uint64:
				out[i] = float64(x)
			case bool:
				if x {
					out[i] = 1
				}
			default:
				return nil, fmt.Errorf("pth: object array element %d is %s, not a number", i, describeValue(o))
			}
		}
		return out, nil
	}
	sz := a.ItemSize()
	if sz == 0 || len(a.Data) != n*sz {
		return nil, fmt.Errorf("pth: malformed %s array of shape %v (%d bytes)", a.Dtype, a.Shape, len(a.Data))
	}
	for i := range out {
		switch x := scalarValue(a.Dtype, a.Data[i*sz:(i+1)*sz]).(type) {
		case float64:
			out[i] = x
		case int64:
			out[i] = float64(x)
		case uint64:
			out[i] = float64(x)
		case bool:
			if x {
				out[i] = 1
			}
		}
	}
	return out, nil
}

// Bools returns the elements in C order as booleans: nonzero (or true) is
// true. Object arrays convert element by element and fail on a
// non-number.
func (a *Array) Bools() ([]bool, error) {
	if a.Dtype == "bool" || a.Dtype == "uint8" || a.Dtype == "int8" {
		n := a.Size()
		if len(a.Data) != n {
			return nil, fmt.Errorf("pth: malformed %s array of shape %v (%d bytes)", a.Dtype, a.Shape, len(a.Data))
		}
		out := make([]bool, n)
		for i, b := range a.Data {
			out[i] = b != 0
		}
		return out, nil
	}
	f, err := a.Float64s()
	if err != nil {
		return nil, err
	}
	out := make([]bool, len(f))
	for i, x := range f {
		out[i] = x != 0
	}
	return out, nil
}

func describeValue(v any) string {
	switch x := v.(type) {
	case nil:
		return "None"
	case []any:
		return "list"
	case *Dict:
		return "dict"
	case []byte:
		return "bytes"
	case *Array:
		return "numpy.ndarray"
	case string:
		return describe(x)
	}
	return fmt.Sprintf("%T", v)
}

// convert turns the unpickler's values into the exported representation.
// Shared objects are converted once (and stay shared); a self-containing
// object is an error.
func (u *npUnpickler) convert(v any, depth int) (any, error) {
	if depth > maxConvertDepth {
		return nil, fmt.Errorf("objects nested deeper than %d levels", maxConvertDepth)
	}
	switch x := v.(type) {
	case pyNone:
		return nil, nil
	case bool, int64, uint64, float64, string, []byte:
		return x, nil
	case *pyTuple, *pyList, *pyDict, *Array:
	default:
		return nil, fmt.Errorf("a %s is not data", npTypeName(v))
	}
	if u.converted == nil {
		u.converted = map[any]any{}
	}
	if c, ok := u.converted[v]; ok {
		if c == nil {
			return nil, fmt.Errorf("a %s contains itself", npTypeName(v))
		}
		return c, nil
	}
	u.converted[v] = nil
	var out any
	switch x := v.(type) {
	case *pyTuple:
		l, err := u.convertAll(x.items, depth)
		if err != nil {
			return nil, err
		}
		out = l
	case *pyList:
		l, err := u.convertAll(x.items, depth)
		if err != nil {
			return nil, err
		}
		out = l
	case *pyDict:
		keys, err := u.convertAll(x.keys, depth)
		if err != nil {
			return nil, err
		}
		vals, err := u.convertAll(x.vals, depth)
		if err != nil {
			return nil, err
		}
		out = &Dict{Keys: keys, Values: vals}
	case *Array:
		if !x.built {
			return nil, errors.New("numpy array without its state (no BUILD)")
		}
		if x.Dtype == "object" {
			objs, err := u.convertAll(x.Objects, depth)
			if err != nil {
				return nil, err
			}
			x.Objects = objs
		}
		out = x
	}
	u.converted[v] = out
	return out, nil
}

func (u *npUnpickler) convertAll(items []any, depth int) ([]any, error) {
	out := make([]any, len(items))
	for i, it := range items {
		c, err := u.convert(it, depth+1)
		if err != nil {
			return nil, err
		}
		out[i] = c
	}
	return out, nil
}
