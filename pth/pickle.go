package pth

import (
	"encoding/binary"
	"fmt"
	"math"
	"strconv"
)

// Values the restricted unpickler can produce. Nothing here ever runs code:
// every REDUCE is interpreted by this package against a fixed allowlist.
type (
	// pyNone is Python's None.
	pyNone struct{}
	// pyGlobal is an allowlisted global (a class or function reference).
	pyGlobal struct{ module, name string }
	// pyTuple is an immutable tuple. It is a pointer type so that shared
	// references can be recognised while flattening.
	pyTuple struct{ items []any }
	// pyList is a mutable list.
	pyList struct{ items []any }
	// pyDict is a dict or collections.OrderedDict, in insertion order.
	pyDict struct {
		keys, vals []any
		idx        map[any]int // string, int64 and bool keys only
		attrs      []string    // instance attributes set by BUILD (e.g. _metadata)
	}
	// storageRef is a persistent storage reference ('storage', type, key, location, numel).
	storageRef struct {
		dt       *dtypeInfo
		key      string
		location string
		numel    int64
	}
	// tensorRef is the result of _rebuild_tensor(_v2): a strided view of a storage.
	tensorRef struct {
		st     *storageRef
		offset int64
		size   []int64
		stride []int64
	}
)

// dtypeInfo describes a torch storage element type.
type dtypeInfo struct {
	storage string // torch storage class name, e.g. "FloatStorage"
	name    string // torch dtype name, e.g. "float32"
	size    int    // bytes per element
}

var storageTypes = map[string]*dtypeInfo{}

func init() {
	for _, d := range []*dtypeInfo{
		{"FloatStorage", "float32", 4},
		{"DoubleStorage", "float64", 8},
		{"HalfStorage", "float16", 2},
		{"BFloat16Storage", "bfloat16", 2},
		{"LongStorage", "int64", 8},
		{"IntStorage", "int32", 4},
		{"ShortStorage", "int16", 2},
		{"CharStorage", "int8", 1},
		{"ByteStorage", "uint8", 1},
		{"BoolStorage", "bool", 1},
	} {
		storageTypes[d.storage] = d
	}
}

// Allowlisted globals. Anything else fails with ErrForbiddenGlobal.
const (
	globOrderedDict        = "collections.OrderedDict"
	globRebuildTensor      = "torch._utils._rebuild_tensor"
	globRebuildTensorV2    = "torch._utils._rebuild_tensor_v2"
	globRebuildParam       = "torch._utils._rebuild_parameter"
	globRebuildParamWithSt = "torch._utils._rebuild_parameter_with_state"
	globLoadFromBytes      = "torch.storage._load_from_bytes"
	maxGlobalLen           = 256
	maxDims                = 64
	maxPickleOps           = 1 << 28
	maxMarkDepth           = 1 << 20
)

func resolveGlobal(module, name string) (*pyGlobal, error) {
	full := module + "." + name
	switch full {
	case globOrderedDict, globRebuildTensor, globRebuildTensorV2, globRebuildParam, globRebuildParamWithSt:
		return &pyGlobal{module, name}, nil
	case globLoadFromBytes:
		return nil, fmt.Errorf("%w: %s (a storage pickled by value, as legacy or torch.package archives do, is not supported; re-save the checkpoint with torch.save)", ErrForbiddenGlobal, full)
	}
	if module == "torch" {
		if _, ok := storageTypes[name]; ok {
			return &pyGlobal{module, name}, nil
		}
	}
	return nil, fmt.Errorf("%w: %s", ErrForbiddenGlobal, full)
}

// String gives the global as module.name.
func (g *pyGlobal) String() string { return g.module + "." + g.name }

// unpickler is a restricted pickle virtual machine for the opcodes that
// torch.save emits (protocol 2, plus the handful of protocol 3/4 opcodes a
// non-default pickle_protocol would add).
type unpickler struct {
	data     []byte
	pos      int
	stack    []any
	marks    []int
	memo     map[uint32]any
	storages map[string]*storageRef
	d        dialect
}

