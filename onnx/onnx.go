// Package onnx decodes ONNX model files (ModelProto, protobuf wire format)
// into a plain Go graph: nodes with their attributes, initializers as
// float32 tensors, graph input/output names and the opset.
//
// It is a self-contained protobuf reader (varint, fixed32/64 and
// length-delimited fields, packed or unpacked repeated scalars) that decodes
// only what inference needs and skips unknown fields. Every length is checked
// against the input, so a truncated or hostile file yields an error wrapping
// ErrFormat rather than a panic or a huge allocation. Tensors stored as
// external data (data_location EXTERNAL) and STRING/complex tensors are
// reported as unsupported (ErrUnsupported).
//
// Initializers and tensor attributes of every numeric type are converted to
// float32 (tensor.Tensor); integer and bool tensors also keep their exact
// values in Tensor.Int64, which shape and index constants (Reshape, Slice,
// Gather) need.
package onnx

import (
	"encoding/binary"
	"errors"
	"fmt"
	"math"
	"os"

	"dinotracker/safetensors"
	"dinotracker/tensor"
)

var (
	// ErrFormat is wrapped by every error about a malformed file.
	ErrFormat = errors.New("onnx: malformed model")
	// ErrUnsupported is wrapped by errors about valid but unsupported content
	// (external data, string or complex tensors).
	ErrUnsupported = errors.New("onnx: unsupported")
)

// maxGraphDepth bounds subgraph nesting (If/Loop bodies in attributes).
const maxGraphDepth = 16

// maxElements bounds a tensor's declared element count before it is
// compared with its data.
const maxElements = 1 << 40

// DataType is a TensorProto element type.
type DataType int32

// TensorProto.DataType values.
const (
	Undefined  DataType = 0
	Float      DataType = 1
	Uint8      DataType = 2
	Int8       DataType = 3
	Uint16     DataType = 4
	Int16      DataType = 5
	Int32      DataType = 6
	Int64      DataType = 7
	String     DataType = 8
	Bool       DataType = 9
	Float16    DataType = 10
	Double     DataType = 11
	Uint32     DataType = 12
	Uint64     DataType = 13
	Complex64  DataType = 14
	Complex128 DataType = 15
	BFloat16   DataType = 16
)

var dataTypeNames = map[DataType]string{
	Undefined: "UNDEFINED", Float: "FLOAT", Uint8: "UINT8", Int8: "INT8", Uint16: "UINT16",
	Int16: "INT16", Int32: "INT32", Int64: "INT64", String: "STRING", Bool: "BOOL",
	Float16: "FLOAT16", Double: "DOUBLE", Uint32: "UINT32", Uint64: "UINT64",
	Complex64: "COMPLEX64", Complex128: "COMPLEX128", BFloat16: "BFLOAT16",
}

// String returns the ONNX name of the type, e.g. "FLOAT".
func (t DataType) String() string {
	if s, ok := dataTypeNames[t]; ok {
		return s
	}
	return fmt.Sprintf("DataType(%d)", int32(t))
}

// Size is the element size in bytes of raw_data for the type, or 0 for
// types this package does not decode.
func (t DataType) Size() int {
	switch t {
	case Uint8, Int8, Bool:
		return 1
	case Uint16, Int16, Float16, BFloat16:
		return 2
	case Float, Int32, Uint32:
		return 4
	case Int64, Uint64, Double:
		return 8
	}
	return 0
}

// IsInteger reports integer and bool types (whose exact values are kept in
// Tensor.Int64).
func (t DataType) IsInteger() bool {
	switch t {
	case Uint8, Int8, Uint16, Int16, Int32, Int64, Bool, Uint32, Uint64:
		return true
	}
	return false
}

// AttrType is an AttributeProto type.
type AttrType int32

// AttributeProto.AttributeType values.
const (
	AttrUndefined     AttrType = 0
	AttrFloat         AttrType = 1
	AttrInt           AttrType = 2
	AttrString        AttrType = 3
	AttrTensor        AttrType = 4
	AttrGraph         AttrType = 5
	AttrFloats        AttrType = 6
	AttrInts          AttrType = 7
	AttrStrings       AttrType = 8
	AttrTensors       AttrType = 9
	AttrGraphs        AttrType = 10
	AttrSparseTensor  AttrType = 11
	AttrSparseTensors AttrType = 12
	AttrTypeProto     AttrType = 13
	AttrTypeProtos    AttrType = 14
)

