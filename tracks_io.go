package dinotracker

import (
	"bufio"
	"bytes"
	"encoding/binary"
	"encoding/csv"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"math"
	"os"
	"path/filepath"
	"strconv"
	"strings"

	"dinotracker/safetensors"
)

// tracksFormat is the "format" value of the JSON layout.
const tracksFormat = "dinotracker.tracks"

// tracksVersion is the JSON layout version WriteJSON writes.
const tracksVersion = 1

// checkFinite reports the first NaN or infinite point, confidence or query
// coordinate of tr.
func (tr *Tracks) checkFinite() error {
	bad := func(v float64) bool { return math.IsNaN(v) || math.IsInf(v, 0) }
	for i, q := range tr.Queries {
		if bad(q.X) || bad(q.Y) {
			return fmt.Errorf("dinotracker: tracks: query %d is (%v, %v); coordinates must be finite", i, q.X, q.Y)
		}
	}
	for i := range tr.Points {
		for t, p := range tr.Points[i] {
			if bad(float64(p[0])) || bad(float64(p[1])) {
				return fmt.Errorf("dinotracker: tracks: point of query %d in frame %d is (%v, %v); coordinates must be finite",
					i, t, p[0], p[1])
			}
		}
		for t, c := range tr.Confidence[i] {
			if bad(float64(c)) {
				return fmt.Errorf("dinotracker: tracks: confidence of query %d in frame %d is %v; it must be finite", i, t, c)
			}
		}
	}
	return nil
}

// checkWritable validates tr before it is written.
func (tr *Tracks) checkWritable() error {
	if err := tr.Validate(); err != nil {
		return err
	}
	return tr.checkFinite()
}

func appendF32(b []byte, v float32) []byte { return strconv.AppendFloat(b, float64(v), 'g', -1, 32) }
func appendF64(b []byte, v float64) []byte { return strconv.AppendFloat(b, v, 'g', -1, 64) }

// WriteJSON writes the tracks as one JSON object, the stable layout that
// ReadTracksJSON reads back:
//
//	{"format": "dinotracker.tracks", "version": 1,
//	 "width": W, "height": H, "frames": T,
//	 "queries":    [{"x": 12.5, "y": 40, "t": 0}, ...],   // [N]
//	 "points":     [[[x, y], [x, y], ...], ...],          // [N][T][2]
//	 "occluded":   [[false, true, ...], ...],             // [N][T]
//	 "confidence": [[0.93, 0.12, ...], ...]}              // [N][T], in [0, 1]
//
// Coordinates are input-frame pixels (Width×Height), x right and y down,
// integer values at pixel centres. Numbers are written as the shortest
// decimal that reads back to the same float32 (float64 for queries), so a
// round trip is exact; each query's row is on its own line. The tracks must
// pass Validate and hold only finite numbers (JSON has no NaN).
func (tr *Tracks) WriteJSON(w io.Writer) error {
	if err := tr.checkWritable(); err != nil {
		return fmt.Errorf("write tracks JSON: %w", err)
	}
	bw := bufio.NewWriterSize(w, 1<<16)
	b := make([]byte, 0, 256)
	b = fmt.Appendf(b, "{\"format\": %q, \"version\": %d, \"width\": %d, \"height\": %d, \"frames\": %d,\n\"queries\": [",
		tracksFormat, tracksVersion, tr.Width, tr.Height, tr.Frames)
	for i, q := range tr.Queries {
		if i > 0 {
			b = append(b, ", "...)
		}
		b = append(b, `{"x": `...)
		b = appendF64(b, q.X)
		b = append(b, `, "y": `...)
		b = appendF64(b, q.Y)
		b = append(b, `, "t": `...)
		b = strconv.AppendInt(b, int64(q.T), 10)
		b = append(b, '}')
		if len(b) > 4096 {
			bw.Write(b)
			b = b[:0]
		}
	}
	b = append(b, "],\n"...)
	section := func(name string, n int, row func(b []byte, i int) []byte) {
		b = append(b, '"')
		b = append(b, name...)
		b = append(b, "\": ["...)
		for i := range n {
			if i > 0 {
				b = append(b, ",\n  "...)
			}
			b = append(b, '[')
			b = row(b, i)
			b = append(b, ']')
			bw.Write(b)
			b = b[:0]
		}
		b = append(b, ']')
	}
	n := len(tr.Queries)
	section("points", n, func(b []byte, i int) []byte {
		for t, p := range tr.Points[i] {
			if t > 0 {
				b = append(b, ", "...)
			}
			b = append(b, '[')
			b = appendF32(b, p[0])
			b = append(b, ", "...)
			b = appendF32(b, p[1])
			b = append(b, ']')
		}
		return b
	})
	b = append(b, ",\n"...)
	section("occluded", n, func(b []byte, i int) []byte {
		for t, o := range tr.Occluded[i] {
			if t > 0 {
				b = append(b, ", "...)
			}
			b = strconv.AppendBool(b, o)
		}
		return b
	})
	b = append(b, ",\n"...)
	section("confidence", n, func(b []byte, i int) []byte {
		for t, c := range tr.Confidence[i] {
			if t > 0 {
				b = append(b, ", "...)
			}
			b = appendF32(b, c)
		}
		return b
	})
	b = append(b, "}\n"...)
	bw.Write(b)
	if err := bw.Flush(); err != nil {
		return fmt.Errorf("write tracks JSON: %w", err)
	}
	return nil
}

