package dinotracker

import (
	"bytes"
	"encoding/binary"
	"fmt"
	"math"
	"math/rand/v2"
	"os"
	"os/exec"
	"path/filepath"
	"reflect"
	"strings"
	"testing"
)

// testTracks returns 3 queries over 5 frames of a 64×48 video with random
// float32 values (seeded), so round trips exercise full precision.
func testTracks() *Tracks {
	rng := rand.New(rand.NewPCG(7, 7))
	qs := []Query{{X: 10.25, Y: 20, T: 0}, {X: 1.0 / 3, Y: 47, T: 4}, {X: 63, Y: 0.5, T: 2}}
	tr := NewTracks(64, 48, 5, qs)
	for i := range qs {
		for t := range 5 {
			tr.Points[i][t] = [2]float32{rng.Float32() * 64, rng.Float32() * 48}
			tr.Confidence[i][t] = rng.Float32()
			tr.Occluded[i][t] = tr.Confidence[i][t] < ConfidenceThreshold
		}
	}
	tr.Points[0][1] = [2]float32{1e-7, 3.4e38} // exponents in the output
	return tr
}

func TestTracksJSONRoundTrip(t *testing.T) {
	tr := testTracks()
	var buf bytes.Buffer
	if err := tr.WriteJSON(&buf); err != nil {
		t.Fatal(err)
	}
	if !strings.HasPrefix(buf.String(), `{"format": "dinotracker.tracks", "version": 1, "width": 64, "height": 48, "frames": 5,`) {
		t.Errorf("JSON starts %.100q", buf.String())
	}
	got, err := ReadTracksJSON(bytes.NewReader(buf.Bytes()))
	if err != nil {
		t.Fatalf("%v\n%s", err, buf.String())
	}
	if !reflect.DeepEqual(got, tr) {
		t.Errorf("round trip differs:\ngot  %+v\nwant %+v", got, tr)
	}

	// Zero queries round-trip too.
	empty := NewTracks(8, 8, 2, nil)
	buf.Reset()
	if err := empty.WriteJSON(&buf); err != nil {
		t.Fatal(err)
	}
	got, err = ReadTracksJSON(&buf)
	if err != nil {
		t.Fatal(err)
	}
	if got.Len() != 0 || got.Frames != 2 || got.Width != 8 {
		t.Errorf("empty round trip: %+v", got)
	}
}

func TestTracksJSONErrors(t *testing.T) {
	ok := `{"width": 4, "height": 4, "frames": 2, "queries": [{"x": 1, "y": 2, "t": 0}],
		"points": [[[1, 2], [3, 4]]], "occluded": [[false, true]], "confidence": [[0.9, 0.1]]}`
	if _, err := ReadTracksJSON(strings.NewReader(ok)); err != nil {
		t.Fatalf("minimal file: %v", err)
	}
	for _, c := range []struct{ name, in, want string }{
		{"nan", strings.Replace(ok, "[3, 4]", "[NaN, 4]", 1), "NaN at byte"},
		{"inf", strings.Replace(ok, "0.1]", "-Infinity]", 1), "Infinity at byte"},
		{"null", strings.Replace(ok, "[3, 4]", "[3, null]", 1), "y of query 0 in frame 1: null"},
		{"null conf", strings.Replace(ok, "0.1]", "null]", 1), "confidence of query 0 in frame 1"},
		{"huge", strings.Replace(ok, "[3, 4]", "[3, 1e50]", 1), "not a finite number"},
		{"short row", strings.Replace(ok, "[[1, 2], [3, 4]]", "[[1, 2]]", 1), "row 0 has 1 points"},
		{"three values", strings.Replace(ok, "[3, 4]", "[3, 4, 5]", 1), "has 3 values"},
		{"rows", strings.Replace(ok, `[[false, true]]`, `[[false, true], [true, true]]`, 1), "1 queries but 1 point rows, 2 occlusion rows"},
		{"query frame", strings.Replace(ok, `"t": 0`, `"t": 2`, 1), "query 0 is at frame 2 of 2"},
		{"negative frame", strings.Replace(ok, `"t": 0`, `"t": -1`, 1), "negative"},
		{"missing width", strings.Replace(ok, `"width": 4,`, ``, 1), `"width" is missing`},
		{"unknown key", strings.Replace(ok, `"width": 4,`, `"width": 4, "fps": 3,`, 1), `unknown field "fps"`},
		{"format", strings.Replace(ok, `{"width"`, `{"format": "other", "width"`, 1), `format "other"`},
		{"version", strings.Replace(ok, `{"width"`, `{"version": 9, "width"`, 1), `version 9 is not supported`},
		{"size", strings.Replace(ok, `"frames": 2`, `"frames": 0`, 1), `bad size 0 frames of 4×4`},
	} {
		_, err := ReadTracksJSON(strings.NewReader(c.in))
		if err == nil || !strings.Contains(err.Error(), c.want) {
			t.Errorf("%s: err = %v, want it to contain %q", c.name, err, c.want)
		}
	}
	tr := testTracks()
	tr.Points[1][2][0] = float32(math.NaN())
	if err := tr.WriteJSON(&bytes.Buffer{}); err == nil || !strings.Contains(err.Error(), "query 1 in frame 2") {
		t.Errorf("WriteJSON with a NaN: %v", err)
	}
}

