package traj

import (
	"errors"
	"math"
	"math/rand"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"dinotracker/safetensors"
)

func TestDenseRoundTrip(t *testing.T) {
	rng := rand.New(rand.NewSource(1))
	s := randomSet(rng, 9, 300)
	d := s.Dense()
	if len(d) != 300*9*2 {
		t.Fatalf("Dense has %d values", len(d))
	}
	for i := 0; i < s.N(); i++ {
		for f := 0; f < s.T; f++ {
			x, y, ok := s.At(i, f)
			dx, dy := d[(i*s.T+f)*2], d[(i*s.T+f)*2+1]
			if ok != !math.IsNaN(float64(dx)) || ok && (x != dx || y != dy) || !ok && !math.IsNaN(float64(dy)) {
				t.Fatalf("trajectory %d frame %d: At (%v,%v,%v), Dense (%v,%v)", i, f, x, y, ok, dx, dy)
			}
		}
	}
	back, err := FromDense(d, s.N(), s.T)
	if err != nil {
		t.Fatal(err)
	}
	if !setsEqual(s, back) {
		t.Fatal("FromDense(Dense(s)) differs from s")
	}
	// A gap inside a row is not a trajectory: row 0 valid at the first and
	// last frames only.
	for f := range s.T {
		d[2*f], d[2*f+1] = float32(math.NaN()), float32(math.NaN())
	}
	d[0], d[1] = 1, 1
	d[2*(s.T-1)], d[2*(s.T-1)+1] = 2, 2
	if _, err := FromDense(d, s.N(), s.T); err == nil {
		t.Error("FromDense accepted a row with two spans")
	}
}

func TestWriteReadFile(t *testing.T) {
	dir := t.TempDir()
	rng := rand.New(rand.NewSource(2))
	for _, s := range []*Set{randomSet(rng, 12, 1000), NewSet(5), randomSet(rng, 1, 3)} {
		path := filepath.Join(dir, "traj.safetensors")
		if err := s.WriteFile(path); err != nil {
			t.Fatal(err)
		}
		got, err := ReadFile(path)
		if err != nil {
			t.Fatal(err)
		}
		if !setsEqual(s, got) {
			t.Fatalf("round trip of %d trajectories differs", s.N())
		}
		st, _ := os.Stat(path)
		t.Logf("N=%d, %d positions: %d bytes (dense [N,T,2] would be %d)", s.N(), len(s.XY)/2, st.Size(), s.N()*s.T*8)
	}
	ents, _ := os.ReadDir(dir)
	if len(ents) != 1 {
		t.Errorf("temporary files left: %v", ents)
	}
	// The file is plain safetensors.
	f, err := safetensors.ReadFile(filepath.Join(dir, "traj.safetensors"))
	if err != nil {
		t.Fatal(err)
	}
	if f.Metadata["format"] != "dinotracker.traj" || f.Metadata["frames"] != "1" {
		t.Errorf("metadata %v", f.Metadata)
	}
	if err := NewSet(3).WriteFile(filepath.Join(dir, "missing", "x.safetensors")); err == nil {
		t.Error("writing into a missing directory succeeded")
	}
}

func TestReadFileErrors(t *testing.T) {
	dir := t.TempDir()
	path := filepath.Join(dir, "traj.safetensors")
	s := randomSet(rand.New(rand.NewSource(3)), 6, 50)
	if err := s.WriteFile(path); err != nil {
		t.Fatal(err)
	}
	full, _ := os.ReadFile(path)
	for _, n := range []int{len(full) - 4, len(full) / 2, 12, 5, 0} {
		p := filepath.Join(dir, "cut.safetensors")
		os.WriteFile(p, full[:n], 0o644)
		_, err := ReadFile(p)
		if err == nil {
			t.Fatalf("file cut to %d of %d bytes read without error", n, len(full))
		}
		if !errors.Is(err, safetensors.ErrFormat) || !strings.Contains(err.Error(), "cut.safetensors") {
			t.Errorf("cut to %d bytes: %v", n, err)
		}
		if n > 100 && !strings.Contains(err.Error(), "truncated") {
			t.Errorf("cut to %d bytes: error does not say truncated: %v", n, err)
		}
	}
	// A safetensors file that is not a trajectory file.
	p := filepath.Join(dir, "other.safetensors")
	safetensors.WriteFile(p, []safetensors.Entry{{Name: "x", DType: "F32", Shape: []int{1}, Data: []float32{1}}}, nil)
	if _, err := ReadFile(p); err == nil || !strings.Contains(err.Error(), "not a trajectory file") {
		t.Errorf("foreign file: %v", err)
	}
	// Lengths that disagree with the positions.
	w, _ := safetensors.Create(p, []safetensors.Header{
		{Name: "start", DType: "F32", Shape: []int{1}},
		{Name: "length", DType: "F32", Shape: []int{1}},
		{Name: "xy", DType: "F32", Shape: []int{3, 2}},
	}, map[string]string{"format": "dinotracker.traj", "version": "1", "frames": "4"})
	w.WriteValues([]float32{1, 2, 0, 0, 0, 0, 0, 0})
	if err := w.Close(); err != nil {
		t.Fatal(err)
	}
	if _, err := ReadFile(p); err == nil || !strings.Contains(err.Error(), "sum to 2 positions") {
		t.Errorf("inconsistent file: %v", err)
	}
	if _, err := ReadFile(filepath.Join(dir, "absent")); !errors.Is(err, os.ErrNotExist) {
		t.Errorf("absent file: %v", err)
	}
}

func TestSubsetAndValidate(t *testing.T) {
	s := randomSet(rand.New(rand.NewSource(4)), 7, 40)
	odd := s.Subset(func(i int) bool { return i%2 == 1 })
	if odd.N() != 20 || odd.T != 7 {
		t.Fatalf("subset has %d trajectories of %d frames", odd.N(), odd.T)
	}
	if err := odd.Validate(); err != nil {
		t.Fatal(err)
	}
	for j := 0; j < odd.N(); j++ {
		i := 2*j + 1
		for f := 0; f < 7; f++ {
			x, y, ok := s.At(i, f)
			x2, y2, ok2 := odd.At(j, f)
			if ok != ok2 || ok && (x != x2 || y != y2) {
				t.Fatalf("subset trajectory %d frame %d differs", j, f)
			}
		}
	}
	if none := s.Subset(func(int) bool { return false }); none.N() != 0 || none.Validate() != nil {
		t.Error("empty subset")
	}
	bad := s.Subset(func(int) bool { return true })
	bad.Len[3] = 7
	if bad.Validate() == nil {
		t.Error("Validate accepted a span past the last frame")
	}
	bad = s.Subset(func(int) bool { return true })
	bad.XY = bad.XY[:len(bad.XY)-2]
	if bad.Validate() == nil {
		t.Error("Validate accepted missing positions")
	}
	if err := bad.WriteFile(filepath.Join(t.TempDir(), "x")); err == nil {
		t.Error("WriteFile accepted an invalid set")
	}
}
