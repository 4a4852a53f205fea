package traj

import (
	"fmt"
	"math"
	"strconv"

	"dinotracker/safetensors"
)

// File format. WriteFile stores a Set as a safetensors file (readable by the
// Python `safetensors` package) with three float32 tensors, in this order:
//
//	"start"  F32 [N]     first valid frame of each trajectory
//	"length" F32 [N]     number of valid frames (≥ 1)
//	"xy"     F32 [P, 2]  the positions (x, y) of all trajectories, one
//	                     trajectory after the other, P = Σ length
//
// and the metadata {"format": "dinotracker.traj", "version": "1",
// "frames": "<T>"}. Starts and lengths are integers below T ≤ 2^24, so
// float32 holds them exactly. Trajectory i occupies rows
// Off[i] … Off[i]+length[i]−1 of "xy", Off being the running sum of the
// lengths; its row k is its position at frame start[i]+k. The compact file is
// about (2·N + 2·P)·4 bytes, against N·T·8 for the dense [N, T, 2] layout.
const (
	fileFormat  = "dinotracker.traj"
	fileVersion = "1"
	maxFrames   = 1 << 24
	ioChunk     = 1 << 20 // values per read/write call
)

// Validate checks the Set's internal consistency: matching slice lengths,
// 0 ≤ Start, 1 ≤ Len, Start+Len ≤ T, Off the running sum of Len, and
// len(XY) = 2·Off[N].
func (s *Set) Validate() error {
	n := len(s.Start)
	if s.T < 1 {
		return fmt.Errorf("traj: set has %d frames", s.T)
	}
	if len(s.Len) != n || len(s.Off) != n+1 {
		return fmt.Errorf("traj: set has %d starts, %d lengths and %d offsets (want %d, %d, %d)", n, len(s.Len), len(s.Off), n, n, n+1)
	}
	if s.Off[0] != 0 {
		return fmt.Errorf("traj: set offsets start at %d, want 0", s.Off[0])
	}
	for i := 0; i < n; i++ {
		st, l := s.Start[i], s.Len[i]
		if st < 0 || l < 1 || int64(st)+int64(l) > int64(s.T) {
			return fmt.Errorf("traj: trajectory %d spans frames [%d, %d+%d) outside the %d-frame video", i, st, st, l, s.T)
		}
		if s.Off[i+1] != s.Off[i]+int64(l) {
			return fmt.Errorf("traj: trajectory %d: offset %d does not follow %d+%d", i, s.Off[i+1], s.Off[i], l)
		}
	}
	if int64(len(s.XY)) != 2*s.Off[n] {
		return fmt.Errorf("traj: set holds %d coordinates, want %d", len(s.XY), 2*s.Off[n])
	}
	return nil
}

// Subset returns a new Set with the trajectories i for which keep(i) is true,
// in their original order (for instance the foreground/background split).
// keep is called once per trajectory, in order.
func (s *Set) Subset(keep func(i int) bool) *Set {
	out := NewSet(s.T)
	for i := 0; i < s.N(); i++ {
		if keep(i) {
			out.Append(int(s.Start[i]), s.XY[2*s.Off[i]:2*s.Off[i+1]])
		}
	}
	return out
}

// WriteFile stores the set at path in the format described above. The file
// appears atomically: it is written to a temporary file beside path, synced,
// and renamed into place only when complete.
func (s *Set) WriteFile(path string) error {
	if err := s.Validate(); err != nil {
		return err
	}
	if s.T > maxFrames {
		return fmt.Errorf("traj: write %s: %d frames exceed the format's 2^24", path, s.T)
	}
	n, p := s.N(), s.Off[s.N()]
	w, err := safetensors.Create(path, []safetensors.Header{
		{Name: "start", DType: "F32", Shape: []int{n}},
		{Name: "length", DType: "F32", Shape: []int{n}},
		{Name: "xy", DType: "F32", Shape: []int{int(p), 2}},
	}, map[string]string{"format": fileFormat, "version": fileVersion, "frames": strconv.Itoa(s.T)})
	if err != nil {
		return fmt.Errorf("traj: write %s: %w", path, err)
	}
	buf := make([]float32, 0, min(n, ioChunk))
	for _, col := range [][]int32{s.Start, s.Len} {
		for lo := 0; lo < n; lo += ioChunk {
			buf = buf[:0]
			for _, v := range col[lo:min(lo+ioChunk, n)] {
				buf = append(buf, float32(v))
			}
			if err := w.WriteValues(buf); err != nil {
				w.Abort()
				return fmt.Errorf("traj: write %s: %w", path, err)
			}
		}
	}
	for lo := 0; lo < len(s.XY); lo += ioChunk {
		if err := w.WriteValues(s.XY[lo:min(lo+ioChunk, len(s.XY))]); err != nil {
			w.Abort()
			return fmt.Errorf("traj: write %s: %w", path, err)
		}
	}
	if err := w.Close(); err != nil {
		return fmt.Errorf("traj: write %s: %w", path, err)
	}
	return nil
}

