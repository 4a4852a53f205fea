package main

import (
	"encoding/csv"
	"encoding/json"
	"fmt"
	"image"
	"image/color"
	"image/png"
	"math"
	"math/rand/v2"
	"os"
	"path/filepath"
	"reflect"
	"strconv"
	"strings"
	"testing"

	"dinotracker"
)

// writeEvalVideo adds video idx to a dataset folder laid out like
// tapvid-davis-32f: T PNG frames of w×h showing a texture of soft blobs that
// moves by (dx, dy) pixels per frame, and the ground truth of 3 tracks
// queried at frame 0 and 2 at frame 2 (strided queries). Track 1 is marked
// occluded at frame 1 (its position still follows the texture).
func writeEvalVideo(t *testing.T, root string, idx, T, w, h, dx, dy int) {
	t.Helper()
	m := max(dx, dy)*T + 4
	bw, bh := w+2*m, h+2*m
	base := make([][3]float64, bw*bh)
	r := rand.New(rand.NewPCG(uint64(idx), 3))
	for i := range base {
		base[i] = [3]float64{70, 70, 70}
	}
	for b := 0; b < bw*bh/30; b++ {
		cx, cy, rad := r.Float64()*float64(bw), r.Float64()*float64(bh), 1.5+2.5*r.Float64()
		col := [3]float64{r.Float64()*180 - 60, r.Float64()*180 - 60, r.Float64()*180 - 60}
		for y := max(0, int(cy-3*rad)); y < min(bh, int(cy+3*rad)+1); y++ {
			for x := max(0, int(cx-3*rad)); x < min(bw, int(cx+3*rad)+1); x++ {
				g := math.Exp(-((float64(x)-cx)*(float64(x)-cx) + (float64(y)-cy)*(float64(y)-cy)) / (2 * rad * rad))
				for c := range 3 {
					base[y*bw+x][c] += g * col[c]
				}
			}
		}
	}
	frames := filepath.Join(root, "videos", strconv.Itoa(idx), "video")
	if err := os.MkdirAll(frames, 0o755); err != nil {
		t.Fatal(err)
	}
	for k := 0; k < T; k++ {
		img := image.NewRGBA(image.Rect(0, 0, w, h))
		for y := 0; y < h; y++ {
			for x := 0; x < w; x++ {
				p := base[(y-k*dy+m)*bw+x-k*dx+m]
				c := func(v float64) uint8 { return uint8(min(255, max(0, v))) }
				img.Set(x, y, color.RGBA{c(p[0]), c(p[1]), c(p[2]), 255})
			}
		}
		f, err := os.Create(filepath.Join(frames, fmt.Sprintf("%05d.png", k)))
		if err != nil {
			t.Fatal(err)
		}
		if err := png.Encode(f, img); err != nil {
			t.Fatal(err)
		}
		f.Close()
	}
	type query struct {
		QueryFrame int          `json:"query_frame"`
		QueryXY    [2]float64   `json:"query_xy"`
		TrackXY    [][2]float64 `json:"track_xy"`
		Occluded   []bool       `json:"occluded"`
		IsFG       bool         `json:"is_fg"`
	}
	var qs []query
	for i, q := range []struct {
		x, y float64
		t    int
	}{{20, 20, 0}, {40.5, 25, 0}, {30, 35.5, 0}, {25, 30, 2}, {45, 20, 2}} {
		tr := make([][2]float64, T)
		occ := make([]bool, T)
		for k := range tr {
			tr[k] = [2]float64{q.x + float64((k-q.t)*dx), q.y + float64((k-q.t)*dy)}
		}
		if i == 1 {
			occ[1] = true
		}
		qs = append(qs, query{q.t, tr[q.t], tr, occ, i%2 == 0})
	}
	b, err := json.Marshal(map[string]any{"video_idx": idx, "davis_name": fmt.Sprintf("synthetic-%d", idx), "width": w, "height": h,
		"num_frames": T, "queries": qs})
	if err != nil {
		t.Fatal(err)
	}
	if err := os.MkdirAll(filepath.Join(root, "gt_json"), 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(root, "gt_json", fmt.Sprintf("video_%02d.json", idx)), b, 0o644); err != nil {
		t.Fatal(err)
	}
}

func readCSV(t *testing.T, path string) [][]string {
	t.Helper()
	f, err := os.Open(path)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	recs, err := csv.NewReader(f).ReadAll()
	if err != nil {
		t.Fatal(err)
	}
	return recs
}