// tracksJSON mirrors the JSON layout. Numbers decode as json.Number so that
// a null (how some writers store NaN) is caught instead of becoming 0 and so
// that float32 values are parsed directly at float32 precision.
type tracksJSON struct {
	Format     *string           `json:"format"`
	Version    *int              `json:"version"`
	Width      *int              `json:"width"`
	Height     *int              `json:"height"`
	Frames     *int              `json:"frames"`
	Queries    []json.RawMessage `json:"queries"`
	Points     [][][]json.Number `json:"points"`
	Occluded   [][]*bool         `json:"occluded"`
	Confidence [][]json.Number   `json:"confidence"`
}

// jsonError rewords the decoder's error for the most common mistake, NaN or
// Infinity literals (Python's json.dump writes them), which JSON does not
// allow.
func jsonError(data []byte, err error) error {
	var se *json.SyntaxError
	if errors.As(err, &se) && se.Offset > 0 && int(se.Offset) <= len(data) {
		rest := data[se.Offset-1:]
		for _, lit := range []string{"NaN", "Infinity", "-Infinity", "inf", "nan"} {
			if bytes.HasPrefix(rest, []byte(lit)) {
				return fmt.Errorf("%s at byte %d: JSON has no NaN or infinity; every coordinate must be a finite number", lit, se.Offset-1)
			}
		}
		line := 1 + bytes.Count(data[:se.Offset-1], []byte{'\n'})
		return fmt.Errorf("line %d: %w", line, err)
	}
	return err
}

// parseNumber parses a json.Number at the given bit size, rejecting null
// (an empty Number), NaN and infinities.
func parseNumber(n json.Number, bits int) (float64, error) {
	if n == "" {
		return 0, errors.New("null or missing (NaN is not allowed)")
	}
	v, err := strconv.ParseFloat(string(n), bits)
	if err != nil {
		return 0, fmt.Errorf("%q is not a finite number", string(n))
	}
	if math.IsNaN(v) || math.IsInf(v, 0) {
		return 0, fmt.Errorf("%q is not finite", string(n))
	}
	return v, nil
}

