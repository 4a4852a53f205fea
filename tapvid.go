package dinotracker

// Loader for the TAP-Vid DAVIS dev-clip ground truth (gt_json/video_<idx>.json)
// and the glue that scores predictions against it the way DINO-Tracker's
// benchmark evaluator does.

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"math"
	"os"
	"path/filepath"
	"sort"
	"strconv"
	"strings"
)

// TAPVidQuery is one query of a TAP-Vid video: a ground-truth track together
// with the frame and position it is queried at. Coordinates are pixels of the
// video's own frame (Width×Height), x to the right and y down.
type TAPVidQuery struct {
	// QueryFrame is the frame index of the query point, in [0, NumFrames).
	QueryFrame int
	// QueryXY is the query point (x, y); in the dev clips it equals
	// TrackXY[QueryFrame].
	QueryXY [2]float64
	// TrackXY is the ground-truth track, one (x, y) per frame ([NumFrames]).
	TrackXY [][2]float64
	// Occluded is the ground-truth occlusion per frame ([NumFrames]); true
	// means occluded.
	Occluded []bool
	// IsFG tells whether the point lies on a foreground object.
	IsFG bool
}

// TAPVidVideo is the ground truth of one TAP-Vid video as stored in the
// dev-clip JSON files: {video_idx, davis_name, width, height, num_frames,
// queries: [{query_frame, query_xy, track_xy, occluded, is_fg}]}. Queries are
// TAP-Vid "strided" queries (every 5th frame, every track visible there); one
// GT track may appear once per query frame.
type TAPVidVideo struct {
	VideoIdx  int    // index of the video in TAP-Vid DAVIS
	DavisName string // DAVIS sequence name
	Width     int    // frame width in pixels
	Height    int    // frame height in pixels
	NumFrames int    // number of frames T
	Queries   []TAPVidQuery
}

// tapvidJSON mirrors the file layout. Coordinates decode through *float64 so
// that a JSON null (how some writers store NaN) is detected instead of
// silently becoming 0.
type tapvidJSON struct {
	VideoIdx  *int   `json:"video_idx"`
	DavisName string `json:"davis_name"`
	Width     *int   `json:"width"`
	Height    *int   `json:"height"`
	NumFrames *int   `json:"num_frames"`
	Queries   []struct {
		QueryFrame *int         `json:"query_frame"`
		QueryXY    []*float64   `json:"query_xy"`
		TrackXY    [][]*float64 `json:"track_xy"`
		Occluded   []bool       `json:"occluded"`
		IsFG       bool         `json:"is_fg"`
	} `json:"queries"`
}

// LoadTAPVidJSON reads one ground-truth file (gt_json/video_<idx>.json).
// Errors name the file and wrap the cause (an *os.PathError for a missing
// file, a JSON error for a corrupt one, or a description of the first
// inconsistency: missing field, non-positive size, a track or occlusion list
// whose length is not num_frames, a query frame out of range, or a NaN, null
// or infinite coordinate).
func LoadTAPVidJSON(path string) (*TAPVidVideo, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, fmt.Errorf("dinotracker: tapvid: %w", err)
	}
	defer f.Close()
	v, err := ReadTAPVidJSON(f)
	if err != nil {
		return nil, fmt.Errorf("%s: %w", path, err)
	}
	return v, nil
}

