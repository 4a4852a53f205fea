// Package golden runs data-driven golden tests: every case is a directory with
// a case.json (configuration, scalars, tolerances) and a tensors.safetensors
// file, produced by the upstream PyTorch code.
//
// The case directory is $DINOTRACKER_GOLDEN, or testdata/golden at the module
// root. Tests call ForEach with a directory-name prefix; each matching case
// runs as a subtest named after its directory.
package golden

import (
	"encoding/json"
	"fmt"
	"math"
	"os"
	"path/filepath"
	"sort"
	"strings"
	"testing"

	"dinotracker/safetensors"
)

// EnvVar names the environment variable that overrides the case directory.
const EnvVar = "DINOTRACKER_GOLDEN"

// Case is one golden case.
type Case struct {
	Name string         // directory name
	Dir  string         // absolute directory
	JSON map[string]any // parsed case.json
	Raw  []byte         // case.json bytes, for typed decoding
	File *safetensors.File
}

// Dir returns the golden directory: $DINOTRACKER_GOLDEN or <module root>/testdata/golden.
func Dir() string {
	if d := os.Getenv(EnvVar); d != "" {
		return d
	}
	wd, err := os.Getwd()
	if err != nil {
		return filepath.Join("testdata", "golden")
	}
	for d := wd; ; d = filepath.Dir(d) {
		if _, err := os.Stat(filepath.Join(d, "go.mod")); err == nil {
			return filepath.Join(d, "testdata", "golden")
		}
		if filepath.Dir(d) == d {
			return filepath.Join(wd, "testdata", "golden")
		}
	}
}

// ForEach runs fn as a subtest for every case directory whose name starts with
// prefix. It skips the test when no such case exists.
func ForEach(t *testing.T, prefix string, fn func(t *testing.T, c *Case)) {
	t.Helper()
	dir := Dir()
	ents, err := os.ReadDir(dir)
	if err != nil {
		t.Skipf("golden directory %s unreadable (%v); set %s", dir, err, EnvVar)
	}
	var names []string
	for _, e := range ents {
		if e.IsDir() && strings.HasPrefix(e.Name(), prefix) {
			if _, err := os.Stat(filepath.Join(dir, e.Name(), "case.json")); err == nil {
				names = append(names, e.Name())
			}
		}
	}
	sort.Strings(names)
	if len(names) == 0 {
		t.Skipf("no golden case %s* in %s", prefix, dir)
	}
	for _, name := range names {
		t.Run(name, func(t *testing.T) {
			c, err := Load(filepath.Join(dir, name))
			if err != nil {
				t.Fatal(err)
			}
			fn(t, c)
		})
	}
}

// Load reads one case directory.
func Load(dir string) (*Case, error) {
	abs, _ := filepath.Abs(dir)
	raw, err := os.ReadFile(filepath.Join(dir, "case.json"))
	if err != nil {
		return nil, err
	}
	c := &Case{Name: filepath.Base(dir), Dir: abs, Raw: raw}
	if err := json.Unmarshal(raw, &c.JSON); err != nil {
		return nil, fmt.Errorf("%s/case.json: %w", dir, err)
	}
	tp := filepath.Join(dir, "tensors.safetensors")
	if _, err := os.Stat(tp); err == nil {
		if c.File, err = safetensors.ReadFile(tp); err != nil {
			return nil, err
		}
	}
	return c, nil
}

// Has reports whether the case has a tensor.
func (c *Case) Has(name string) bool {
	if c.File == nil {
		return false
	}
	_, ok := c.File.Tensors[name]
	return ok
}

// Tensor returns a tensor's raw entry, failing the test when it is absent.
func (c *Case) Tensor(t testing.TB, name string) *safetensors.Tensor {
	t.Helper()
	if c.File == nil {
		t.Fatalf("case %s has no tensors.safetensors", c.Name)
	}
	x, ok := c.File.Tensors[name]
	if !ok {
		t.Fatalf("case %s has no tensor %q", c.Name, name)
	}
	return x
}