// ReadTracksJSON reads tracks in the layout WriteJSON writes; "format" and
// "version" may be absent, other unknown keys are errors. The shapes are
// checked with Validate; null, NaN or infinite values, a wrong "format" or a
// newer "version" are errors that name the query and frame.
func ReadTracksJSON(r io.Reader) (*Tracks, error) {
	data, err := io.ReadAll(r)
	if err != nil {
		return nil, fmt.Errorf("read tracks JSON: %w", err)
	}
	dec := json.NewDecoder(bytes.NewReader(data))
	dec.DisallowUnknownFields()
	var raw tracksJSON
	if err := dec.Decode(&raw); err != nil {
		return nil, fmt.Errorf("read tracks JSON: %w", jsonError(data, err))
	}
	if raw.Format != nil && *raw.Format != tracksFormat {
		return nil, fmt.Errorf("read tracks JSON: format %q, want %q", *raw.Format, tracksFormat)
	}
	if raw.Version != nil && (*raw.Version < 1 || *raw.Version > tracksVersion) {
		return nil, fmt.Errorf("read tracks JSON: version %d is not supported (this build reads version %d)", *raw.Version, tracksVersion)
	}
	for _, f := range []struct {
		name string
		v    *int
	}{{"width", raw.Width}, {"height", raw.Height}, {"frames", raw.Frames}} {
		if f.v == nil {
			return nil, fmt.Errorf("read tracks JSON: %q is missing", f.name)
		}
	}
	qs, err := decodeQueries(raw.Queries)
	if err != nil {
		return nil, fmt.Errorf("read tracks JSON: %w", err)
	}
	n, frames := len(qs), *raw.Frames
	if len(raw.Points) != n || len(raw.Occluded) != n || len(raw.Confidence) != n {
		return nil, fmt.Errorf("read tracks JSON: %d queries but %d point rows, %d occlusion rows, %d confidence rows",
			n, len(raw.Points), len(raw.Occluded), len(raw.Confidence))
	}
	if frames < 1 || *raw.Width < 1 || *raw.Height < 1 {
		return nil, fmt.Errorf("read tracks JSON: bad size %d frames of %d×%d", frames, *raw.Width, *raw.Height)
	}
	for i := range n {
		if len(raw.Points[i]) != frames || len(raw.Occluded[i]) != frames || len(raw.Confidence[i]) != frames {
			return nil, fmt.Errorf("read tracks JSON: row %d has %d points, %d flags, %d confidences; want %d each",
				i, len(raw.Points[i]), len(raw.Occluded[i]), len(raw.Confidence[i]), frames)
		}
	}
	tr := NewTracks(*raw.Width, *raw.Height, frames, qs)
	for i := range n {
		for t := range frames {
			p := raw.Points[i][t]
			if len(p) != 2 {
				return nil, fmt.Errorf("read tracks JSON: point of query %d in frame %d has %d values, want [x, y]", i, t, len(p))
			}
			for k := range 2 {
				v, err := parseNumber(p[k], 32)
				if err != nil {
					return nil, fmt.Errorf("read tracks JSON: %s of query %d in frame %d: %w", "xy"[k:k+1], i, t, err)
				}
				tr.Points[i][t][k] = float32(v)
			}
			o := raw.Occluded[i][t]
			if o == nil {
				return nil, fmt.Errorf("read tracks JSON: occluded flag of query %d in frame %d is null", i, t)
			}
			tr.Occluded[i][t] = *o
			c, err := parseNumber(raw.Confidence[i][t], 32)
			if err != nil {
				return nil, fmt.Errorf("read tracks JSON: confidence of query %d in frame %d: %w", i, t, err)
			}
			tr.Confidence[i][t] = float32(c)
		}
	}
	if err := tr.Validate(); err != nil {
		return nil, fmt.Errorf("read tracks JSON: %w", err)
	}
	return tr, nil
}

// WriteCSV writes one row per (query, frame), query-major, after the header
//
//	query,frame,x,y,occluded,confidence,query_x,query_y,query_t
//	0,0,12.5,40,0,0.93,12.5,40,0
//
// occluded is 0 or 1; x and y are input-frame pixels; query_x, query_y and
// query_t repeat the row's query. The tracks must pass Validate; a NaN is
// written as NaN.
func (tr *Tracks) WriteCSV(w io.Writer) error {
	if err := tr.Validate(); err != nil {
		return fmt.Errorf("write tracks CSV: %w", err)
	}
	bw := bufio.NewWriterSize(w, 1<<16)
	bw.WriteString("query,frame,x,y,occluded,confidence,query_x,query_y,query_t\n")
	b := make([]byte, 0, 128)
	for i, q := range tr.Queries {
		qs := appendF64(nil, q.X)
		qs = append(qs, ',')
		qs = appendF64(qs, q.Y)
		qs = append(qs, ',')
		qs = strconv.AppendInt(qs, int64(q.T), 10)
		for t := range tr.Frames {
			b = strconv.AppendInt(b[:0], int64(i), 10)
			b = append(b, ',')
			b = strconv.AppendInt(b, int64(t), 10)
			b = append(b, ',')
			b = appendF32(b, tr.Points[i][t][0])
			b = append(b, ',')
			b = appendF32(b, tr.Points[i][t][1])
			if tr.Occluded[i][t] {
				b = append(b, ",1,"...)
			} else {
				b = append(b, ",0,"...)
			}
			b = appendF32(b, tr.Confidence[i][t])
			b = append(b, ',')
			b = append(b, qs...)
			b = append(b, '\n')
			bw.Write(b)
		}
	}
	if err := bw.Flush(); err != nil {
		return fmt.Errorf("write tracks CSV: %w", err)
	}
	return nil
}