// dialect is what the checkpoint unpickler and UnpickleNumpy do differently
// on the one opcode loop (unpickler.run) they share.
type dialect struct {
	global   func(module, name string) (*pyGlobal, error) // allow-list of GLOBAL/STACK_GLOBAL
	reduce   func(fn, args any) (any, error)              // REDUCE of an allowed global
	build    func(obj, state any) error                   // BUILD
	typeName func(v any) string                           // for error messages
	// persistentLoad resolves BINPERSID; nil rejects the opcode.
	persistentLoad func(pid any) (any, error)
	// numpy accepts the opcodes of plain-data pickles (LIST, DICT,
	// BYTEARRAY8; protocol 5's out-of-band buffers are named in the error),
	// and lets bytes share memory with data instead of copying them.
	numpy bool
}

// numpyOnly reports the opcodes that only the numpy dialect accepts.
func numpyOnly(op byte) bool {
	switch op {
	case npOpList, npOpDict, npOpBytearray8, npOpNextBuffer, npOpReadonlyBuffer:
		return true
	}
	return false
}

// Opcodes that torch.save never writes and plain-data pickles may.
const (
	npOpList           = 'l'
	npOpDict           = 'd'
	npOpBytearray8     = 0x96
	npOpNextBuffer     = 0x97
	npOpReadonlyBuffer = 0x98
)

// unpickle runs a pickle and returns the object left by STOP, plus the
// storages referenced by persistent ids.
func unpickle(data []byte) (any, map[string]*storageRef, error) {
	u := &unpickler{data: data, memo: map[uint32]any{}, storages: map[string]*storageRef{}}
	u.d = dialect{global: resolveGlobal, reduce: u.reduce, build: build, typeName: typeName,
		persistentLoad: func(pid any) (any, error) { return u.persistentLoad(pid) }}
	v, err := u.run()
	if err != nil {
		return nil, nil, fmt.Errorf("%w: data.pkl: %w", ErrFormat, err)
	}
	return v, u.storages, nil
}

func (u *unpickler) errf(op byte, format string, args ...any) error {
	return fmt.Errorf("opcode %s at offset %d: %s", opName(op), u.pos, fmt.Sprintf(format, args...))
}

func (u *unpickler) read(n int) ([]byte, bool) {
	if n < 0 || n > len(u.data)-u.pos {
		return nil, false
	}
	b := u.data[u.pos : u.pos+n]
	u.pos += n
	return b, true
}

func (u *unpickler) readLine() (string, bool) {
	for i := u.pos; i < len(u.data) && i-u.pos <= maxGlobalLen; i++ {
		if u.data[i] == '\n' {
			s := string(u.data[u.pos:i])
			u.pos = i + 1
			return s, true
		}
	}
	return "", false
}

func (u *unpickler) push(v any) { u.stack = append(u.stack, v) }

// floor is the lowest stack index the current mark frame may pop.
func (u *unpickler) floor() int {
	if len(u.marks) == 0 {
		return 0
	}
	return u.marks[len(u.marks)-1]
}

func (u *unpickler) pop() (any, bool) {
	if len(u.stack) <= u.floor() {
		return nil, false
	}
	v := u.stack[len(u.stack)-1]
	u.stack = u.stack[:len(u.stack)-1]
	return v, true
}

func (u *unpickler) top() (any, bool) {
	if len(u.stack) <= u.floor() {
		return nil, false
	}
	return u.stack[len(u.stack)-1], true
}

// popMark pops everything above the last MARK and the mark itself.
func (u *unpickler) popMark() ([]any, bool) {
	if len(u.marks) == 0 {
		return nil, false
	}
	m := u.marks[len(u.marks)-1]
	u.marks = u.marks[:len(u.marks)-1]
	items := append([]any(nil), u.stack[m:]...)
	u.stack = u.stack[:m]
	return items, true
}