// F32 returns a tensor as float32 values and its shape.
func (c *Case) F32(t testing.TB, name string) ([]float32, []int) {
	t.Helper()
	x := c.Tensor(t, name)
	v, err := x.Float32()
	if err != nil {
		t.Fatal(err)
	}
	return v, x.Shape
}

// F64 returns a tensor as float64 values and its shape.
func (c *Case) F64(t testing.TB, name string) ([]float64, []int) {
	t.Helper()
	x := c.Tensor(t, name)
	v, err := x.Float64()
	if err != nil {
		t.Fatal(err)
	}
	return v, x.Shape
}

// Path walks case.json through nested object keys and returns the value.
func (c *Case) Path(keys ...string) (any, bool) {
	var cur any = c.JSON
	for _, k := range keys {
		m, ok := cur.(map[string]any)
		if !ok {
			return nil, false
		}
		if cur, ok = m[k]; !ok {
			return nil, false
		}
	}
	return cur, true
}

// Number returns a numeric case.json value at the key path, or def.
func (c *Case) Number(def float64, keys ...string) float64 {
	v, ok := c.Path(keys...)
	if !ok {
		return def
	}
	if f, ok := v.(float64); ok {
		return f
	}
	return def
}

// Ints returns an integer array at the key path.
func (c *Case) Ints(keys ...string) ([]int, bool) {
	v, ok := c.Path(keys...)
	if !ok {
		return nil, false
	}
	a, ok := v.([]any)
	if !ok {
		return nil, false
	}
	out := make([]int, len(a))
	for i, x := range a {
		f, ok := x.(float64)
		if !ok {
			return nil, false
		}
		out[i] = int(f)
	}
	return out, true
}

// Diff summarises the difference between got and want.
type Diff struct {
	MaxAbs   float64
	At       int
	Got, Exp float64
	NaNFault bool // NaN in one and not the other
}

// String formats the comparison for test logs.
func (d Diff) String() string {
	return fmt.Sprintf("max |Δ| %.3g at %d (got %.7g, want %.7g)", d.MaxAbs, d.At, d.Got, d.Exp)
}

// Compare32 returns the largest absolute difference.
func Compare32(got, want []float32) Diff {
	var d Diff
	for i := range want {
		g, w := float64(got[i]), float64(want[i])
		if math.IsNaN(g) != math.IsNaN(w) {
			d.NaNFault = true
			d.At, d.Got, d.Exp = i, g, w
			d.MaxAbs = math.Inf(1)
			return d
		}
		if a := math.Abs(g - w); a > d.MaxAbs {
			d = Diff{MaxAbs: a, At: i, Got: g, Exp: w}
		}
	}
	return d
}

// Close fails the test when got and want differ by more than tol anywhere or in shape.
func Close(t testing.TB, what string, got, want []float32, tol float64) Diff {
	t.Helper()
	if len(got) != len(want) {
		t.Fatalf("%s: %d values, want %d", what, len(got), len(want))
	}
	d := Compare32(got, want)
	if d.NaNFault || d.MaxAbs > tol {
		t.Errorf("%s: %v exceeds tolerance %.3g", what, d, tol)
	} else {
		t.Logf("%s: %v (tol %.3g)", what, d, tol)
	}
	return d
}

// Tolerance reads a tolerance such as "max |go - golden| <= 1e-4 …" from
// case.json's suggested_tolerance at the given key, or returns def.
func (c *Case) Tolerance(def float64, key string) float64 {
	v, ok := c.Path("suggested_tolerance", key)
	if !ok {
		return def
	}
	switch x := v.(type) {
	case float64:
		return x
	case string:
		if i := strings.Index(x, "<="); i >= 0 {
			var f float64
			if _, err := fmt.Sscanf(strings.TrimSpace(x[i+2:]), "%g", &f); err == nil {
				return f
			}
		}
	}
	return def
}