// Model is a decoded ModelProto.
type Model struct {
	// Opset is the version of the default ("" or "ai.onnx") operator set.
	Opset int64
	// OpsetImports maps every imported domain to its version.
	OpsetImports map[string]int64
	// IRVersion, ProducerName and ProducerVersion are copied from the file.
	IRVersion       int64
	ProducerName    string
	ProducerVersion string
	// Graph is the main graph.
	Graph Graph
}

// Graph is a decoded GraphProto.
type Graph struct {
	Name string
	// Nodes in file order (ONNX requires topological order).
	Nodes []Node
	// Initializers maps initializer names to their values as float32.
	Initializers map[string]*tensor.Tensor
	// InitializerInfo maps the same names to the full decoded TensorProto
	// (data type, dims, exact integer values). Its Value fields are the
	// tensors of Initializers.
	InitializerInfo map[string]*Tensor
	// Inputs and Outputs are the graph input and output names, in order.
	// Files written with IR version < 4 may list initializers among Inputs.
	Inputs, Outputs []string
	// InputInfo and OutputInfo hold the declared types and shapes.
	InputInfo, OutputInfo []ValueInfo
}

// ValueInfo is a graph input or output declaration.
type ValueInfo struct {
	Name     string
	ElemType DataType
	// Shape holds the dimensions, -1 for a symbolic or unknown one
	// (DimParams then names it); nil when no shape is declared.
	Shape     []int64
	DimParams []string
}

// Node is a decoded NodeProto. An empty input name marks an omitted
// optional input.
type Node struct {
	Name, OpType, Domain string
	Inputs, Outputs      []string
	Attrs                map[string]Attribute
}

// Attribute is a decoded AttributeProto; the field matching Type is set.
type Attribute struct {
	Name    string
	Type    AttrType
	F       float32
	I       int64
	S       string
	T       *Tensor
	G       *Graph
	Floats  []float32
	Ints    []int64
	Strings []string
	Tensors []*Tensor
	Graphs  []*Graph
}

// Tensor is a decoded TensorProto.
type Tensor struct {
	Name     string
	DataType DataType
	Dims     []int64
	// Value holds the elements converted to float32, in row-major order.
	Value *tensor.Tensor
	// Int64 holds the exact elements of integer and bool tensors (UINT64
	// values above 2^63-1 wrap); nil for floating-point types.
	Int64 []int64
}

// ReadFile reads and decodes an .onnx file.
func ReadFile(path string) (*Model, error) {
	b, err := os.ReadFile(path)
	if err != nil {
		return nil, fmt.Errorf("onnx: %w", err)
	}
	m, err := Parse(b)
	if err != nil {
		return nil, fmt.Errorf("%s: %w", path, err)
	}
	return m, nil
}

// Parse decodes a serialized ModelProto. Strings are copied; tensor data is
// converted, so the result does not alias b.
func Parse(b []byte) (*Model, error) {
	d := &decoder{b: b, msg: "ModelProto"}
	m := &Model{OpsetImports: map[string]int64{}}
	var graph []byte
	haveGraph := false
	for !d.done() {
		f, err := d.next()
		if err != nil {
			return nil, err
		}
		switch f.num {
		case 1:
			if m.IRVersion, err = f.int64(d, "ir_version"); err != nil {
				return nil, err
			}
		case 2:
			if m.ProducerName, err = f.str(d, "producer_name"); err != nil {
				return nil, err
			}
		case 3:
			if m.ProducerVersion, err = f.str(d, "producer_version"); err != nil {
				return nil, err
			}
		case 7:
			if err := f.want(d, wireBytes, "graph"); err != nil {
				return nil, err
			}
			graph, haveGraph = f.bytes, true
		case 8:
			if err := f.want(d, wireBytes, "opset_import"); err != nil {
				return nil, err
			}
			dom, ver, err := parseOpset(f.bytes)
			if err != nil {
				return nil, err
			}
			m.OpsetImports[dom] = ver
		}
	}
	if !haveGraph {
		return nil, fmt.Errorf("%w: ModelProto has no graph (not an ONNX model, or truncated)", ErrFormat)
	}
	if v, ok := m.OpsetImports[""]; ok {
		m.Opset = v
	} else {
		m.Opset = m.OpsetImports["ai.onnx"]
	}
	g, err := parseGraph(graph, 0)
	if err != nil {
		return nil, err
	}
	m.Graph = *g
	return m, nil
}