func (u *unpickler) run() (any, error) {
	le := binary.LittleEndian
	for ops := 0; ; ops++ {
		if ops > maxPickleOps {
			return nil, fmt.Errorf("more than %d opcodes", maxPickleOps)
		}
		if u.pos >= len(u.data) {
			return nil, fmt.Errorf("pickle truncated at offset %d (no STOP opcode)", u.pos)
		}
		op := u.data[u.pos]
		u.pos++
		short := func() error { return u.errf(op, "argument truncated") }
		underflow := func() error { return u.errf(op, "stack underflow") }
		if !u.d.numpy && numpyOnly(op) {
			return nil, fmt.Errorf("unsupported pickle opcode %s at offset %d", opName(op), u.pos-1)
		}
		switch op {
		case opProto:
			b, ok := u.read(1)
			if !ok {
				return nil, short()
			}
			if b[0] > 5 {
				return nil, u.errf(op, "unsupported pickle protocol %d", b[0])
			}
		case opFrame:
			if _, ok := u.read(8); !ok {
				return nil, short()
			}
		case opStop:
			v, ok := u.pop()
			if !ok {
				return nil, underflow()
			}
			return v, nil
		case opEmptyDict:
			u.push(&pyDict{})
		case opEmptyList:
			u.push(&pyList{})
		case opEmptyTuple:
			u.push(&pyTuple{})
		case opMark:
			if len(u.marks) >= maxMarkDepth {
				return nil, u.errf(op, "too many nested marks")
			}
			u.marks = append(u.marks, len(u.stack))
		case opPop:
			if _, ok := u.pop(); !ok {
				return nil, underflow()
			}
		case opPopMark:
			if _, ok := u.popMark(); !ok {
				return nil, u.errf(op, "no MARK")
			}
		case opDup:
			v, ok := u.top()
			if !ok {
				return nil, underflow()
			}
			u.push(v)
		case opBinput, opLongBinput, opMemoize:
			var idx uint32
			switch op {
			case opBinput:
				b, ok := u.read(1)
				if !ok {
					return nil, short()
				}
				idx = uint32(b[0])
			case opLongBinput:
				b, ok := u.read(4)
				if !ok {
					return nil, short()
				}
				idx = le.Uint32(b)
			default:
				idx = uint32(len(u.memo))
			}
			v, ok := u.top()
			if !ok {
				return nil, underflow()
			}
			u.memo[idx] = v
		case opBinget, opLongBinget:
			var idx uint32
			if op == opBinget {
				b, ok := u.read(1)
				if !ok {
					return nil, short()
				}
				idx = uint32(b[0])
			} else {
				b, ok := u.read(4)
				if !ok {
					return nil, short()
				}
				idx = le.Uint32(b)
			}
			v, ok := u.memo[idx]
			if !ok {
				return nil, u.errf(op, "memo key %d not defined", idx)
			}
			u.push(v)
		case opBinunicode, opShortBinunicode, opBinunicode8, opBinstring, opShortBinstring, opBinbytes, opShortBinbytes, opBinbytes8, npOpBytearray8:
			var n int64
			switch op {
			case opShortBinunicode, opShortBinstring, opShortBinbytes:
				b, ok := u.read(1)
				if !ok {
					return nil, short()
				}
				n = int64(b[0])
			case opBinunicode8, opBinbytes8, npOpBytearray8:
				b, ok := u.read(8)
				if !ok {
					return nil, short()
				}
				x := le.Uint64(b)
				if x > uint64(len(u.data)-u.pos) {
					return nil, u.errf(op, "length %d exceeds the remaining %d bytes", x, len(u.data)-u.pos)
				}
				n = int64(x)
			case opBinstring:
				b, ok := u.read(4)
				if !ok {
					return nil, short()
				}
				n = int64(int32(le.Uint32(b)))
				if n < 0 {
					return nil, u.errf(op, "negative length %d", n)
				}
			default:
				b, ok := u.read(4)
				if !ok {
					return nil, short()
				}
				n = int64(le.Uint32(b))
			}
			if n < 0 || n > int64(len(u.data)-u.pos) {
				return nil, u.errf(op, "length %d exceeds the remaining %d bytes", n, len(u.data)-u.pos)
			}
			b, _ := u.read(int(n))
			switch {
			case op != opBinbytes && op != opShortBinbytes && op != opBinbytes8 && op != npOpBytearray8:
				u.push(string(b))
			case u.d.numpy:
				u.push(b[:len(b):len(b)]) // shares data's memory (see UnpickleNumpy)
			default:
				u.push(append([]byte(nil), b...))
			}
		case opBinint:
			b, ok := u.read(4)
			if !ok {
				return nil, short()
			}
			u.push(int64(int32(le.Uint32(b))))
		case opBinint1:
			b, ok := u.read(1)
			if !ok {
				return nil, short()
			}
			u.push(int64(b[0]))
		case opBinint2:
			b, ok := u.read(2)
			if !ok {
				return nil, short()
			}
			u.push(int64(le.Uint16(b)))
		case opLong1, opLong4:
			var n int64
			if op == opLong1 {
				b, ok := u.read(1)
				if !ok {
					return nil, short()
				}
				n = int64(b[0])
			} else {
				b, ok := u.read(4)
				if !ok {
					return nil, short()
				}
				n = int64(int32(le.Uint32(b)))
			}
			if n < 0 || n > int64(len(u.data)-u.pos) {
				return nil, u.errf(op, "length %d exceeds the remaining bytes", n)
			}
			if n > 8 {
				return nil, u.errf(op, "integer of %d bytes does not fit in int64", n)
			}
			b, _ := u.read(int(n))
			var x int64
			if n > 0 {
				var buf [8]byte
				copy(buf[:], b)
				if b[n-1]&0x80 != 0 { // sign-extend
					for i := n; i < 8; i++ {
						buf[i] = 0xff
					}
				}
				x = int64(le.Uint64(buf[:]))
			}
			u.push(x)
		case opBinfloat:
			b, ok := u.read(8)
			if !ok {
				return nil, short()
			}
			u.push(math.Float64frombits(binary.BigEndian.Uint64(b)))
		case opNewtrue:
			u.push(true)
		case opNewfalse:
			u.push(false)
		case opNone:
			u.push(pyNone{})
		case opGlobal:
			module, ok1 := u.readLine()
			name, ok2 := u.readLine()
			if !ok1 || !ok2 {
				return nil, u.errf(op, "malformed module/name lines")
			}
			g, err := u.d.global(module, name)
			if err != nil {
				return nil, err
			}
			u.push(g)
		case opStackGlobal:
			nv, ok1 := u.pop()
			mv, ok2 := u.pop()
			if !ok1 || !ok2 {
				return nil, underflow()
			}
			name, ok1 := nv.(string)
			module, ok2 := mv.(string)
			if !ok1 || !ok2 {
				return nil, u.errf(op, "module and name must be strings")
			}
			g, err := u.d.global(module, name)
			if err != nil {
				return nil, err
			}
			u.push(g)
		case opBinpersid:
			if u.d.persistentLoad == nil {
				return nil, fmt.Errorf("unsupported pickle opcode %s at offset %d", opName(op), u.pos-1)
			}
			pid, ok := u.pop()
			if !ok {
				return nil, underflow()
			}
			st, err := u.d.persistentLoad(pid)
			if err != nil {
				return nil, u.errf(op, "%v", err)
			}
			u.push(st)
		case opTuple:
			items, ok := u.popMark()
			if !ok {
				return nil, u.errf(op, "no MARK")
			}
			u.push(&pyTuple{items})
		case opTuple1, opTuple2, opTuple3:
			n := int(op-opTuple1) + 1
			if len(u.stack)-u.floor() < n {
				return nil, underflow()
			}
			items := append([]any(nil), u.stack[len(u.stack)-n:]...)
			u.stack = u.stack[:len(u.stack)-n]
			u.push(&pyTuple{items})
		case npOpList:
			items, ok := u.popMark()
			if !ok {
				return nil, u.errf(op, "no MARK")
			}
			u.push(&pyList{items})
		case npOpDict:
			items, ok := u.popMark()
			if !ok {
				return nil, u.errf(op, "no MARK")
			}
			if len(items)%2 != 0 {
				return nil, u.errf(op, "odd number of items (%d)", len(items))
			}
			d := &pyDict{}
			for i := 0; i < len(items); i += 2 {
				d.set(items[i], items[i+1])
			}
			u.push(d)
		case opReduce:
			args, ok1 := u.pop()
			fn, ok2 := u.pop()
			if !ok1 || !ok2 {
				return nil, underflow()
			}
			v, err := u.d.reduce(fn, args)
			if err != nil {
				return nil, u.errf(op, "%v", err)
			}
			u.push(v)
		case opBuild:
			state, ok1 := u.pop()
			obj, ok2 := u.top()
			if !ok1 || !ok2 {
				return nil, underflow()
			}
			if err := u.d.build(obj, state); err != nil {
				return nil, u.errf(op, "%v", err)
			}
		case opSetitem:
			v, ok1 := u.pop()
			k, ok2 := u.pop()
			d, ok3 := u.top()
			if !ok1 || !ok2 || !ok3 {
				return nil, underflow()
			}
			dict, ok := d.(*pyDict)
			if !ok {
				return nil, u.errf(op, "target is %s, not a dict", u.d.typeName(d))
			}
			dict.set(k, v)
		case opSetitems:
			items, ok := u.popMark()
			if !ok {
				return nil, u.errf(op, "no MARK")
			}
			d, ok := u.top()
			if !ok {
				return nil, underflow()
			}
			dict, ok := d.(*pyDict)
			if !ok {
				return nil, u.errf(op, "target is %s, not a dict", u.d.typeName(d))
			}
			if len(items)%2 != 0 {
				return nil, u.errf(op, "odd number of items (%d)", len(items))
			}
			for i := 0; i < len(items); i += 2 {
				dict.set(items[i], items[i+1])
			}
		case opAppend:
			v, ok1 := u.pop()
			l, ok2 := u.top()
			if !ok1 || !ok2 {
				return nil, underflow()
			}
			list, ok := l.(*pyList)
			if !ok {
				return nil, u.errf(op, "target is %s, not a list", u.d.typeName(l))
			}
			list.items = append(list.items, v)
		case opAppends:
			items, ok := u.popMark()
			if !ok {
				return nil, u.errf(op, "no MARK")
			}
			l, ok := u.top()
			if !ok {
				return nil, underflow()
			}
			list, ok := l.(*pyList)
			if !ok {
				return nil, u.errf(op, "target is %s, not a list", u.d.typeName(l))
			}
			list.items = append(list.items, items...)
		case npOpNextBuffer, npOpReadonlyBuffer:
			return nil, fmt.Errorf("opcode %s at offset %d: %w", opName(op), u.pos-1, errOutOfBand)
		default:
			return nil, fmt.Errorf("unsupported pickle opcode %s at offset %d", opName(op), u.pos-1)
		}
	}
}