// npyHeader returns the NPY v1.0 preamble (magic, version, header length and
// the header dictionary padded with spaces and a final newline to a multiple
// of 64 bytes) of a C-order little-endian float32 array of the given shape.
func npyHeader(shape ...int) []byte {
	dims := make([]string, len(shape))
	for i, d := range shape {
		dims[i] = strconv.Itoa(d)
	}
	s := strings.Join(dims, ", ")
	if len(shape) == 1 {
		s += ","
	}
	dict := fmt.Sprintf("{'descr': '<f4', 'fortran_order': False, 'shape': (%s), }", s)
	const pre = 10 // magic (6) + version (2) + header length (2)
	total := (pre + len(dict) + 1 + 63) / 64 * 64
	h := make([]byte, 0, total)
	h = append(h, "\x93NUMPY\x01\x00"...)
	h = binary.LittleEndian.AppendUint16(h, uint16(total-pre))
	h = append(h, dict...)
	for len(h) < total-1 {
		h = append(h, ' ')
	}
	return append(h, '\n')
}

// WriteNPY writes the tracks as a NumPy .npy (format version 1.0) file: one
// little-endian float32 ('<f4') array of shape [N, T, 4] in C order whose
// last axis is (x, y, occluded, confidence), x and y in input-frame pixels
// and occluded 1 or 0. The header is padded to a multiple of 64 bytes as the
// NPY specification asks; numpy.load(path) returns the array.
func (tr *Tracks) WriteNPY(w io.Writer) error {
	if err := tr.Validate(); err != nil {
		return fmt.Errorf("write tracks NPY: %w", err)
	}
	bw := bufio.NewWriterSize(w, 1<<16)
	bw.Write(npyHeader(len(tr.Queries), tr.Frames, 4))
	var rec [16]byte
	for i := range tr.Queries {
		for t := range tr.Frames {
			occ := float32(0)
			if tr.Occluded[i][t] {
				occ = 1
			}
			binary.LittleEndian.PutUint32(rec[0:], math.Float32bits(tr.Points[i][t][0]))
			binary.LittleEndian.PutUint32(rec[4:], math.Float32bits(tr.Points[i][t][1]))
			binary.LittleEndian.PutUint32(rec[8:], math.Float32bits(occ))
			binary.LittleEndian.PutUint32(rec[12:], math.Float32bits(tr.Confidence[i][t]))
			bw.Write(rec[:])
		}
	}
	if err := bw.Flush(); err != nil {
		return fmt.Errorf("write tracks NPY: %w", err)
	}
	return nil
}

// WriteFile writes the tracks to path in the format its extension names:
// .json (WriteJSON), .csv (WriteCSV) or .npy (WriteNPY), case-insensitive.
// The file is written atomically: to a temporary file in the same directory
// that is renamed over path on success and removed on error.
func (tr *Tracks) WriteFile(path string) error {
	var write func(io.Writer) error
	switch strings.ToLower(filepath.Ext(path)) {
	case ".json":
		write = tr.WriteJSON
	case ".csv":
		write = tr.WriteCSV
	case ".npy":
		write = tr.WriteNPY
	default:
		return fmt.Errorf("dinotracker: write tracks %s: unknown extension %q; use .json, .csv or .npy", path, filepath.Ext(path))
	}
	if err := tr.Validate(); err != nil { // before creating anything
		return fmt.Errorf("write tracks %s: %w", path, err)
	}
	if err := safetensors.WriteAtomic(path, write); err != nil {
		return fmt.Errorf("dinotracker: %w", err)
	}
	return nil
}

// ReadTracksFile reads a tracks file written by WriteFile in the JSON
// layout (.json); CSV and NPY are export formats and are not read back.
func ReadTracksFile(path string) (*Tracks, error) {
	if ext := strings.ToLower(filepath.Ext(path)); ext != ".json" {
		return nil, fmt.Errorf("dinotracker: read tracks %s: only the .json layout can be read back (got %q)", path, ext)
	}
	f, err := os.Open(path)
	if err != nil {
		return nil, fmt.Errorf("dinotracker: read tracks: %w", err)
	}
	defer f.Close()
	tr, err := ReadTracksJSON(f)
	if err != nil {
		return nil, fmt.Errorf("dinotracker: %s: %w", path, err)
	}
	return tr, nil
}