func parseOpset(b []byte) (string, int64, error) {
	d := &decoder{b: b, msg: "OperatorSetIdProto"}
	var dom string
	var ver int64
	for !d.done() {
		f, err := d.next()
		if err != nil {
			return "", 0, err
		}
		switch f.num {
		case 1:
			dom, err = f.str(d, "domain")
		case 2:
			ver, err = f.int64(d, "version")
		}
		if err != nil {
			return "", 0, err
		}
	}
	return dom, ver, nil
}

func parseGraph(b []byte, depth int) (*Graph, error) {
	if depth > maxGraphDepth {
		return nil, fmt.Errorf("%w: subgraphs nested deeper than %d", ErrFormat, maxGraphDepth)
	}
	d := &decoder{b: b, msg: "GraphProto"}
	g := &Graph{Initializers: map[string]*tensor.Tensor{}, InitializerInfo: map[string]*Tensor{}}
	for !d.done() {
		f, err := d.next()
		if err != nil {
			return nil, err
		}
		switch f.num {
		case 1, 5, 11, 12:
			if err := f.want(d, wireBytes, "graph field"); err != nil {
				return nil, err
			}
		}
		switch f.num {
		case 1:
			n, err := parseNode(f.bytes, depth)
			if err != nil {
				return nil, fmt.Errorf("node %d: %w", len(g.Nodes), err)
			}
			g.Nodes = append(g.Nodes, *n)
		case 2:
			if g.Name, err = f.str(d, "name"); err != nil {
				return nil, err
			}
		case 5:
			t, err := parseTensor(f.bytes)
			if err != nil {
				return nil, fmt.Errorf("initializer: %w", err)
			}
			if t.Name == "" {
				return nil, fmt.Errorf("%w: initializer without a name", ErrFormat)
			}
			if _, dup := g.InitializerInfo[t.Name]; dup {
				return nil, fmt.Errorf("%w: duplicate initializer %q", ErrFormat, t.Name)
			}
			g.InitializerInfo[t.Name] = t
			g.Initializers[t.Name] = t.Value
		case 11, 12:
			vi, err := parseValueInfo(f.bytes)
			if err != nil {
				return nil, err
			}
			if f.num == 11 {
				g.Inputs = append(g.Inputs, vi.Name)
				g.InputInfo = append(g.InputInfo, *vi)
			} else {
				g.Outputs = append(g.Outputs, vi.Name)
				g.OutputInfo = append(g.OutputInfo, *vi)
			}
		case 15:
			return nil, fmt.Errorf("%w: sparse initializers", ErrUnsupported)
		}
	}
	return g, nil
}

func parseNode(b []byte, depth int) (*Node, error) {
	d := &decoder{b: b, msg: "NodeProto"}
	n := &Node{Attrs: map[string]Attribute{}}
	for !d.done() {
		f, err := d.next()
		if err != nil {
			return nil, err
		}
		var s string
		switch f.num {
		case 1, 2, 3, 4, 7:
			if s, err = f.str(d, "string field"); err != nil {
				return nil, err
			}
		}
		switch f.num {
		case 1:
			n.Inputs = append(n.Inputs, s)
		case 2:
			n.Outputs = append(n.Outputs, s)
		case 3:
			n.Name = s
		case 4:
			n.OpType = s
		case 7:
			n.Domain = s
		case 5:
			if err := f.want(d, wireBytes, "attribute"); err != nil {
				return nil, err
			}
			a, err := parseAttribute(f.bytes, depth)
			if err != nil {
				return nil, fmt.Errorf("%s %q: %w", n.OpType, n.Name, err)
			}
			if _, dup := n.Attrs[a.Name]; dup {
				return nil, fmt.Errorf("%w: node %q has attribute %q twice", ErrFormat, n.Name, a.Name)
			}
			n.Attrs[a.Name] = *a
		}
	}
	return n, nil
}