func TestEvalFlow(t *testing.T) {
	root := t.TempDir()
	writeEvalVideo(t, root, 3, 4, 72, 56, 2, 1)
	writeEvalVideo(t, root, 11, 4, 72, 56, 1, 2)
	dir := t.TempDir()
	out := filepath.Join(dir, "res", "flow.csv")
	tracks := filepath.Join(dir, "tracks")
	code, stdout, stderr := cli(t, "eval", "-method", "flow", "-dataset", root, "-out", out, "-tracks", tracks, "-flow-preset", "fast")
	if code != 0 {
		t.Fatalf("exit %d: %s %s", code, stdout, stderr)
	}
	// The table: a row per video and the mean.
	lines := strings.Split(strings.TrimSpace(stdout), "\n")
	if len(lines) != 6 || !strings.Contains(lines[1], "AJ") || !strings.HasPrefix(lines[2], "3 ") ||
		!strings.HasPrefix(lines[3], "11 ") || !strings.HasPrefix(lines[4], "mean") || !strings.HasPrefix(lines[5], "mean over 2 videos (10 queries)") {
		t.Fatalf("stdout:\n%s", stdout)
	}
	if !strings.Contains(stderr, "flow ") || !strings.Contains(stderr, "track ") {
		t.Errorf("no progress bars in stderr %q", stderr)
	}
	recs := readCSV(t, out)
	if !reflect.DeepEqual(recs[0], strings.Split("video_idx,davis_name,occlusion_accuracy,pts_within_1,pts_within_2,pts_within_4,pts_within_8,pts_within_16,jaccard_1,jaccard_2,jaccard_4,jaccard_8,jaccard_16,average_jaccard,average_pts_within_thresh,fit_seconds,track_seconds", ",")) {
		t.Fatalf("header %v", recs[0])
	}
	if len(recs) != 4 || recs[1][0] != "3" || recs[1][1] != "synthetic-3" || recs[2][0] != "11" || recs[3][0] != "mean" {
		t.Fatalf("rows %v", recs)
	}
	col := func(row []string, name string) float64 {
		for i, h := range recs[0] {
			if h == name {
				v, err := strconv.ParseFloat(row[i], 64)
				if err != nil {
					t.Fatal(err)
				}
				return v
			}
		}
		t.Fatalf("no column %s", name)
		return 0
	}
	for _, name := range recs[0][2:] {
		a, b, mean := col(recs[1], name), col(recs[2], name), col(recs[3], name)
		tol := 2e-6
		if strings.HasSuffix(name, "_seconds") {
			tol = 1.01e-3 // written with 3 decimals: the mean of rounded values may differ by one unit
		}
		if math.Abs((a+b)/2-mean) > tol {
			t.Errorf("%s: mean %v of %v and %v", name, mean, a, b)
		}
	}
	for _, row := range recs[1:3] {
		// Flow follows the translation: every visible point within 1 px (of
		// the 256×256 raster), so δ_1 is 1; the one GT occlusion is
		// predicted visible, an occlusion error and a false positive.
		if pw := col(row, "pts_within_1"); pw != 1 {
			t.Errorf("video %s: pts_within_1 %v", row[0], pw)
		}
		if aj, oa := col(row, "average_jaccard"), col(row, "occlusion_accuracy"); aj < 0.9 || oa < 0.9 || oa == 1 {
			t.Errorf("video %s: AJ %v OA %v", row[0], aj, oa)
		}
		if col(row, "fit_seconds") != 0 || col(row, "track_seconds") <= 0 {
			t.Errorf("video %s: times %v %v", row[0], col(row, "fit_seconds"), col(row, "track_seconds"))
		}
	}
	tr, err := dinotracker.ReadTracksFile(filepath.Join(tracks, "11", "tracks.json"))
	if err != nil || tr.Len() != 5 || tr.Frames != 4 {
		t.Fatalf("tracks: %v", err)
	}

	// The saved tracks score the same; the sweep at 0.5 reproduces the
	// hard flags (confidence < 0.5 ⇔ occluded).
	code, stdout2, stderr := cli(t, "eval", "-method", "saved", "-tracks", tracks, "-dataset", root, "-out", filepath.Join(dir, "saved.csv"),
		"-sweep", "0.2,0.5", "-q")
	if code != 0 {
		t.Fatalf("saved: exit %d: %s %s", code, stdout2, stderr)
	}
	meanLine := func(out string) string {
		for _, l := range strings.Split(out, "\n") {
			if strings.HasPrefix(l, "mean ") && !strings.HasPrefix(l, "mean over") {
				return strings.Fields(l)[1] + " " + strings.Fields(l)[2] + " " + strings.Fields(l)[3]
			}
		}
		return ""
	}
	m1, m2 := meanLine(stdout), meanLine(stdout2)
	if m1 == "" || m1 != m2 || !strings.Contains(stdout2, "\n0.50 ") {
		t.Errorf("saved tracks score %q, fresh %q:\n%s", m2, m1, stdout2)
	}
	for _, l := range strings.Split(stdout2, "\n") {
		if f := strings.Fields(l); len(f) == 4 && f[0] == "0.50" && f[1]+" "+f[2]+" "+f[3] != m1 {
			t.Errorf("sweep at 0.5 gives %v, the flags %s", f[1:], m1)
		}
	}
	if code, _, _ := cli(t, "eval", "-method", "saved", "-dataset", root, "-out", out); code != 2 {
		t.Errorf("-method saved without -tracks: exit %d", code)
	}

	// -frames 2 drops the queries at frame 2; -videos picks one video.
	out2 := filepath.Join(dir, "f2.csv")
	code, stdout, stderr = cli(t, "eval", "-method", "flow", "-dataset", root, "-out", out2, "-videos", "11", "-frames", "2", "-q")
	if code != 0 || strings.Contains(stderr, "ETA") {
		t.Fatalf("exit %d: %s %s", code, stdout, stderr)
	}
	if recs := readCSV(t, out2); len(recs) != 3 || recs[1][0] != "11" || !strings.Contains(stdout, "      2       3 ") {
		t.Fatalf("-frames 2: %v\n%s", recs, stdout)
	}

	for _, args := range [][]string{
		{"eval", "-dataset", root},
		{"eval", "-dataset", root, "-out", out2, "-method", "raft"},
		{"eval", "-dataset", root, "-out", out2, "-frames", "1"},
		{"eval", "-dataset", root, "-out", out2, "-videos", "4"},
		{"eval", "-dataset", root, "-out", out2, "-videos", "x"},
		{"eval", "-dataset", root, "-out", out2, "-flow-preset", "slow"},
		{"eval", "-dataset", root, "-out", out2, "-flow-size", "10"},
		{"eval", "-dataset", root, "-out", out2, "-config", "slow"},
		{"eval", "-dataset", root, "-out", out2, "-iters", "-2"},
	} {
		if code, _, _ := cli(t, args...); code != 2 {
			t.Errorf("%v: exit %d, want 2", args, code)
		}
	}
	if code, _, stderr := cli(t, "eval", "-dataset", filepath.Join(root, "missing"), "-out", out2); code != 1 {
		t.Errorf("missing dataset: exit %d %s", code, stderr)
	}
}