func (d *pyDict) set(k, v any) {
	switch k.(type) {
	case string, int64, bool:
		if d.idx == nil {
			d.idx = map[any]int{}
		}
		if i, ok := d.idx[k]; ok {
			d.vals[i] = v
			return
		}
		d.idx[k] = len(d.keys)
	}
	d.keys = append(d.keys, k)
	d.vals = append(d.vals, v)
}

// build applies a BUILD state. Only the states torch.save produces are
// accepted: instance attributes of a dict (OrderedDict._metadata) and the
// state of a Parameter, both of which carry no tensor data and are ignored.
func build(obj, state any) error {
	switch o := obj.(type) {
	case *pyDict:
		var attrs []any
		switch s := state.(type) {
		case *pyDict:
			attrs = s.keys
		case *pyTuple: // (dict state, slot state)
			for _, it := range s.items {
				if d, ok := it.(*pyDict); ok {
					attrs = append(attrs, d.keys...)
				}
			}
		case pyNone:
		default:
			return fmt.Errorf("cannot apply a %s state to a dict", typeName(state))
		}
		for _, a := range attrs {
			if s, ok := a.(string); ok {
				o.attrs = append(o.attrs, s)
			}
		}
		return nil
	case *tensorRef:
		return nil
	}
	return fmt.Errorf("BUILD on %s is not supported", typeName(obj))
}

