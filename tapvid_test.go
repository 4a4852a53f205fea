package dinotracker

import (
	"errors"
	"io/fs"
	"math"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// tapvidDevDir returns <module root>/../shared/data/tapvid-davis-32f, skipping
// the test when it is absent.
func tapvidDevDir(t *testing.T) string {
	t.Helper()
	wd, err := os.Getwd()
	if err != nil {
		t.Fatal(err)
	}
	root := ""
	for d := wd; ; d = filepath.Dir(d) {
		if _, err := os.Stat(filepath.Join(d, "go.mod")); err == nil {
			root = d
			break
		}
		if filepath.Dir(d) == d {
			t.Skip("module root not found")
		}
	}
	dir := filepath.Join(root, "..", "shared", "data", "tapvid-davis-32f")
	if _, err := os.Stat(filepath.Join(dir, "gt_json")); err != nil {
		t.Skipf("dev clips not available: %v", err)
	}
	return dir
}

// TestTAPVidSanityDevClips reproduces the sanity values of
// shared/data/README.md on the 8 TAP-Vid DAVIS dev clips: strided mode, query
// frame excluded, ground truth and predictions mapped to 256×256 from the
// video's size, per-video metrics averaged over videos. The README gives the
// values rounded to 5 decimals, hence the tolerance.
func TestTAPVidSanityDevClips(t *testing.T) {
	vids, err := LoadTAPVidDir(tapvidDevDir(t))
	if err != nil {
		t.Fatal(err)
	}
	if len(vids) != 8 {
		t.Fatalf("loaded %d videos, want 8", len(vids))
	}
	const tol = 5e-6
	check := func(name string, m TAPVidMetrics, aj, davg, oa float64) {
		t.Helper()
		t.Logf("%s: AJ %.9f δavg %.9f OA %.9f", name, m.AverageJaccard, m.AveragePtsWithin, m.OcclusionAccuracy)
		if math.Abs(m.AverageJaccard-aj) > tol || math.Abs(m.AveragePtsWithin-davg) > tol || math.Abs(m.OcclusionAccuracy-oa) > tol {
			t.Errorf("%s: AJ %.6f δavg %.6f OA %.6f; want %.5f %.5f %.5f (±%g)",
				name, m.AverageJaccard, m.AveragePtsWithin, m.OcclusionAccuracy, aj, davg, oa, tol)
		}
	}

	// (a) Predict the query position in every frame, always visible.
	var static, shifted []TAPVidMetrics
	for _, v := range vids {
		n, T := len(v.Queries), v.NumFrames
		pred := make([][][2]float64, n)
		predOcc := make([][]bool, n)
		for i, q := range v.Queries {
			pred[i] = make([][2]float64, T)
			for tt := range pred[i] {
				pred[i][tt] = q.QueryXY
			}
			predOcc[i] = make([]bool, T)
		}
		m, err := v.Evaluate(pred, predOcc, float64(v.Width), float64(v.Height))
		if err != nil {
			t.Fatal(err)
		}
		static = append(static, m)

		// (b) Ground truth shifted by +8 px in x at 480p, true occlusion.
		for i, q := range v.Queries {
			for tt, p := range q.TrackXY {
				pred[i][tt] = [2]float64{p[0] + 8, p[1]}
			}
			predOcc[i] = q.Occluded
		}
		if m, err = v.Evaluate(pred, predOcc, float64(v.Width), float64(v.Height)); err != nil {
			t.Fatal(err)
		}
		shifted = append(shifted, m)
	}
	check("query position, always visible", MeanTAPVidMetrics(static), 0.12644, 0.21632, 0.80140)
	check("GT +8 px in x, true occlusion", MeanTAPVidMetrics(shifted), 0.625, 0.625, 1.0)
	// No video has an undefined ratio, so DINO-Tracker's NaN-skipping mean agrees.
	if MeanTAPVidMetrics(static) != NanMeanTAPVidMetrics(static) {
		t.Error("MeanTAPVidMetrics and NanMeanTAPVidMetrics differ without NaN")
	}
}

// TestTAPVidLoadDevClips checks the loader on the real files.
func TestTAPVidLoadDevClips(t *testing.T) {
	vids, err := LoadTAPVidDir(tapvidDevDir(t))
	if err != nil {
		t.Fatal(err)
	}
	wantIdx := []int{2, 6, 9, 13, 16, 19, 24, 29}
	wantQueries := []int{65, 117, 77, 159, 35, 92, 131, 162}
	for i, v := range vids {
		if v.VideoIdx != wantIdx[i] || len(v.Queries) != wantQueries[i] || v.NumFrames != 32 || v.Height != 480 {
			t.Errorf("video %d: idx %d, %d queries, %d frames, %dx%d", i, v.VideoIdx, len(v.Queries), v.NumFrames, v.Width, v.Height)
		}
		for qi, q := range v.Queries {
			if q.TrackXY[q.QueryFrame] != q.QueryXY || q.Occluded[q.QueryFrame] {
				t.Errorf("video %d query %d: query point not the visible track point at its frame", v.VideoIdx, qi)
				break
			}
		}
	}
	if vids[0].DavisName != "motocross-jump" || vids[5].Width != 1152 {
		t.Errorf("video 2 name %q, video 19 width %d", vids[0].DavisName, vids[5].Width)
	}
}

const tapvidGoodJSON = `{"video_idx": 3, "davis_name": "x", "width": 10, "height": 20, "num_frames": 2,
 "queries": [{"query_frame": 1, "query_xy": [1, 2], "track_xy": [[0, 0], [1, 2]], "occluded": [true, false], "is_fg": true}]}`

func tapvidWrite(t *testing.T, dir, name, body string) string {
	t.Helper()
	p := filepath.Join(dir, name)
	if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(p, []byte(body), 0o644); err != nil {
		t.Fatal(err)
	}
	return p
}

// TestTAPVidLoadErrors checks the loader's errors on missing, corrupt and
// inconsistent files.
func TestTAPVidLoadErrors(t *testing.T) {
	dir := t.TempDir()
	v, err := LoadTAPVidJSON(tapvidWrite(t, dir, "good.json", tapvidGoodJSON))
	if err != nil {
		t.Fatal(err)
	}
	q := v.Queries[0]
	if v.VideoIdx != 3 || v.Width != 10 || v.Height != 20 || q.QueryFrame != 1 || q.QueryXY != [2]float64{1, 2} ||
		q.TrackXY[1] != [2]float64{1, 2} || !q.Occluded[0] || q.Occluded[1] || !q.IsFG {
		t.Errorf("decoded %+v", v)
	}

	_, err = LoadTAPVidJSON(filepath.Join(dir, "missing.json"))
	if !errors.Is(err, fs.ErrNotExist) || !strings.Contains(err.Error(), "missing.json") {
		t.Errorf("missing file: %v", err)
	}

	bad := map[string]struct{ body, want string }{
		"truncated":     {tapvidGoodJSON[:40], "corrupt JSON"},
		"nan literal":   {strings.Replace(tapvidGoodJSON, "[1, 2]]", "[NaN, 2]]", 1), "NaN"},
		"null coord":    {strings.Replace(tapvidGoodJSON, "[1, 2]]", "[null, 2]]", 1), "null coordinate"},
		"short track":   {strings.Replace(tapvidGoodJSON, `[[0, 0], [1, 2]]`, `[[0, 0]]`, 1), "track_xy has 1 frames"},
		"short occ":     {strings.Replace(tapvidGoodJSON, `[true, false]`, `[true]`, 1), "occluded 1"},
		"3 coords":      {strings.Replace(tapvidGoodJSON, `[0, 0]`, `[0, 0, 0]`, 1), "3 coordinates"},
		"query range":   {strings.Replace(tapvidGoodJSON, `"query_frame": 1`, `"query_frame": 2`, 1), "outside [0, 2)"},
		"no num_frames": {strings.Replace(tapvidGoodJSON, `"num_frames": 2,`, ``, 1), `"num_frames"`},
		"zero width":    {strings.Replace(tapvidGoodJSON, `"width": 10`, `"width": 0`, 1), "invalid size"},
		"no frame":      {strings.Replace(tapvidGoodJSON, `"query_frame": 1, `, ``, 1), "missing query_frame"},
	}
	for name, c := range bad {
		p := tapvidWrite(t, dir, strings.ReplaceAll(name, " ", "_")+".json", c.body)
		_, err := LoadTAPVidJSON(p)
		if err == nil || !strings.Contains(err.Error(), c.want) || !strings.Contains(err.Error(), p) {
			t.Errorf("%s: error %v, want one naming the file and containing %q", name, err, c.want)
		}
	}

	// Directories.
	if _, err := LoadTAPVidDir(filepath.Join(dir, "nope")); err == nil {
		t.Error("missing directory accepted")
	}
	empty := t.TempDir()
	tapvidWrite(t, empty, "gt_json/readme.txt", "x")
	if _, err := LoadTAPVidDir(empty); err == nil {
		t.Error("directory without video files accepted")
	}
	d := t.TempDir()
	tapvidWrite(t, d, "gt_json/video_10.json", strings.Replace(tapvidGoodJSON, `"video_idx": 3`, `"video_idx": 10`, 1))
	tapvidWrite(t, d, "gt_json/video_3.json", tapvidGoodJSON)
	vids, err := LoadTAPVidDir(d)
	if err != nil || len(vids) != 2 || vids[0].VideoIdx != 3 || vids[1].VideoIdx != 10 {
		t.Errorf("numeric sort: %v, %v", vids, err)
	}
	tapvidWrite(t, d, "gt_json/video_11.json", tapvidGoodJSON) // says video_idx 3
	if _, err := LoadTAPVidDir(d); err == nil {
		t.Error("video_idx / file name mismatch accepted")
	}

	// Evaluate: prediction shape errors.
	if _, err := v.Evaluate(nil, nil, 10, 20); err == nil {
		t.Error("Evaluate accepted no predictions for one query")
	}
	if _, err := v.Evaluate([][][2]float64{{{0, 0}}}, [][]bool{{false}}, 10, 20); err == nil {
		t.Error("Evaluate accepted a 1-frame prediction for a 2-frame video")
	}
	if _, err := v.Evaluate([][][2]float64{{{0, 0}, {1, 2}}}, [][]bool{{false, false}}, 0, 20); err == nil {
		t.Error("Evaluate accepted a zero prediction width")
	}
	// Strided: only frame 0 is scored; GT occluded there, predicted visible → OA 0, AJ 0.
	m, err := v.Evaluate([][][2]float64{{{0, 0}, {1, 2}}}, [][]bool{{false, false}}, 10, 20)
	if err != nil || m.OcclusionAccuracy != 0 || m.AverageJaccard != 0 || !math.IsNaN(m.AveragePtsWithin) {
		t.Errorf("Evaluate = %+v, %v", m, err)
	}
}