func parseAttribute(b []byte, depth int) (*Attribute, error) {
	d := &decoder{b: b, msg: "AttributeProto"}
	a := &Attribute{}
	for !d.done() {
		f, err := d.next()
		if err != nil {
			return nil, err
		}
		switch f.num {
		case 1:
			a.Name, err = f.str(d, "name")
		case 20:
			var t int64
			t, err = f.int64(d, "type")
			a.Type = AttrType(t)
		case 2:
			if err = f.want(d, wireFixed32, "f"); err == nil {
				a.F = math.Float32frombits(uint32(f.u))
			}
		case 3:
			a.I, err = f.int64(d, "i")
		case 4:
			a.S, err = f.str(d, "s")
		case 5:
			if err = f.want(d, wireBytes, "t"); err == nil {
				a.T, err = parseTensor(f.bytes)
			}
		case 6:
			if err = f.want(d, wireBytes, "g"); err == nil {
				a.G, err = parseGraph(f.bytes, depth+1)
			}
		case 7:
			a.Floats, err = f.appendFloats(d, a.Floats, "floats")
		case 8:
			a.Ints, err = f.appendVarints(d, a.Ints, "ints")
		case 9:
			var s string
			if s, err = f.str(d, "strings"); err == nil {
				a.Strings = append(a.Strings, s)
			}
		case 10:
			if err = f.want(d, wireBytes, "tensors"); err == nil {
				var t *Tensor
				if t, err = parseTensor(f.bytes); err == nil {
					a.Tensors = append(a.Tensors, t)
				}
			}
		case 11:
			if err = f.want(d, wireBytes, "graphs"); err == nil {
				var g *Graph
				if g, err = parseGraph(f.bytes, depth+1); err == nil {
					a.Graphs = append(a.Graphs, g)
				}
			}
		}
		if err != nil {
			if a.Name != "" {
				return nil, fmt.Errorf("attribute %q: %w", a.Name, err)
			}
			return nil, err
		}
	}
	if a.Name == "" {
		return nil, fmt.Errorf("%w: attribute without a name", ErrFormat)
	}
	return a, nil
}

func parseValueInfo(b []byte) (*ValueInfo, error) {
	d := &decoder{b: b, msg: "ValueInfoProto"}
	vi := &ValueInfo{}
	for !d.done() {
		f, err := d.next()
		if err != nil {
			return nil, err
		}
		switch f.num {
		case 1:
			if vi.Name, err = f.str(d, "name"); err != nil {
				return nil, err
			}
		case 2:
			if err := f.want(d, wireBytes, "type"); err != nil {
				return nil, err
			}
			if err := parseTypeProto(f.bytes, vi); err != nil {
				return nil, err
			}
		}
	}
	return vi, nil
}

// parseTypeProto reads TypeProto.tensor_type (elem_type, shape); other
// kinds (sequence, map, …) are left empty.
func parseTypeProto(b []byte, vi *ValueInfo) error {
	d := &decoder{b: b, msg: "TypeProto"}
	for !d.done() {
		f, err := d.next()
		if err != nil {
			return err
		}
		if f.num != 1 {
			continue
		}
		if err := f.want(d, wireBytes, "tensor_type"); err != nil {
			return err
		}
		td := &decoder{b: f.bytes, msg: "TypeProto.Tensor"}
		for !td.done() {
			tf, err := td.next()
			if err != nil {
				return err
			}
			switch tf.num {
			case 1:
				t, err := tf.int64(td, "elem_type")
				if err != nil {
					return err
				}
				vi.ElemType = DataType(t)
			case 2:
				if err := tf.want(td, wireBytes, "shape"); err != nil {
					return err
				}
				vi.Shape = []int64{}
				sd := &decoder{b: tf.bytes, msg: "TensorShapeProto"}
				for !sd.done() {
					sf, err := sd.next()
					if err != nil {
						return err
					}
					if sf.num != 1 {
						continue
					}
					if err := sf.want(sd, wireBytes, "dim"); err != nil {
						return err
					}
					v, p, err := parseDim(sf.bytes)
					if err != nil {
						return err
					}
					vi.Shape = append(vi.Shape, v)
					vi.DimParams = append(vi.DimParams, p)
				}
			}
		}
	}
	return nil
}