func (u *unpickler) persistentLoad(pid any) (*storageRef, error) {
	t, ok := pid.(*pyTuple)
	if !ok || len(t.items) != 5 {
		return nil, fmt.Errorf("persistent id must be a 5-tuple ('storage', type, key, location, numel), got %s", typeName(pid))
	}
	if s, _ := t.items[0].(string); s != "storage" {
		return nil, fmt.Errorf("persistent id kind %v is not 'storage'", describe(t.items[0]))
	}
	g, ok := t.items[1].(*pyGlobal)
	if !ok {
		return nil, fmt.Errorf("storage type is %s, not a torch storage class", typeName(t.items[1]))
	}
	dt := storageTypes[g.name]
	if g.module != "torch" || dt == nil {
		return nil, fmt.Errorf("storage type %s is not supported", g)
	}
	key, ok := t.items[2].(string)
	if !ok || key == "" || len(key) > 64 {
		return nil, fmt.Errorf("storage key must be a short non-empty string, got %s", describe(t.items[2]))
	}
	loc, ok := t.items[3].(string)
	if !ok {
		return nil, fmt.Errorf("storage location must be a string, got %s", typeName(t.items[3]))
	}
	numel, ok := t.items[4].(int64)
	if !ok || numel < 0 {
		return nil, fmt.Errorf("storage numel must be a non-negative int, got %s", describe(t.items[4]))
	}
	if old, ok := u.storages[key]; ok {
		if old.dt != dt || old.numel != numel {
			return nil, fmt.Errorf("storage %q referenced as %s[%d] and as %s[%d]", key, old.dt.storage, old.numel, dt.storage, numel)
		}
		return old, nil
	}
	st := &storageRef{dt: dt, key: key, location: loc, numel: numel}
	u.storages[key] = st
	return st, nil
}