// TAPVidLayout holds tracks in the array layout of DeepMind's tapnet and
// the TAP-Vid evaluation (evaluation_datasets.compute_tapvid_metrics), with
// the batch axis dropped.
type TAPVidLayout struct {
	// Width and Height are the frame size the coordinates are in.
	Width, Height int
	// QueryPoints[i] is query i as (t, y, x): frame index, then row and
	// column, as tapnet orders query_points.
	QueryPoints [][3]float32
	// TargetPoints[i][t] is query i's (x, y) in frame t ([N][T][2]).
	TargetPoints [][][2]float32
	// Occluded[i][t] is true where query i is occluded in frame t ([N][T]).
	Occluded [][]bool
}

// TAPVid returns the tracks in tapnet's layout, in input-frame pixels; use
// Raster256 for TAP-Vid's 256×256 evaluation raster. The tracks must pass
// Validate. The result shares no memory with tr.
func (tr *Tracks) TAPVid() TAPVidLayout {
	n := len(tr.Queries)
	l := TAPVidLayout{Width: tr.Width, Height: tr.Height, QueryPoints: make([][3]float32, n),
		TargetPoints: make([][][2]float32, n), Occluded: make([][]bool, n)}
	for i, q := range tr.Queries {
		l.QueryPoints[i] = [3]float32{float32(q.T), float32(q.Y), float32(q.X)}
		l.TargetPoints[i] = append([][2]float32(nil), tr.Points[i]...)
		l.Occluded[i] = append([]bool(nil), tr.Occluded[i]...)
	}
	return l
}

// Raster256 returns a copy of l with query and target points mapped to the
// 256×256 raster of the TAP-Vid evaluation with ToRaster256 (Width and
// Height become 256); frame indices are unchanged.
func (l TAPVidLayout) Raster256() TAPVidLayout {
	w, h := float64(l.Width), float64(l.Height)
	out := TAPVidLayout{Width: 256, Height: 256, QueryPoints: make([][3]float32, len(l.QueryPoints)),
		TargetPoints: make([][][2]float32, len(l.TargetPoints)), Occluded: make([][]bool, len(l.Occluded))}
	for i, q := range l.QueryPoints {
		x, y := ToRaster256(float64(q[2]), float64(q[1]), w, h)
		out.QueryPoints[i] = [3]float32{q[0], float32(y), float32(x)}
	}
	for i, row := range l.TargetPoints {
		o := make([][2]float32, len(row))
		for t, p := range row {
			x, y := ToRaster256(float64(p[0]), float64(p[1]), w, h)
			o[t] = [2]float32{float32(x), float32(y)}
		}
		out.TargetPoints[i] = o
	}
	for i, row := range l.Occluded {
		out.Occluded[i] = append([]bool(nil), row...)
	}
	return out
}

// CoTrackerLayout holds tracks in the time-major layout of Meta's CoTracker
// (pred_tracks, pred_visibility), with the batch axis dropped.
type CoTrackerLayout struct {
	// Queries[i] is query i as (t, x, y), CoTracker's query order.
	Queries [][3]float32
	// Tracks[t][i] is query i's (x, y) in frame t ([T][N][2]).
	Tracks [][][2]float32
	// Visibility[t][i] is true where query i is visible in frame t ([T][N]),
	// the negation of Tracks.Occluded.
	Visibility [][]bool
	// Confidence[t][i] is the visibility score of query i in frame t
	// ([T][N]).
	Confidence [][]float32
}