func parseDim(b []byte) (int64, string, error) {
	d := &decoder{b: b, msg: "Dimension"}
	v, p := int64(-1), ""
	for !d.done() {
		f, err := d.next()
		if err != nil {
			return 0, "", err
		}
		switch f.num {
		case 1:
			v, err = f.int64(d, "dim_value")
		case 2:
			p, err = f.str(d, "dim_param")
		}
		if err != nil {
			return 0, "", err
		}
	}
	return v, p, nil
}

// parseTensor decodes a TensorProto and converts its data.
func parseTensor(b []byte) (*Tensor, error) {
	d := &decoder{b: b, msg: "TensorProto"}
	t := &Tensor{Dims: []int64{}}
	var (
		raw      []byte
		haveRaw  bool
		floats   []float32
		doubles  []float64
		ints     []int64 // int32_data, int64_data or uint64_data
		intField uint64
		external bool
	)
	for !d.done() {
		f, err := d.next()
		if err != nil {
			return nil, err
		}
		switch f.num {
		case 1:
			t.Dims, err = f.appendVarints(d, t.Dims, "dims")
		case 2:
			var x int64
			x, err = f.int64(d, "data_type")
			t.DataType = DataType(x)
		case 3:
			return nil, fmt.Errorf("%w: segmented tensor %q", ErrUnsupported, t.Name)
		case 4:
			floats, err = f.appendFloats(d, floats, "float_data")
		case 5, 7, 11:
			if intField != 0 && intField != f.num {
				return nil, d.errf("tensor has both field %d and field %d", intField, f.num)
			}
			intField = f.num
			ints, err = f.appendVarints(d, ints, "int_data")
		case 6:
			return nil, fmt.Errorf("%w: string tensor", ErrUnsupported)
		case 8:
			t.Name, err = f.str(d, "name")
		case 9:
			if err = f.want(d, wireBytes, "raw_data"); err == nil {
				raw, haveRaw = f.bytes, true
			}
		case 10:
			doubles, err = f.appendDoubles(d, doubles, "double_data")
		case 13:
			external = true
		case 14:
			var loc int64
			loc, err = f.int64(d, "data_location")
			if loc == 1 {
				external = true
			}
		}
		if err != nil {
			return nil, err
		}
	}
	if external {
		return nil, fmt.Errorf("%w: tensor %q is stored as external data (save the model with all tensors inside the file)", ErrUnsupported, t.Name)
	}
	size := t.DataType.Size()
	if size == 0 {
		return nil, fmt.Errorf("%w: tensor %q has data type %s", ErrUnsupported, t.Name, t.DataType)
	}
	n := int64(1)
	for _, x := range t.Dims {
		if x < 0 || (x > 0 && n > maxElements/x) {
			return nil, fmt.Errorf("%w: tensor %q has bad dims %v", ErrFormat, t.Name, t.Dims)
		}
		n *= x
	}
	shape := make([]int, len(t.Dims))
	for i, x := range t.Dims {
		shape[i] = int(x)
	}
	count := func(have int, field string) error {
		if int64(have) != n {
			return fmt.Errorf("%w: tensor %q: dims %v need %d elements, %s holds %d", ErrFormat, t.Name, t.Dims, n, field, have)
		}
		return nil
	}
	out := &tensor.Tensor{Shape: shape}
	t.Value = out
	le := binary.LittleEndian
	switch {
	case haveRaw:
		if int64(len(raw)) != n*int64(size) {
			return nil, fmt.Errorf("%w: tensor %q: dims %v of %s need %d bytes, raw_data holds %d", ErrFormat, t.Name, t.Dims, t.DataType, n*int64(size), len(raw))
		}
		out.Data = make([]float32, n)
		if t.DataType.IsInteger() {
			t.Int64 = make([]int64, n)
		}
		for i := range out.Data {
			e := raw[i*size:]
			switch t.DataType {
			case Float:
				out.Data[i] = math.Float32frombits(le.Uint32(e))
			case Double:
				out.Data[i] = float32(math.Float64frombits(le.Uint64(e)))
			case Float16:
				out.Data[i] = safetensors.HalfToFloat32(le.Uint16(e))
			case BFloat16:
				out.Data[i] = math.Float32frombits(uint32(le.Uint16(e)) << 16)
			case Int64:
				t.Int64[i] = int64(le.Uint64(e))
			case Uint64:
				t.Int64[i] = int64(le.Uint64(e))
				out.Data[i] = float32(le.Uint64(e))
			case Int32:
				t.Int64[i] = int64(int32(le.Uint32(e)))
			case Uint32:
				t.Int64[i] = int64(le.Uint32(e))
			case Int16:
				t.Int64[i] = int64(int16(le.Uint16(e)))
			case Uint16:
				t.Int64[i] = int64(le.Uint16(e))
			case Int8:
				t.Int64[i] = int64(int8(e[0]))
			case Uint8, Bool:
				t.Int64[i] = int64(e[0])
			}
			if t.DataType.IsInteger() && t.DataType != Uint64 {
				out.Data[i] = float32(t.Int64[i])
			}
		}
	case t.DataType == Float:
		if err := count(len(floats), "float_data"); err != nil {
			return nil, err
		}
		out.Data = floats
	case t.DataType == Double:
		if err := count(len(doubles), "double_data"); err != nil {
			return nil, err
		}
		out.Data = make([]float32, n)
		for i, v := range doubles {
			out.Data[i] = float32(v)
		}
	default:
		want := map[DataType]uint64{Int64: 7, Uint32: 11, Uint64: 11}[t.DataType]
		if want == 0 {
			want = 5 // int32_data carries every other integer, bool and the 16-bit floats
		}
		if len(ints) > 0 && intField != want {
			return nil, fmt.Errorf("%w: tensor %q of type %s stores its data in field %d, want %d", ErrFormat, t.Name, t.DataType, intField, want)
		}
		if err := count(len(ints), "the typed data field"); err != nil {
			return nil, err
		}
		out.Data = make([]float32, n)
		switch t.DataType {
		case Float16:
			for i, v := range ints {
				out.Data[i] = safetensors.HalfToFloat32(uint16(v))
			}
		case BFloat16:
			for i, v := range ints {
				out.Data[i] = math.Float32frombits(uint32(uint16(v)) << 16)
			}
		default:
			t.Int64 = ints
			for i, v := range ints {
				switch t.DataType {
				case Int32, Int16, Int8:
					t.Int64[i] = int64(int32(v))
				case Uint32:
					t.Int64[i] = int64(uint32(v))
				}
				if t.DataType == Uint64 {
					out.Data[i] = float32(uint64(v))
				} else {
					out.Data[i] = float32(t.Int64[i])
				}
			}
		}
	}
	if out.Data == nil {
		out.Data = []float32{}
	}
	return t, nil
}

// Producer returns the node that outputs name, or nil for graph inputs,
// initializers and unknown names. The pointer refers into g.Nodes.
func (g *Graph) Producer(name string) *Node {
	if name == "" {
		return nil
	}
	for i := range g.Nodes {
		for _, o := range g.Nodes[i].Outputs {
			if o == name {
				return &g.Nodes[i]
			}
		}
	}
	return nil
}

// Consumers returns the nodes that take name as an input, in graph order,
// each once. The pointers refer into g.Nodes.
func (g *Graph) Consumers(name string) []*Node {
	if name == "" {
		return nil
	}
	var out []*Node
	for i := range g.Nodes {
		for _, in := range g.Nodes[i].Inputs {
			if in == name {
				out = append(out, &g.Nodes[i])
				break
			}
		}
	}
	return out
}

// Attr returns the named attribute and whether the node has it.
func (n *Node) Attr(name string) (Attribute, bool) {
	a, ok := n.Attrs[name]
	return a, ok
}