// ReadFile loads a Set written by WriteFile. A truncated or malformed file is
// reported as an error (wrapping safetensors.ErrFormat where the container
// itself is damaged).
func ReadFile(path string) (*Set, error) {
	r, err := safetensors.Open(path)
	if err != nil {
		return nil, fmt.Errorf("traj: read %s: %w", path, err)
	}
	defer r.Close()
	bad := func(format string, a ...any) error {
		return fmt.Errorf("traj: read %s: %s", path, fmt.Sprintf(format, a...))
	}
	if f := r.Metadata["format"]; f != fileFormat {
		return nil, bad("not a trajectory file (format %q, want %q)", f, fileFormat)
	}
	if v := r.Metadata["version"]; v != fileVersion {
		return nil, bad("unsupported version %q", v)
	}
	T, err := strconv.Atoi(r.Metadata["frames"])
	if err != nil || T < 1 || T > maxFrames {
		return nil, bad("bad frame count %q", r.Metadata["frames"])
	}
	shape := func(name string, rank int) ([]int, error) {
		dt, sh, ok := r.Shape(name)
		if !ok {
			return nil, bad("no tensor %q", name)
		}
		if dt != "F32" || len(sh) != rank || (rank == 2 && sh[1] != 2) {
			return nil, bad("tensor %q is %s %v", name, dt, sh)
		}
		return sh, nil
	}
	ss, err := shape("start", 1)
	if err != nil {
		return nil, err
	}
	ls, err := shape("length", 1)
	if err != nil {
		return nil, err
	}
	xs, err := shape("xy", 2)
	if err != nil {
		return nil, err
	}
	n := ss[0]
	if ls[0] != n {
		return nil, bad("%d starts but %d lengths", n, ls[0])
	}
	s := &Set{T: T, Start: make([]int32, n), Len: make([]int32, n), Off: make([]int64, n+1)}
	buf := make([]float32, min(n, ioChunk))
	for ci, name := range []string{"start", "length"} {
		dst := s.Start
		if ci == 1 {
			dst = s.Len
		}
		for lo := 0; lo < n; lo += ioChunk {
			b := buf[:min(ioChunk, n-lo)]
			if err := r.ReadRange(name, int64(lo), b); err != nil {
				return nil, fmt.Errorf("traj: read %s: %w", path, err)
			}
			for i, v := range b {
				if v != float32(math.Trunc(float64(v))) || v < 0 || v > maxFrames {
					return nil, bad("%s[%d] = %v is not a frame count", name, lo+i, v)
				}
				dst[lo+i] = int32(v)
			}
		}
	}
	for i, l := range s.Len {
		s.Off[i+1] = s.Off[i] + int64(l)
	}
	if s.Off[n] != int64(xs[0]) {
		return nil, bad("lengths sum to %d positions but \"xy\" holds %d", s.Off[n], xs[0])
	}
	s.XY = make([]float32, 2*xs[0])
	for lo := 0; lo < len(s.XY); lo += ioChunk {
		if err := r.ReadRange("xy", int64(lo), s.XY[lo:min(lo+ioChunk, len(s.XY))]); err != nil {
			return nil, fmt.Errorf("traj: read %s: %w", path, err)
		}
	}
	if err := s.Validate(); err != nil {
		return nil, fmt.Errorf("traj: read %s: %w", path, err)
	}
	return s, nil
}