// CoTracker returns the tracks transposed to CoTracker's time-major layout,
// in input-frame pixels. The tracks must pass Validate. The result shares no
// memory with tr.
func (tr *Tracks) CoTracker() CoTrackerLayout {
	n, frames := len(tr.Queries), tr.Frames
	l := CoTrackerLayout{Queries: make([][3]float32, n), Tracks: make([][][2]float32, frames),
		Visibility: make([][]bool, frames), Confidence: make([][]float32, frames)}
	for i, q := range tr.Queries {
		l.Queries[i] = [3]float32{float32(q.T), float32(q.X), float32(q.Y)}
	}
	pts := make([][2]float32, n*frames)
	vis := make([]bool, n*frames)
	conf := make([]float32, n*frames)
	for t := range frames {
		l.Tracks[t] = pts[t*n : (t+1)*n : (t+1)*n]
		l.Visibility[t] = vis[t*n : (t+1)*n : (t+1)*n]
		l.Confidence[t] = conf[t*n : (t+1)*n : (t+1)*n]
		for i := range n {
			l.Tracks[t][i] = tr.Points[i][t]
			l.Visibility[t][i] = !tr.Occluded[i][t]
			l.Confidence[t][i] = tr.Confidence[i][t]
		}
	}
	return l
}

// queryObject is one query in object form; "frame" is an alias of "t".
type queryObject struct {
	X     json.Number `json:"x"`
	Y     json.Number `json:"y"`
	T     json.Number `json:"t"`
	Frame json.Number `json:"frame"`
}

// queryFrame parses a frame index: a non-negative integer (3.0 is accepted).
func queryFrame(s string) (int, error) {
	if t, err := strconv.Atoi(s); err == nil {
		if t < 0 {
			return 0, fmt.Errorf("frame %d is negative", t)
		}
		return t, nil
	}
	v, err := strconv.ParseFloat(s, 64)
	if err != nil || math.IsNaN(v) || math.IsInf(v, 0) {
		return 0, fmt.Errorf("frame %q is not a number", s)
	}
	if v < 0 {
		return 0, fmt.Errorf("frame %v is negative", v)
	}
	if v != math.Trunc(v) || v > math.MaxInt32 {
		return 0, fmt.Errorf("frame %v is not an integer frame index", v)
	}
	return int(v), nil
}

// makeQuery checks and assembles one query from its textual fields.
func makeQuery(x, y, t string) (Query, error) {
	var q Query
	var err error
	if q.X, err = parseNumber(json.Number(x), 64); err != nil {
		return q, fmt.Errorf("x: %w", err)
	}
	if q.Y, err = parseNumber(json.Number(y), 64); err != nil {
		return q, fmt.Errorf("y: %w", err)
	}
	if t == "" {
		return q, errors.New("the frame (\"t\" or \"frame\") is missing or null")
	}
	if q.T, err = queryFrame(t); err != nil {
		return q, err
	}
	return q, nil
}

// decodeQueries decodes query objects or [x, y, t] triples.
func decodeQueries(items []json.RawMessage) ([]Query, error) {
	qs := make([]Query, len(items))
	for i, it := range items {
		it = bytes.TrimSpace(it)
		var err error
		switch {
		case len(it) > 0 && it[0] == '{':
			var o queryObject
			dec := json.NewDecoder(bytes.NewReader(it))
			dec.DisallowUnknownFields()
			if err = dec.Decode(&o); err != nil {
				err = fmt.Errorf("%w (a query has the keys x, y and t or frame)", err)
				break
			}
			t := string(o.T)
			if o.T != "" && o.Frame != "" && o.T != o.Frame {
				err = fmt.Errorf("both \"t\" (%s) and \"frame\" (%s) are given", o.T, o.Frame)
				break
			}
			if t == "" {
				t = string(o.Frame)
			}
			if o.X == "" || o.Y == "" {
				err = errors.New("\"x\" or \"y\" is missing or null (NaN is not allowed)")
				break
			}
			qs[i], err = makeQuery(string(o.X), string(o.Y), t)
		case len(it) > 0 && it[0] == '[':
			var v []json.Number
			if err = json.Unmarshal(it, &v); err != nil {
				break
			}
			if len(v) != 3 {
				err = fmt.Errorf("has %d values, want [x, y, t]", len(v))
				break
			}
			qs[i], err = makeQuery(string(v[0]), string(v[1]), string(v[2]))
		default:
			err = fmt.Errorf("%.40s is neither {\"x\", \"y\", \"t\"} nor [x, y, t]", it)
		}
		if err != nil {
			return nil, fmt.Errorf("query %d: %w", i, err)
		}
	}
	return qs, nil
}