// ReadTAPVidJSON decodes and validates one ground-truth JSON document from r.
// See LoadTAPVidJSON.
func ReadTAPVidJSON(r io.Reader) (*TAPVidVideo, error) {
	data, err := io.ReadAll(r)
	if err != nil {
		return nil, fmt.Errorf("dinotracker: tapvid: read: %w", err)
	}
	var raw tapvidJSON
	if err := json.Unmarshal(data, &raw); err != nil {
		var se *json.SyntaxError
		if errors.As(err, &se) && (bytes.Contains(data, []byte("NaN")) || bytes.Contains(data, []byte("Infinity"))) {
			return nil, fmt.Errorf("dinotracker: tapvid: corrupt JSON (non-finite number literal NaN/Infinity?): %w", err)
		}
		return nil, fmt.Errorf("dinotracker: tapvid: corrupt JSON: %w", err)
	}
	for _, f := range []struct {
		name string
		p    *int
	}{{"video_idx", raw.VideoIdx}, {"width", raw.Width}, {"height", raw.Height}, {"num_frames", raw.NumFrames}} {
		if f.p == nil {
			return nil, fmt.Errorf("dinotracker: tapvid: missing field %q", f.name)
		}
	}
	v := &TAPVidVideo{
		VideoIdx:  *raw.VideoIdx,
		DavisName: raw.DavisName,
		Width:     *raw.Width,
		Height:    *raw.Height,
		NumFrames: *raw.NumFrames,
		Queries:   make([]TAPVidQuery, len(raw.Queries)),
	}
	if v.Width <= 0 || v.Height <= 0 {
		return nil, fmt.Errorf("dinotracker: tapvid: video %d: invalid size %dx%d", v.VideoIdx, v.Width, v.Height)
	}
	T := v.NumFrames
	if T <= 0 {
		return nil, fmt.Errorf("dinotracker: tapvid: video %d: invalid num_frames %d", v.VideoIdx, T)
	}
	point := func(qi int, what string, xy []*float64) ([2]float64, error) {
		if len(xy) != 2 {
			return [2]float64{}, fmt.Errorf("dinotracker: tapvid: video %d query %d: %s has %d coordinates, want 2", v.VideoIdx, qi, what, len(xy))
		}
		var p [2]float64
		for k, c := range xy {
			if c == nil {
				return p, fmt.Errorf("dinotracker: tapvid: video %d query %d: %s: null coordinate (NaN?)", v.VideoIdx, qi, what)
			}
			if math.IsNaN(*c) || math.IsInf(*c, 0) {
				return p, fmt.Errorf("dinotracker: tapvid: video %d query %d: %s: non-finite coordinate %v", v.VideoIdx, qi, what, *c)
			}
			p[k] = *c
		}
		return p, nil
	}
	for qi, rq := range raw.Queries {
		q := &v.Queries[qi]
		if rq.QueryFrame == nil {
			return nil, fmt.Errorf("dinotracker: tapvid: video %d query %d: missing query_frame", v.VideoIdx, qi)
		}
		q.QueryFrame = *rq.QueryFrame
		if q.QueryFrame < 0 || q.QueryFrame >= T {
			return nil, fmt.Errorf("dinotracker: tapvid: video %d query %d: query_frame %d outside [0, %d)", v.VideoIdx, qi, q.QueryFrame, T)
		}
		if len(rq.TrackXY) != T || len(rq.Occluded) != T {
			return nil, fmt.Errorf("dinotracker: tapvid: video %d query %d: track_xy has %d frames and occluded %d, want num_frames %d",
				v.VideoIdx, qi, len(rq.TrackXY), len(rq.Occluded), T)
		}
		var err error
		if q.QueryXY, err = point(qi, "query_xy", rq.QueryXY); err != nil {
			return nil, err
		}
		q.TrackXY = make([][2]float64, T)
		for t, xy := range rq.TrackXY {
			if q.TrackXY[t], err = point(qi, fmt.Sprintf("track_xy[%d]", t), xy); err != nil {
				return nil, err
			}
		}
		q.Occluded = append([]bool(nil), rq.Occluded...)
		q.IsFG = rq.IsFG
	}
	return v, nil
}