// TestEvalPickle evaluates the tapnet-layout fixture, whose frames are in
// the pickle, with the flow baseline.
func TestEvalPickle(t *testing.T) {
	out := filepath.Join(t.TempDir(), "p.csv")
	code, stdout, stderr := cli(t, "eval", "-method", "flow", "-dataset", "../../testdata/pickle/tapvid_davis_p4.pkl", "-out", out, "-q")
	if code != 0 {
		t.Fatalf("exit %d: %s %s", code, stdout, stderr)
	}
	if recs := readCSV(t, out); len(recs) != 4 || recs[1][1] != "bear" || recs[2][1] != "dog" || recs[3][0] != "mean" {
		t.Fatalf("rows %v", recs)
	}
	// DINO-Tracker's layout carries no frames: they are looked up beside it.
	code, _, stderr = cli(t, "eval", "-method", "flow", "-dataset", "../../testdata/pickle/dino_strided_p4.pkl", "-out", out, "-q")
	if code != 1 || !strings.Contains(stderr, filepath.Join("pickle", "videos", "7")) {
		t.Errorf("pickle without frames: exit %d, %s", code, stderr)
	}
}

// TestEvalDinoWiring runs -method dino for 2 iterations on 2 frames of
// 168×84 (the fast configuration halves them to the smallest model size): it
// must fit into WORK/<idx>, then either track or report the tracker's
// error.
func TestEvalDinoWiring(t *testing.T) {
	root := t.TempDir()
	writeEvalVideo(t, root, 5, 3, 168, 84, 1, 1)
	work := filepath.Join(t.TempDir(), "work")
	out := filepath.Join(t.TempDir(), "d.csv")
	code, stdout, stderr := cli(t, "eval", "-method", "dino", "-dataset", root, "-out", out, "-work", work, "-iters", "2", "-frames", "2", "-q")
	if _, err := os.Stat(filepath.Join(work, "5", "fit.json")); err != nil {
		t.Fatalf("no fit in WORK/5: %v (exit %d: %s %s)", err, code, stdout, stderr)
	}
	switch code {
	case 0:
		if recs := readCSV(t, out); len(recs) != 3 || col0(recs) != "5" {
			t.Errorf("rows %v", recs)
		}
	case 1:
		if !strings.Contains(stderr, "video 5") {
			t.Errorf("tracker error does not name the video: %s", stderr)
		}
	default:
		t.Errorf("exit %d: %s %s", code, stdout, stderr)
	}
}

func col0(recs [][]string) string { return recs[1][0] }
