package pth

import (
	"errors"
	"math"
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"testing"
)

// pickleDir holds the numpy pickles written by testdata/pickle/make_pickles.py.
var pickleDir = filepath.Join("..", "testdata", "pickle")

func unpickleFile(t *testing.T, name string) (any, error) {
	t.Helper()
	b, err := os.ReadFile(filepath.Join(pickleDir, name))
	if err != nil {
		t.Fatal(err)
	}
	return UnpickleNumpy(b)
}

func TestUnpickleNumpyCases(t *testing.T) {
	for _, name := range []string{"numpy_cases_p2.pkl", "numpy_cases_p5.pkl"} {
		t.Run(name, func(t *testing.T) {
			v, err := unpickleFile(t, name)
			if err != nil {
				t.Fatal(err)
			}
			d, ok := v.(*Dict)
			if !ok || d.Len() != 13 {
				t.Fatalf("got %T %v", v, v)
			}
			get := func(k string) any {
				x, ok := d.Get(k)
				if !ok {
					t.Fatalf("no key %q", k)
				}
				return x
			}
			arr := func(k, dtype string, shape []int) *Array {
				a, ok := get(k).(*Array)
				if !ok {
					t.Fatalf("%s: %T, want *Array", k, get(k))
				}
				if a.Dtype != dtype || !reflect.DeepEqual(a.Shape, shape) {
					t.Fatalf("%s: %s %v, want %s %v", k, a.Dtype, a.Shape, dtype, shape)
				}
				return a
			}
			floats := func(a *Array) []float64 {
				f, err := a.Float64s()
				if err != nil {
					t.Fatal(err)
				}
				return f
			}
			// Fortran order is returned in C order.
			if f := floats(arr("fortran", "float64", []int{2, 3})); !reflect.DeepEqual(f, []float64{0, 1, 2, 3, 4, 5}) {
				t.Errorf("fortran: %v", f)
			}
			if f := floats(arr("big", "int32", []int{3})); !reflect.DeepEqual(f, []float64{-1, 0, 1}) {
				t.Errorf("big-endian: %v", f)
			}
			if f := floats(arr("half", "float16", []int{2})); !reflect.DeepEqual(f, []float64{1.5, -2}) {
				t.Errorf("float16: %v", f)
			}
			if f := floats(arr("u16", "uint16", []int{2})); !reflect.DeepEqual(f, []float64{65535, 1}) {
				t.Errorf("uint16: %v", f)
			}
			if x := get("f32"); x != 1.5 {
				t.Errorf("float32 scalar %v (%T)", x, x)
			}
			if x := get("i64"); x != int64(-7) {
				t.Errorf("int64 scalar %v (%T)", x, x)
			}
			if x := get("b"); x != true {
				t.Errorf("bool scalar %v (%T)", x, x)
			}
			obj := arr("obj", "object", []int{3})
			if !reflect.DeepEqual(obj.Objects, []any{int64(1), 2.5, nil}) {
				t.Errorf("object array %#v", obj.Objects)
			}
			if _, err := obj.Float64s(); err == nil || !strings.Contains(err.Error(), "None") {
				t.Errorf("object array with None: %v", err)
			}
			if a := arr("empty", "float32", []int{0, 2}); len(a.Data) != 0 || a.Size() != 0 {
				t.Errorf("empty: %d bytes", len(a.Data))
			}
			if f := floats(arr("scalar0d", "float64", []int{})); !reflect.DeepEqual(f, []float64{3}) {
				t.Errorf("0-d: %v", f)
			}
			if b := get("bytes"); !reflect.DeepEqual(b, []byte{0, 0xff}) {
				t.Errorf("bytes %#v", b)
			}
			if b := get("nobytes"); !reflect.DeepEqual(b, []byte{}) {
				t.Errorf("empty bytes %#v", b)
			}
			if tu := get("tuple"); !reflect.DeepEqual(tu, []any{int64(1), "two", 3.0, nil, true}) {
				t.Errorf("tuple %#v", tu)
			}
		})
	}
}

func TestUnpickleNumpyErrors(t *testing.T) {
	if _, err := unpickleFile(t, "oob_p5.pkl"); err == nil || !errors.Is(err, ErrFormat) || !strings.Contains(err.Error(), "out-of-band") {
		t.Errorf("out-of-band buffers: %v", err)
	}
	for _, c := range []struct {
		name, want string
		data       []byte
		forbidden  bool
	}{
		{"os.system", "os.system", newPickle().global("os", "system").str("echo").op(opTuple1, opReduce, opStop).Bytes(), true},
		{"stack global", "builtins.eval", newPickle().str("builtins").str("eval").op(opStackGlobal, opStop).Bytes(), true},
		{"torch global", "torch._utils._rebuild_tensor_v2", newPickle().global("torch._utils", "_rebuild_tensor_v2").op(opStop).Bytes(), true},
		{"truncated", "truncated", newPickle().op(opEmptyDict).Bytes(), false},
		{"bad dtype", "dtype \"U3\"", newPickle().global("numpy", "dtype").str("U3").op(opTuple1, opReduce, opStop).Bytes(), false},
		{"global as data", "not data", newPickle().global("numpy", "ndarray").op(opStop).Bytes(), false},
		{"array without state", "without its state", newPickle().global("numpy.core.multiarray", "_reconstruct").
			global("numpy", "ndarray").ints(0).op(opShortBinbytes, 1, 'b', opTuple3, opReduce, opStop).Bytes(), false},
		{"self-containing list", "contains itself", newPickle().op(opEmptyList, opBinput, 0, opBinget, 0, opAppend, opStop).Bytes(), false},
		{"protocol 6", "protocol 6", []byte{opProto, 6, opNone, opStop}, false},
	} {
		_, err := UnpickleNumpy(c.data)
		if err == nil || !errors.Is(err, ErrFormat) || !strings.Contains(err.Error(), c.want) || errors.Is(err, ErrForbiddenGlobal) != c.forbidden {
			t.Errorf("%s: %v", c.name, err)
		}
	}
	// A shape whose byte count overflows is rejected before any allocation.
	huge := newPickle().global("numpy.core.multiarray", "_reconstruct").global("numpy", "ndarray").ints(0).
		op(opShortBinbytes, 1, 'b', opTuple3, opReduce, opMark).int(1).ints(1<<40, 1<<40).
		global("numpy", "dtype").str("f8").op(opTuple1, opReduce).op(opNewfalse, opShortBinbytes, 0, opTuple, opBuild, opStop)
	if _, err := UnpickleNumpy(huge.Bytes()); err == nil || !strings.Contains(err.Error(), "too large") {
		t.Errorf("huge shape: %v", err)
	}
}

func TestFloat16(t *testing.T) {
	for h, want := range map[uint16]float64{0x3c00: 1, 0xc000: -2, 0x0001: math.Pow(2, -24), 0x7bff: 65504, 0: 0} {
		if got := float16(h); got != want {
			t.Errorf("float16(%#x) = %v, want %v", h, got, want)
		}
	}
	if !math.IsNaN(float16(0x7e00)) || !math.IsInf(float16(0xfc00), -1) {
		t.Error("float16 NaN/Inf")
	}
}