func (u *unpickler) reduce(fn, args any) (any, error) {
	g, ok := fn.(*pyGlobal)
	if !ok {
		return nil, fmt.Errorf("callable is %s, not an allowlisted global", typeName(fn))
	}
	a, ok := args.(*pyTuple)
	if !ok {
		return nil, fmt.Errorf("%s: arguments are %s, not a tuple", g, typeName(args))
	}
	switch g.String() {
	case globOrderedDict:
		d := &pyDict{}
		switch len(a.items) {
		case 0:
		case 1: // OrderedDict(list of pairs)
			l, ok := a.items[0].(*pyList)
			if !ok {
				return nil, fmt.Errorf("%s: argument is %s, not a list of pairs", g, typeName(a.items[0]))
			}
			for _, it := range l.items {
				p, ok := it.(*pyTuple)
				if !ok || len(p.items) != 2 {
					return nil, fmt.Errorf("%s: item is %s, not a pair", g, typeName(it))
				}
				d.set(p.items[0], p.items[1])
			}
		default:
			return nil, fmt.Errorf("%s: %d arguments", g, len(a.items))
		}
		return d, nil
	case globRebuildTensor, globRebuildTensorV2:
		min, max := 4, 4
		if g.name == "_rebuild_tensor_v2" {
			min, max = 6, 7
		}
		if len(a.items) < min || len(a.items) > max {
			return nil, fmt.Errorf("%s: got %d arguments, want %d..%d", g, len(a.items), min, max)
		}
		return rebuildTensor(a.items)
	case globRebuildParam, globRebuildParamWithSt:
		if len(a.items) < 1 {
			return nil, fmt.Errorf("%s: no arguments", g)
		}
		t, ok := a.items[0].(*tensorRef)
		if !ok {
			return nil, fmt.Errorf("%s: data is %s, not a tensor", g, typeName(a.items[0]))
		}
		return t, nil
	}
	return nil, fmt.Errorf("%s is not callable here", g)
}

func rebuildTensor(args []any) (*tensorRef, error) {
	st, ok := args[0].(*storageRef)
	if !ok {
		return nil, fmt.Errorf("tensor storage is %s, not a persistent storage", typeName(args[0]))
	}
	off, ok := args[1].(int64)
	if !ok || off < 0 {
		return nil, fmt.Errorf("storage offset %s is not a non-negative int", describe(args[1]))
	}
	size, err := intTuple(args[2], "size")
	if err != nil {
		return nil, err
	}
	stride, err := intTuple(args[3], "stride")
	if err != nil {
		return nil, err
	}
	if len(size) != len(stride) {
		return nil, fmt.Errorf("size %v and stride %v differ in length", size, stride)
	}
	return &tensorRef{st: st, offset: off, size: size, stride: stride}, nil
}

func intTuple(v any, what string) ([]int64, error) {
	t, ok := v.(*pyTuple)
	if !ok {
		return nil, fmt.Errorf("tensor %s is %s, not a tuple", what, typeName(v))
	}
	if len(t.items) > maxDims {
		return nil, fmt.Errorf("tensor %s has %d dimensions (max %d)", what, len(t.items), maxDims)
	}
	out := make([]int64, len(t.items))
	for i, it := range t.items {
		x, ok := it.(int64)
		if !ok || x < 0 {
			return nil, fmt.Errorf("tensor %s entry %d is %s, not a non-negative int", what, i, describe(it))
		}
		out[i] = x
	}
	return out, nil
}

func typeName(v any) string {
	switch x := v.(type) {
	case nil:
		return "nothing"
	case pyNone:
		return "None"
	case bool:
		return "bool"
	case int64:
		return "int"
	case float64:
		return "float"
	case string:
		return "str"
	case []byte:
		return "bytes"
	case *pyTuple:
		return "tuple"
	case *pyList:
		return "list"
	case *pyDict:
		return "dict"
	case *pyGlobal:
		return "global " + x.String()
	case *storageRef:
		return "storage"
	case *tensorRef:
		return "tensor"
	}
	return fmt.Sprintf("%T", v)
}