// LoadTAPVidDir loads every ground-truth file dir/gt_json/video_<idx>.json of
// a dev-clip directory (such as tapvid-davis-32f), sorted by numeric index.
// It fails when the gt_json directory is missing or holds no such file, or
// when any file fails to load.
func LoadTAPVidDir(dir string) ([]*TAPVidVideo, error) {
	gtDir := filepath.Join(dir, "gt_json")
	ents, err := os.ReadDir(gtDir)
	if err != nil {
		return nil, fmt.Errorf("dinotracker: tapvid: %w", err)
	}
	type file struct {
		idx  int
		name string
	}
	var files []file
	for _, e := range ents {
		name := e.Name()
		if e.IsDir() || !strings.HasPrefix(name, "video_") || !strings.HasSuffix(name, ".json") {
			continue
		}
		idx, err := strconv.Atoi(strings.TrimSuffix(strings.TrimPrefix(name, "video_"), ".json"))
		if err != nil || idx < 0 {
			continue
		}
		files = append(files, file{idx, name})
	}
	if len(files) == 0 {
		return nil, fmt.Errorf("dinotracker: tapvid: no video_<idx>.json file in %s", gtDir)
	}
	sort.Slice(files, func(i, j int) bool {
		if files[i].idx != files[j].idx {
			return files[i].idx < files[j].idx
		}
		return files[i].name < files[j].name
	})
	vids := make([]*TAPVidVideo, len(files))
	for i, f := range files {
		if vids[i], err = LoadTAPVidJSON(filepath.Join(gtDir, f.name)); err != nil {
			return nil, err
		}
		if vids[i].VideoIdx != f.idx {
			return nil, fmt.Errorf("dinotracker: tapvid: %s: video_idx %d does not match the file name", filepath.Join(gtDir, f.name), vids[i].VideoIdx)
		}
	}
	return vids, nil
}

// Input256 pairs the ground truth with predictions for ComputeTAPVid, both
// mapped to the 256×256 raster: the ground truth from the video's
// Width×Height, the predictions from predW×predH, the size of the frames the
// tracker ran on (DINO-Tracker predicts at 854×476). predTracks and
// predOccluded are [len(Queries)][NumFrames], in query order. Neither the
// video nor the predictions are modified; the returned input shares the
// occlusion rows with v and predOccluded, and its tracks are fresh copies.
func (v *TAPVidVideo) Input256(predTracks [][][2]float64, predOccluded [][]bool, predW, predH float64) (*TAPVidInput, error) {
	n := len(v.Queries)
	if len(predTracks) != n || len(predOccluded) != n {
		return nil, fmt.Errorf("dinotracker: tapvid: video %d: %d queries, but %d predicted tracks and %d occlusion rows",
			v.VideoIdx, n, len(predTracks), len(predOccluded))
	}
	if !(predW > 0) || !(predH > 0) {
		return nil, fmt.Errorf("dinotracker: tapvid: video %d: invalid prediction frame size %vx%v", v.VideoIdx, predW, predH)
	}
	in := &TAPVidInput{
		QueryFrames:  make([]int, n),
		GTOccluded:   make([][]bool, n),
		GTTracks:     make([][][2]float64, n),
		PredOccluded: predOccluded,
		PredTracks:   TracksToRaster256(predTracks, predW, predH),
	}
	w, h := float64(v.Width), float64(v.Height)
	for i := range v.Queries {
		q := &v.Queries[i]
		in.QueryFrames[i] = q.QueryFrame
		in.GTOccluded[i] = q.Occluded
		gt := make([][2]float64, len(q.TrackXY))
		for t, p := range q.TrackXY {
			gt[t][0], gt[t][1] = ToRaster256(p[0], p[1], w, h)
		}
		in.GTTracks[i] = gt
	}
	return in, nil
}

// Evaluate scores predictions for this video as DINO-Tracker's benchmark
// evaluator does: ground truth and predictions mapped to 256×256 (see
// Input256), then ComputeTAPVid in QueryStrided mode. Average the results of
// several videos with MeanTAPVidMetrics (or NanMeanTAPVidMetrics).
func (v *TAPVidVideo) Evaluate(predTracks [][][2]float64, predOccluded [][]bool, predW, predH float64) (TAPVidMetrics, error) {
	in, err := v.Input256(predTracks, predOccluded, predW, predH)
	if err != nil {
		return TAPVidMetrics{}, err
	}
	return ComputeTAPVid(in, QueryStrided)
}