// ReadQueriesJSON reads query points from JSON: an array of objects
// {"x": .., "y": .., "t": ..} ("frame" is accepted for "t"), an array of
// [x, y, t] triples, or an object with a "queries" array of either kind
// (such as a tracks file written by WriteJSON). x and y are input-frame
// pixels and t a non-negative frame index. Missing or null values, NaN,
// infinities, non-integer or negative frames and an empty list are errors
// naming the query. Bounds against the video are checked by Track.
func ReadQueriesJSON(r io.Reader) ([]Query, error) {
	data, err := io.ReadAll(r)
	if err != nil {
		return nil, fmt.Errorf("read queries JSON: %w", err)
	}
	trimmed := bytes.TrimSpace(data)
	var items []json.RawMessage
	if len(trimmed) > 0 && trimmed[0] == '{' {
		var obj struct {
			Queries []json.RawMessage `json:"queries"`
		}
		if err := json.Unmarshal(data, &obj); err != nil {
			return nil, fmt.Errorf("read queries JSON: %w", jsonError(data, err))
		}
		items = obj.Queries
	} else if err := json.Unmarshal(data, &items); err != nil {
		return nil, fmt.Errorf("read queries JSON: %w (want an array of {\"x\", \"y\", \"t\"} objects or [x, y, t] triples)",
			jsonError(data, err))
	}
	if len(items) == 0 {
		return nil, errors.New("read queries JSON: no queries")
	}
	qs, err := decodeQueries(items)
	if err != nil {
		return nil, fmt.Errorf("read queries JSON: %w", err)
	}
	return qs, nil
}

// ReadQueriesCSV reads query points from CSV with a header naming the
// columns x, y and t (or frame), in any order; lines starting with # are
// comments. The checks are those of ReadQueriesJSON.
func ReadQueriesCSV(r io.Reader) ([]Query, error) {
	cr := csv.NewReader(r)
	cr.Comment = '#'
	cr.TrimLeadingSpace = true
	head, err := cr.Read()
	if err == io.EOF {
		return nil, errors.New("read queries CSV: empty file; want a header x,y,t and one row per query")
	}
	if err != nil {
		return nil, fmt.Errorf("read queries CSV: %w", err)
	}
	col := map[string]int{}
	for i, h := range head {
		h = strings.ToLower(strings.TrimSpace(strings.TrimPrefix(h, "\ufeff")))
		if h == "frame" {
			h = "t"
		}
		switch h {
		case "x", "y", "t":
		default:
			return nil, fmt.Errorf("read queries CSV: column %q: the header must name the columns x, y and t (or frame)", head[i])
		}
		if _, dup := col[h]; dup {
			return nil, fmt.Errorf("read queries CSV: column %q appears twice", h)
		}
		col[h] = i
	}
	if len(col) != 3 {
		return nil, fmt.Errorf("read queries CSV: header %q: want the columns x, y and t (or frame)", strings.Join(head, ","))
	}
	var qs []Query
	for {
		rec, err := cr.Read()
		if err == io.EOF {
			break
		}
		if err != nil {
			return nil, fmt.Errorf("read queries CSV: %w", err)
		}
		line, _ := cr.FieldPos(0)
		q, err := makeQuery(strings.TrimSpace(rec[col["x"]]), strings.TrimSpace(rec[col["y"]]), strings.TrimSpace(rec[col["t"]]))
		if err != nil {
			return nil, fmt.Errorf("read queries CSV: line %d (query %d): %w", line, len(qs), err)
		}
		qs = append(qs, q)
	}
	if len(qs) == 0 {
		return nil, errors.New("read queries CSV: no queries")
	}
	return qs, nil
}

// ReadQueriesFile reads query points from a .json file (ReadQueriesJSON) or
// a .csv file (ReadQueriesCSV).
func ReadQueriesFile(path string) ([]Query, error) {
	var read func(io.Reader) ([]Query, error)
	switch strings.ToLower(filepath.Ext(path)) {
	case ".json":
		read = ReadQueriesJSON
	case ".csv":
		read = ReadQueriesCSV
	default:
		return nil, fmt.Errorf("dinotracker: queries file %s: unknown extension %q; use .json or .csv", path, filepath.Ext(path))
	}
	f, err := os.Open(path)
	if err != nil {
		return nil, fmt.Errorf("dinotracker: queries: %w", err)
	}
	defer f.Close()
	qs, err := read(f)
	if err != nil {
		return nil, fmt.Errorf("dinotracker: %s: %w", path, err)
	}
	return qs, nil
}
