package bestbuddies

import (
	"encoding/json"
	"fmt"
	"strconv"

	"dinotracker/safetensors"
)

// FileFormat is the "format" metadata value of files written by Save.
const FileFormat = "dinotracker/bestbuddies v1"

// pairHeader is one ordered frame pair in a saved file's "pairs" metadata.
type pairHeader struct {
	S, T, N, Raw int
}

type fileHeader struct {
	T, C     int
	Grid     Grid
	Filtered bool
	Pairs    []pairHeader
}

// Save writes r to path atomically (temporary file, then rename) as
// safetensors: for each ordered pair (s, t) with n > 0 best buddies, the F32
// tensors "s_t/source" and "s_t/target" [n, 2] (pixel (x, y)), "s_t/cos" [n],
// "s_t/peak_affs" [n, 2] and "s_t/r" [n] — the reference's dictionary entry
// "s_t". The metadata records the grid, the searched pairs (including empty
// ones) and the options fingerprint that Compute checks when resuming.
func Save(path string, r *Result) error {
	h := fileHeader{T: r.T, C: r.C, Grid: r.Grid, Filtered: r.Filtered}
	var entries []safetensors.Entry
	for _, k := range r.Keys() {
		p := r.Pairs[k]
		n := p.Len()
		h.Pairs = append(h.Pairs, pairHeader{S: k[0], T: k[1], N: n, Raw: p.Raw})
		if n == 0 {
			continue
		}
		name := fmt.Sprintf("%d_%d/", k[0], k[1])
		flat2 := func(v [][2]float32) []float32 {
			out := make([]float32, 0, 2*len(v))
			for _, x := range v {
				out = append(out, x[0], x[1])
			}
			return out
		}
		entries = append(entries,
			safetensors.Entry{Name: name + "source", DType: "F32", Shape: []int{n, 2}, Data: flat2(p.Source)},
			safetensors.Entry{Name: name + "target", DType: "F32", Shape: []int{n, 2}, Data: flat2(p.Target)},
			safetensors.Entry{Name: name + "cos", DType: "F32", Shape: []int{n}, Data: p.Cos})
		if p.PeakAffs != nil && p.R != nil {
			entries = append(entries,
				safetensors.Entry{Name: name + "peak_affs", DType: "F32", Shape: []int{n, 2}, Data: flat2(p.PeakAffs)},
				safetensors.Entry{Name: name + "r", DType: "F32", Shape: []int{n}, Data: p.R})
		}
	}
	hj, err := json.Marshal(h)
	if err != nil {
		return err
	}
	meta := map[string]string{"format": FileFormat, "header": string(hj), "config": r.Config}
	return safetensors.WriteFile(path, entries, meta)
}

// Load reads a file written by Save.
func Load(path string) (*Result, error) {
	f, err := safetensors.ReadFile(path)
	if err != nil {
		return nil, err
	}
	if f.Metadata["format"] != FileFormat {
		return nil, fmt.Errorf("bestbuddies: %s is not a best-buddies file (format %q)", path, f.Metadata["format"])
	}
	var h fileHeader
	if err := json.Unmarshal([]byte(f.Metadata["header"]), &h); err != nil {
		return nil, fmt.Errorf("bestbuddies: %s: header: %w", path, err)
	}
	if err := h.Grid.validate(); err != nil {
		return nil, fmt.Errorf("%s: %w", path, err)
	}
	r := &Result{T: h.T, C: h.C, Grid: h.Grid, Filtered: h.Filtered, Config: f.Metadata["config"], Pairs: map[[2]int]*Pairs{}}
	for _, ph := range h.Pairs {
		p := &Pairs{Raw: ph.Raw}
		if ph.N > 0 {
			name := strconv.Itoa(ph.S) + "_" + strconv.Itoa(ph.T) + "/"
			get := func(suffix string, width int, optional bool) ([]float32, error) {
				t, ok := f.Tensors[name+suffix]
				if !ok {
					if optional {
						return nil, nil
					}
					return nil, fmt.Errorf("bestbuddies: %s: tensor %s%s missing", path, name, suffix)
				}
				v, err := t.Float32()
				if err != nil {
					return nil, err
				}
				if len(v) != ph.N*width {
					return nil, fmt.Errorf("bestbuddies: %s: tensor %s%s holds %d values, want %d", path, name, suffix, len(v), ph.N*width)
				}
				return v, nil
			}
			src, err := get("source", 2, false)
			if err != nil {
				return nil, err
			}
			dst, err := get("target", 2, false)
			if err != nil {
				return nil, err
			}
			if p.Cos, err = get("cos", 1, false); err != nil {
				return nil, err
			}
			pk, err := get("peak_affs", 2, true)
			if err != nil {
				return nil, err
			}
			if p.R, err = get("r", 1, true); err != nil {
				return nil, err
			}
			for i := 0; i < ph.N; i++ {
				a, okA := h.Grid.Token(src[2*i], src[2*i+1])
				b, okB := h.Grid.Token(dst[2*i], dst[2*i+1])
				if !okA || !okB {
					return nil, fmt.Errorf("bestbuddies: %s: pair %s%d outside the token grid", path, name, i)
				}
				p.SourceTok = append(p.SourceTok, int32(a))
				p.TargetTok = append(p.TargetTok, int32(b))
				p.Source = append(p.Source, [2]float32{src[2*i], src[2*i+1]})
				p.Target = append(p.Target, [2]float32{dst[2*i], dst[2*i+1]})
				if pk != nil {
					p.PeakAffs = append(p.PeakAffs, [2]float32{pk[2*i], pk[2*i+1]})
				}
			}
		} else {
			p.PeakAffs, p.R = [][2]float32{}, []float32{}
		}
		r.Pairs[[2]int{ph.S, ph.T}] = p
	}
	return r, nil
}