func TestTracksCSV(t *testing.T) {
	tr := NewTracks(10, 10, 2, []Query{{X: 1.5, Y: 2, T: 1}})
	tr.Points[0] = [][2]float32{{0.25, 3}, {1.5, 2}}
	tr.Occluded[0] = []bool{true, false}
	tr.Confidence[0] = []float32{0.125, 1}
	var buf bytes.Buffer
	if err := tr.WriteCSV(&buf); err != nil {
		t.Fatal(err)
	}
	want := "query,frame,x,y,occluded,confidence,query_x,query_y,query_t\n" +
		"0,0,0.25,3,1,0.125,1.5,2,1\n" +
		"0,1,1.5,2,0,1,1.5,2,1\n"
	if buf.String() != want {
		t.Errorf("CSV:\n%s\nwant\n%s", buf.String(), want)
	}
}

func TestNPYHeader(t *testing.T) {
	for _, shape := range [][]int{{3, 5, 4}, {0, 1, 4}, {1234567, 89, 4}, {7}} {
		h := npyHeader(shape...)
		if len(h)%64 != 0 {
			t.Errorf("%v: header is %d bytes, not a multiple of 64", shape, len(h))
		}
		if string(h[:8]) != "\x93NUMPY\x01\x00" {
			t.Errorf("%v: magic/version %q", shape, h[:8])
		}
		if n := int(binary.LittleEndian.Uint16(h[8:10])); n != len(h)-10 {
			t.Errorf("%v: header length field %d, want %d", shape, n, len(h)-10)
		}
		if h[len(h)-1] != '\n' {
			t.Errorf("%v: header does not end in a newline", shape)
		}
	}
	h := npyHeader(3, 5, 4)
	dict := "{'descr': '<f4', 'fortran_order': False, 'shape': (3, 5, 4), }"
	// 10 + 62 + 1 bytes round up to 128: header length 118 = 0x76.
	want := "\x93NUMPY\x01\x00\x76\x00" + dict + strings.Repeat(" ", 128-10-len(dict)-1) + "\n"
	if string(h) != want {
		t.Errorf("header\n%q\nwant\n%q", h, want)
	}
	if got := string(npyHeader(7)); !strings.Contains(got, "'shape': (7,), }") {
		t.Errorf("1-d shape: %q", got)
	}
}

func TestNPYData(t *testing.T) {
	tr := testTracks()
	var buf bytes.Buffer
	if err := tr.WriteNPY(&buf); err != nil {
		t.Fatal(err)
	}
	h := npyHeader(3, 5, 4)
	b := buf.Bytes()
	if !bytes.Equal(b[:len(h)], h) {
		t.Fatalf("header %q, want %q", b[:len(h)], h)
	}
	data := b[len(h):]
	if len(data) != 3*5*4*4 {
		t.Fatalf("%d data bytes, want %d", len(data), 3*5*4*4)
	}
	f := func(k int) float32 { return math.Float32frombits(binary.LittleEndian.Uint32(data[4*k:])) }
	for i := range 3 {
		for tt := range 5 {
			k := (i*5 + tt) * 4
			occ := float32(0)
			if tr.Occluded[i][tt] {
				occ = 1
			}
			if f(k) != tr.Points[i][tt][0] || f(k+1) != tr.Points[i][tt][1] || f(k+2) != occ || f(k+3) != tr.Confidence[i][tt] {
				t.Errorf("[%d,%d] = (%v %v %v %v), want (%v %v %v %v)", i, tt, f(k), f(k+1), f(k+2), f(k+3),
					tr.Points[i][tt][0], tr.Points[i][tt][1], occ, tr.Confidence[i][tt])
			}
		}
	}
}