func describe(v any) string {
	switch x := v.(type) {
	case string:
		if len(x) > 40 {
			x = x[:40] + "…"
		}
		return strconv.Quote(x)
	case int64:
		return strconv.FormatInt(x, 10)
	}
	return typeName(v)
}

// Pickle opcodes.
const (
	opMark            = '('
	opStop            = '.'
	opPop             = '0'
	opPopMark         = '1'
	opDup             = '2'
	opBinfloat        = 'G'
	opBinint          = 'J'
	opBinint1         = 'K'
	opBinint2         = 'M'
	opNone            = 'N'
	opBinpersid       = 'Q'
	opReduce          = 'R'
	opBinstring       = 'T'
	opShortBinstring  = 'U'
	opBinunicode      = 'X'
	opAppend          = 'a'
	opBuild           = 'b'
	opGlobal          = 'c'
	opAppends         = 'e'
	opBinget          = 'h'
	opLongBinget      = 'j'
	opEmptyList       = ']'
	opBinput          = 'q'
	opLongBinput      = 'r'
	opSetitem         = 's'
	opTuple           = 't'
	opEmptyTuple      = ')'
	opSetitems        = 'u'
	opEmptyDict       = '}'
	opBinbytes        = 'B'
	opShortBinbytes   = 'C'
	opProto           = 0x80
	opTuple1          = 0x85
	opTuple2          = 0x86
	opTuple3          = 0x87
	opNewtrue         = 0x88
	opNewfalse        = 0x89
	opLong1           = 0x8a
	opLong4           = 0x8b
	opShortBinunicode = 0x8c
	opBinunicode8     = 0x8d
	opBinbytes8       = 0x8e
	opStackGlobal     = 0x93
	opMemoize         = 0x94
	opFrame           = 0x95
)

var opNames = map[byte]string{
	opMark: "MARK", opStop: "STOP", opPop: "POP", opPopMark: "POP_MARK", opDup: "DUP",
	opBinfloat: "BINFLOAT", opBinint: "BININT", opBinint1: "BININT1", opBinint2: "BININT2",
	opNone: "NONE", opBinpersid: "BINPERSID", opReduce: "REDUCE", opBinstring: "BINSTRING",
	opShortBinstring: "SHORT_BINSTRING", opBinunicode: "BINUNICODE", opAppend: "APPEND",
	opBuild: "BUILD", opGlobal: "GLOBAL", opAppends: "APPENDS", opBinget: "BINGET",
	opLongBinget: "LONG_BINGET", opEmptyList: "EMPTY_LIST", opBinput: "BINPUT",
	opLongBinput: "LONG_BINPUT", opSetitem: "SETITEM", opTuple: "TUPLE", opEmptyTuple: "EMPTY_TUPLE",
	opSetitems: "SETITEMS", opEmptyDict: "EMPTY_DICT", opBinbytes: "BINBYTES",
	opShortBinbytes: "SHORT_BINBYTES", opProto: "PROTO", opTuple1: "TUPLE1", opTuple2: "TUPLE2",
	opTuple3: "TUPLE3", opNewtrue: "NEWTRUE", opNewfalse: "NEWFALSE", opLong1: "LONG1",
	opLong4: "LONG4", opShortBinunicode: "SHORT_BINUNICODE", opBinunicode8: "BINUNICODE8",
	opBinbytes8: "BINBYTES8", opStackGlobal: "STACK_GLOBAL", opMemoize: "MEMOIZE", opFrame: "FRAME",
	// Opcodes recognised only to name them in errors.
	'I': "INT", 'L': "LONG", 'F': "FLOAT", 'S': "STRING", 'V': "UNICODE", 'P': "PERSID",
	'i': "INST", 'o': "OBJ", 'g': "GET", 'p': "PUT", 'l': "LIST", 'd': "DICT",
	0x81: "NEWOBJ", 0x82: "EXT1", 0x83: "EXT2", 0x84: "EXT4", 0x8f: "EMPTY_SET",
	0x90: "ADDITEMS", 0x91: "FROZENSET", 0x92: "NEWOBJ_EX", 0x96: "BYTEARRAY8",
	0x97: "NEXT_BUFFER", 0x98: "READONLY_BUFFER",
}

func opName(op byte) string {
	if n, ok := opNames[op]; ok {
		return n
	}
	return fmt.Sprintf("0x%02x", op)
}