// TestNPYNumpy loads the file with numpy when python3 and numpy are
// installed; nothing else depends on Python.
func TestNPYNumpy(t *testing.T) {
	if exec.Command("python3", "-c", "import numpy").Run() != nil {
		t.Skip("python3 with numpy is not installed")
	}
	tr := testTracks()
	path := filepath.Join(t.TempDir(), "tracks.npy")
	if err := tr.WriteFile(path); err != nil {
		t.Fatal(err)
	}
	out, err := exec.Command("python3", "-c", `import sys, numpy as np
a = np.load(sys.argv[1])
assert a.dtype == np.dtype('<f4') and a.shape == (3, 5, 4) and a.flags.c_contiguous, (a.dtype, a.shape)
print(repr(float(a[1, 3, 0])), repr(float(a[2, 4, 3])), int(a[:, :, 2].sum()))`, path).CombinedOutput()
	if err != nil {
		t.Fatalf("numpy: %v\n%s", err, out)
	}
	occ := 0
	for i := range 3 {
		for tt := range 5 {
			if tr.Occluded[i][tt] {
				occ++
			}
		}
	}
	var x, c float64
	var n int
	if _, err := fmt.Sscan(string(out), &x, &c, &n); err != nil {
		t.Fatalf("numpy output %q: %v", out, err)
	}
	if float32(x) != tr.Points[1][3][0] || float32(c) != tr.Confidence[2][4] || n != occ {
		t.Errorf("numpy read %v %v %d, want %v %v %d", x, c, n, tr.Points[1][3][0], tr.Confidence[2][4], occ)
	}
}

func TestTracksWriteFile(t *testing.T) {
	dir := t.TempDir()
	tr := testTracks()
	for _, name := range []string{"t.json", "t.CSV", "t.npy"} {
		if err := tr.WriteFile(filepath.Join(dir, name)); err != nil {
			t.Fatalf("%s: %v", name, err)
		}
	}
	got, err := ReadTracksFile(filepath.Join(dir, "t.json"))
	if err != nil {
		t.Fatal(err)
	}
	if !reflect.DeepEqual(got, tr) {
		t.Error("WriteFile/ReadTracksFile round trip differs")
	}
	if err := tr.WriteFile(filepath.Join(dir, "t.txt")); err == nil || !strings.Contains(err.Error(), ".json, .csv or .npy") {
		t.Errorf("unknown extension: %v", err)
	}

	// A failing write leaves neither the target nor a temporary file.
	bad := testTracks()
	bad.Confidence[2][0] = float32(math.Inf(1))
	if err := bad.WriteFile(filepath.Join(dir, "bad.json")); err == nil {
		t.Fatal("writing an infinite confidence to JSON succeeded")
	}
	bad = testTracks()
	bad.Occluded[1] = bad.Occluded[1][:2]
	if err := bad.WriteFile(filepath.Join(dir, "bad.npy")); err == nil {
		t.Fatal("writing invalid tracks succeeded")
	}
	ents, err := os.ReadDir(dir)
	if err != nil {
		t.Fatal(err)
	}
	var names []string
	for _, e := range ents {
		names = append(names, e.Name())
	}
	if want := []string{"t.CSV", "t.json", "t.npy"}; !reflect.DeepEqual(names, want) {
		t.Errorf("directory holds %v, want %v", names, want)
	}
}

func TestTAPVidLayout(t *testing.T) {
	tr := testTracks()
	l := tr.TAPVid()
	if l.Width != 64 || l.Height != 48 || len(l.QueryPoints) != 3 || len(l.TargetPoints) != 3 || len(l.Occluded) != 3 {
		t.Fatalf("layout shape: %+v", l)
	}
	if q := l.QueryPoints[1]; q != [3]float32{4, 47, float32(1.0 / 3)} {
		t.Errorf("query 1 = %v, want (t, y, x) = (4, 47, 0.333)", q)
	}
	if l.TargetPoints[2][3] != tr.Points[2][3] || l.Occluded[0][4] != tr.Occluded[0][4] {
		t.Error("target points or occlusion differ")
	}
	l.TargetPoints[0][0][0] = -1
	if tr.Points[0][0][0] == -1 {
		t.Error("the layout shares memory with the tracks")
	}
	r := tr.TAPVid().Raster256()
	if r.Width != 256 || r.Height != 256 {
		t.Errorf("raster size %dx%d", r.Width, r.Height)
	}
	if q := r.QueryPoints[0]; q != [3]float32{0, 20 * 256.0 / 48, 10.25 * 256.0 / 64} {
		t.Errorf("raster query 0 = %v", q)
	}
	x, y := ToRaster256(float64(tr.Points[2][1][0]), float64(tr.Points[2][1][1]), 64, 48)
	if p := r.TargetPoints[2][1]; p != [2]float32{float32(x), float32(y)} {
		t.Errorf("raster point = %v, want (%v, %v)", p, x, y)
	}
}

func TestCoTrackerLayout(t *testing.T) {
	tr := testTracks()
	l := tr.CoTracker()
	if len(l.Tracks) != 5 || len(l.Visibility) != 5 || len(l.Confidence) != 5 || len(l.Queries) != 3 {
		t.Fatalf("layout shape: %d %d %d %d", len(l.Tracks), len(l.Visibility), len(l.Confidence), len(l.Queries))
	}
	if q := l.Queries[2]; q != [3]float32{2, 63, 0.5} {
		t.Errorf("query 2 = %v, want (t, x, y) = (2, 63, 0.5)", q)
	}
	for tt := range 5 {
		if len(l.Tracks[tt]) != 3 {
			t.Fatalf("frame %d has %d tracks", tt, len(l.Tracks[tt]))
		}
		for i := range 3 {
			if l.Tracks[tt][i] != tr.Points[i][tt] || l.Visibility[tt][i] == tr.Occluded[i][tt] || l.Confidence[tt][i] != tr.Confidence[i][tt] {
				t.Errorf("[t=%d][n=%d] differs", tt, i)
			}
		}
	}
}

func TestReadQueriesJSON(t *testing.T) {
	want := []Query{{X: 1.5, Y: 2, T: 0}, {X: 3, Y: 4, T: 7}}
	for _, in := range []string{
		`[{"x": 1.5, "y": 2, "t": 0}, {"x": 3, "y": 4, "t": 7}]`,
		`[{"x": 1.5, "y": 2, "frame": 0}, {"x": 3, "y": 4, "frame": 7.0}]`,
		`[[1.5, 2, 0], [3, 4, 7]]`,
		`[[1.5, 2, 0], {"x": 3, "y": 4, "t": 7}]`,
		`{"queries": [[1.5, 2, 0], [3, 4, 7]]}`,
	} {
		got, err := ReadQueriesJSON(strings.NewReader(in))
		if err != nil {
			t.Errorf("%s: %v", in, err)
			continue
		}
		if !reflect.DeepEqual(got, want) {
			t.Errorf("%s: got %v, want %v", in, got, want)
		}
	}
	for _, c := range []struct{ in, want string }{
		{`[]`, "no queries"},
		{`[[1, NaN, 0]]`, "NaN at byte 5"},
		{`[{"x": 1, "y": null, "t": 0}]`, `query 0: "x" or "y" is missing or null`},
		{`[{"x": 1, "t": 0}]`, `query 0: "x" or "y" is missing`},
		{`[{"x": 1, "y": 2}]`, `query 0: the frame ("t" or "frame") is missing`},
		{`[[1, 2, 0], [1, 2, -3]]`, "query 1: frame -3 is negative"},
		{`[[1, 2, 0.5]]`, "not an integer frame"},
		{`[[1, 2]]`, "has 2 values, want [x, y, t]"},
		{`[{"x": 1, "y": 2, "t": 0, "z": 1}]`, `unknown field "z"`},
		{`[{"x": 1, "y": 2, "t": 0, "frame": 1}]`, `both "t" (0) and "frame" (1)`},
		{`[3]`, "neither"},
		{`{"x": 1}`, "no queries"},
	} {
		_, err := ReadQueriesJSON(strings.NewReader(c.in))
		if err == nil || !strings.Contains(err.Error(), c.want) {
			t.Errorf("%s: err = %v, want it to contain %q", c.in, err, c.want)
		}
	}
}

func TestReadQueriesFile(t *testing.T) {
	dir := t.TempDir()
	write := func(name, s string) string {
		p := filepath.Join(dir, name)
		if err := os.WriteFile(p, []byte(s), 0o644); err != nil {
			t.Fatal(err)
		}
		return p
	}
	want := []Query{{X: 1.5, Y: 2, T: 0}, {X: 3, Y: 4, T: 7}}
	for _, p := range []string{
		write("a.csv", "x,y,t\n1.5,2,0\n3,4,7\n"),
		write("b.csv", "# comment\nframe, y, x\n0, 2, 1.5\n7, 4, 3\n"),
		write("c.json", `[[1.5, 2, 0], [3, 4, 7]]`),
	} {
		got, err := ReadQueriesFile(p)
		if err != nil {
			t.Errorf("%s: %v", p, err)
		} else if !reflect.DeepEqual(got, want) {
			t.Errorf("%s: got %v, want %v", p, got, want)
		}
	}
	for _, c := range []struct{ name, in, want string }{
		{"nan.csv", "x,y,t\n1,NaN,0\n", `line 2 (query 0): y: "NaN" is not finite`},
		{"neg.csv", "x,y,t\n1,2,0\n1,2,-1\n", "line 3 (query 1): frame -1 is negative"},
		{"head.csv", "x,y,z\n1,2,0\n", `column "z"`},
		{"missing.csv", "x,y\n1,2\n", "want the columns x, y and t"},
		{"empty.csv", "", "empty file"},
		{"none.csv", "x,y,t\n", "no queries"},
		{"q.txt", "", `unknown extension ".txt"`},
	} {
		_, err := ReadQueriesFile(write(c.name, c.in))
		if err == nil || !strings.Contains(err.Error(), c.want) {
			t.Errorf("%s: err = %v, want it to contain %q", c.name, err, c.want)
		}
	}
}
