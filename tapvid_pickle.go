package dinotracker

// Readers for the TAP-Vid benchmark pickles: tapnet's tapvid_davis.pkl (and
// files of the same layout) and DINO-Tracker's
// tapvid_davis_data_strided.pkl (spec §6.1).

import (
	"bytes"
	"errors"
	"fmt"
	"image"
	_ "image/png" // encoded frames of Kinetics-style pickles
	"io"
	"math"
	"os"

	"dinotracker/imgproc"
	"dinotracker/pth"
)

// TAPVidQueryStride is the query stride of TAP-Vid's strided evaluation:
// queries are sampled on frames 0, 5, 10, … (tapnet's sample_queries_strided).
const TAPVidQueryStride = 5

// TAPVidPickleVideo is one video read from a TAP-Vid pickle: its ground
// truth (the embedded TAPVidVideo, coordinates in pixels of the video's
// Width×Height frame) and, where the pickle carries them, its frames and
// BADJA segmentation masks.
type TAPVidPickleVideo struct {
	TAPVidVideo
	// Frames are the video's frames (NumFrames of Width×Height) when the
	// pickle embeds them (tapnet's layout), nil otherwise (DINO-Tracker's
	// layout has none). Build a Video with Video.
	Frames []*imgproc.RGB8
	// Segmentations are BADJA's ground-truth masks, one SegWidth×SegHeight
	// row-major mask per frame (nonzero is foreground), or nil. Use
	// BADJAMaskArea for the areas ComputeBADJA needs.
	Segmentations       [][]uint8
	SegWidth, SegHeight int
}

// Video returns the embedded frames as a Video, or an error wrapping
// ErrNoFrames when the pickle carries none. The frames are shared, not
// copied.
func (v *TAPVidPickleVideo) Video() (*Video, error) {
	if len(v.Frames) == 0 {
		return nil, fmt.Errorf("dinotracker: tapvid pickle: video %d (%s): %w in the pickle; load the frames from the dataset folder", v.VideoIdx, v.DavisName, ErrNoFrames)
	}
	return newVideo(v.Frames, make([]string, len(v.Frames)), fmt.Sprintf("pickle video %d", v.VideoIdx))
}

// LoadTAPVidPickle reads a TAP-Vid pickle file (see ReadTAPVidPickle). The
// whole file is read into memory; frames share that memory.
func LoadTAPVidPickle(path string) ([]*TAPVidPickleVideo, error) {
	data, err := os.ReadFile(path)
	if err != nil {
		return nil, fmt.Errorf("dinotracker: tapvid pickle: %w", err)
	}
	vids, err := ParseTAPVidPickle(data)
	if err != nil {
		return nil, fmt.Errorf("%s: %w", path, err)
	}
	return vids, nil
}

// ReadTAPVidPickle reads a TAP-Vid pickle from r; see ParseTAPVidPickle.
func ReadTAPVidPickle(r io.Reader) ([]*TAPVidPickleVideo, error) {
	data, err := io.ReadAll(r)
	if err != nil {
		return nil, fmt.Errorf("dinotracker: tapvid pickle: read: %w", err)
	}
	return ParseTAPVidPickle(data)
}

// ParseTAPVidPickle decodes a TAP-Vid pickle (protocols 2–5, through the
// restricted unpickler pth.UnpickleNumpy, which never executes pickled
// code). Two layouts are recognised:
//
// tapnet's tapvid_davis.pkl: a dict from video name to {'video': uint8
// [T,H,W,3], 'points': float [N,T,2] normalised (x, y) in [0, 1],
// 'occluded': bool [N,T]} (a list of such dicts, as RGB-Stacking's, works
// too; 'video' may also be a list of JPEG/PNG-encoded frames, as in
// Kinetics). VideoIdx is the position in the dict (its insertion order) and
// DavisName the key. Points are scaled to pixels of the W×H frame,
// (x·W, y·H). The queries are sampled like tapnet's sample_queries_strided
// with stride TAPVidQueryStride: for t = 0, 5, 10, … in turn, every track
// visible at frame t becomes a query at (t, track[t]) carrying the full
// track, in track order, so one track may appear several times. Tracks
// never visible on a stride frame give no query.
//
// DINO-Tracker's tapvid_davis_data_strided.pkl (spec §6.1): {'videos':
// [{'video_idx', 'h', 'w', 'query_points': {t: [[x, y], …]},
// 'target_points': {t: [N_t,T,2]}, 'occluded': {t: [N_t,T]}, and for BADJA
// 'segmentations': [T,H,W]}]}, coordinates in pixels of the original
// w×h frame. Queries are taken in the dict order of 'query_points' (the
// order the reference evaluator concatenates them). A 'video_name',
// 'davis_name' or 'name' string, when present, becomes DavisName; an
// embedded 'video' is read as in tapnet's layout.
//
// Coordinates must be finite wherever the ground truth is visible (a NaN
// or infinite coordinate of an occluded point is kept as is). Errors name
// the video and the field.
func ParseTAPVidPickle(data []byte) ([]*TAPVidPickleVideo, error) {
	root, err := pth.UnpickleNumpy(data)
	if err != nil {
		return nil, fmt.Errorf("dinotracker: tapvid pickle: %w", err)
	}
	var vids []*TAPVidPickleVideo
	switch r := root.(type) {
	case *pth.Dict:
		if vl, ok := r.Get("videos"); ok {
			list, ok := vl.([]any)
			if !ok {
				return nil, fmt.Errorf("dinotracker: tapvid pickle: 'videos' is %s, want a list (DINO-Tracker's layout)", pklType(vl))
			}
			for i, e := range list {
				v, err := parseDinoVideo(i, e)
				if err != nil {
					return nil, fmt.Errorf("dinotracker: tapvid pickle: videos[%d]: %w", i, err)
				}
				vids = append(vids, v)
			}
			break
		}
		for i, k := range r.Keys {
			name, ok := k.(string)
			if !ok {
				return nil, fmt.Errorf("dinotracker: tapvid pickle: key %d is %s, want a video name (tapnet's layout)", i, pklType(k))
			}
			v, err := parseTapnetVideo(i, name, r.Values[i])
			if err != nil {
				return nil, fmt.Errorf("dinotracker: tapvid pickle: video %q: %w", name, err)
			}
			vids = append(vids, v)
		}
	case []any:
		for i, e := range r {
			v, err := parseTapnetVideo(i, "", e)
			if err != nil {
				return nil, fmt.Errorf("dinotracker: tapvid pickle: video %d: %w", i, err)
			}
			vids = append(vids, v)
		}
	default:
		return nil, fmt.Errorf("dinotracker: tapvid pickle: top-level object is %s; want a dict of videos (tapnet) or {'videos': [...]} (DINO-Tracker)", pklType(root))
	}
	if len(vids) == 0 {
		return nil, errors.New("dinotracker: tapvid pickle: no videos")
	}
	return vids, nil
}

func pklType(v any) string {
	switch x := v.(type) {
	case nil:
		return "None"
	case bool:
		return "a bool"
	case int64, uint64:
		return "an int"
	case float64:
		return "a float"
	case string:
		return "a str"
	case []byte:
		return "bytes"
	case []any:
		return "a list"
	case *pth.Dict:
		return "a dict"
	case *pth.Array:
		return fmt.Sprintf("a %s array of shape %v", x.Dtype, x.Shape)
	}
	return fmt.Sprintf("%T", v)
}

// pklField returns d[key] or an error naming the missing key.
func pklField(d *pth.Dict, key string) (any, error) {
	v, ok := d.Get(key)
	if !ok {
		return nil, fmt.Errorf("missing key %q", key)
	}
	return v, nil
}

// pklNumbers flattens an array or a nested list of numbers into float64s in
// C order and returns them with the shape.
func pklNumbers(v any, what string) ([]float64, []int, error) {
	if a, ok := v.(*pth.Array); ok {
		f, err := a.Float64s()
		if err != nil {
			return nil, nil, fmt.Errorf("%s: %w", what, err)
		}
		return f, a.Shape, nil
	}
	var out []float64
	var shape []int
	// maxElems bounds what lists that share sub-lists could expand to.
	const maxElems = 1 << 27
	var walk func(v any, depth int) error
	walk = func(v any, depth int) error {
		if depth > 8 {
			return fmt.Errorf("%s: nested too deeply", what)
		}
		switch x := v.(type) {
		case []any:
			if depth == len(shape) {
				shape = append(shape, len(x))
			} else if depth > len(shape) || shape[depth] != len(x) {
				return fmt.Errorf("%s: ragged nested list", what)
			}
			for _, e := range x {
				if err := walk(e, depth+1); err != nil {
					return err
				}
			}
			return nil
		case *pth.Array:
			f, err := x.Float64s()
			if err != nil {
				return fmt.Errorf("%s: %w", what, err)
			}
			for i, s := range x.Shape {
				if depth+i == len(shape) {
					shape = append(shape, s)
				} else if shape[depth+i] != s {
					return fmt.Errorf("%s: ragged nested list", what)
				}
			}
			if len(out)+len(f) > maxElems {
				return fmt.Errorf("%s: more than %d numbers", what, maxElems)
			}
			out = append(out, f...)
			return nil
		}
		if depth != len(shape) {
			return fmt.Errorf("%s: ragged nested list", what)
		}
		if len(out) >= maxElems {
			return fmt.Errorf("%s: more than %d numbers", what, maxElems)
		}
		switch x := v.(type) {
		case float64:
			out = append(out, x)
		case int64:
			out = append(out, float64(x))
		case uint64:
			out = append(out, float64(x))
		case bool:
			out = append(out, pklBool(x))
		default:
			return fmt.Errorf("%s: element is %s, not a number", what, pklType(v))
		}
		return nil
	}
	if err := walk(v, 0); err != nil {
		return nil, nil, err
	}
	n := 1
	for _, s := range shape {
		if s > 0 && n > maxElems/s {
			return nil, nil, fmt.Errorf("%s: shape %v is too large", what, shape)
		}
		n *= s
	}
	if n != len(out) {
		return nil, nil, fmt.Errorf("%s: ragged nested list", what)
	}
	return out, shape, nil
}

func pklBool(b bool) float64 {
	if b {
		return 1
	}
	return 0
}

func pklSameShape(got, want []int) bool {
	if len(got) != len(want) {
		return false
	}
	for i := range got {
		if got[i] != want[i] {
			return false
		}
	}
	return true
}

// pklInt reads a Python int (or an integral float).
func pklInt(v any, what string) (int, error) {
	switch x := v.(type) {
	case int64:
		if x < math.MinInt32 || x > math.MaxInt32 {
			return 0, fmt.Errorf("%s: %d out of range", what, x)
		}
		return int(x), nil
	case float64:
		if x == math.Trunc(x) && math.Abs(x) <= math.MaxInt32 {
			return int(x), nil
		}
	case *pth.Array:
		if x.Size() == 1 {
			f, err := x.Float64s()
			if err == nil {
				return pklInt(f[0], what)
			}
		}
	}
	return 0, fmt.Errorf("%s is %s, not an int", what, pklType(v))
}

// pklFrames decodes a 'video' entry: a uint8 [T,H,W,3] array (shared, not
// copied) or a list of encoded JPEG/PNG frames.
func pklFrames(v any) ([]*imgproc.RGB8, error) {
	switch x := v.(type) {
	case *pth.Array:
		if x.Dtype == "object" {
			return pklEncodedFrames(x.Objects)
		}
		if x.Dtype != "uint8" || len(x.Shape) != 4 || x.Shape[3] != 3 {
			return nil, fmt.Errorf("'video' is %s, want uint8 [T,H,W,3]", pklType(v))
		}
		T, H, W := x.Shape[0], x.Shape[1], x.Shape[2]
		if T == 0 || H == 0 || W == 0 {
			return nil, fmt.Errorf("'video' has shape %v", x.Shape)
		}
		n := H * W * 3
		out := make([]*imgproc.RGB8, T)
		for t := range out {
			out[t] = &imgproc.RGB8{W: W, H: H, Pix: x.Data[t*n : (t+1)*n : (t+1)*n]}
		}
		return out, nil
	case []any:
		return pklEncodedFrames(x)
	}
	return nil, fmt.Errorf("'video' is %s, want uint8 [T,H,W,3] or a list of encoded frames", pklType(v))
}

func pklEncodedFrames(list []any) ([]*imgproc.RGB8, error) {
	out := make([]*imgproc.RGB8, len(list))
	for t, e := range list {
		b, ok := e.([]byte)
		if !ok {
			return nil, fmt.Errorf("'video' frame %d is %s, want encoded bytes", t, pklType(e))
		}
		var err error
		if len(b) >= 2 && b[0] == 0xff && b[1] == 0xd8 {
			out[t], err = imgproc.DecodeJPEG(bytes.NewReader(b))
		} else {
			var img image.Image
			if img, _, err = image.Decode(bytes.NewReader(b)); err == nil {
				out[t] = imgproc.FromImage(img)
			}
		}
		if err != nil {
			return nil, fmt.Errorf("'video' frame %d: %w", t, err)
		}
		if out[t].W != out[0].W || out[t].H != out[0].H {
			return nil, fmt.Errorf("'video' frame %d is %dx%d, frame 0 %dx%d: %w", t, out[t].W, out[t].H, out[0].W, out[0].H, ErrMixedSizes)
		}
	}
	return out, nil
}

// pklTracks converts [N,T,2] points (scaled by sx, sy) and [N,T] occlusion into
// per-track slices, checking visible points are finite.
func pklTracks(pts []float64, occ []bool, n, T int, sx, sy float64) ([][][2]float64, [][]bool, error) {
	xy := make([][][2]float64, n)
	oc := make([][]bool, n)
	for i := 0; i < n; i++ {
		xy[i] = make([][2]float64, T)
		oc[i] = occ[i*T : (i+1)*T : (i+1)*T]
		for t := 0; t < T; t++ {
			x, y := pts[(i*T+t)*2]*sx, pts[(i*T+t)*2+1]*sy
			if !oc[i][t] && (math.IsNaN(x) || math.IsInf(x, 0) || math.IsNaN(y) || math.IsInf(y, 0)) {
				return nil, nil, fmt.Errorf("track %d frame %d: non-finite visible point (%v, %v)", i, t, x, y)
			}
			xy[i][t] = [2]float64{x, y}
		}
	}
	return xy, oc, nil
}

func parseTapnetVideo(idx int, name string, e any) (*TAPVidPickleVideo, error) {
	d, ok := e.(*pth.Dict)
	if !ok {
		return nil, fmt.Errorf("entry is %s, want a dict with 'video', 'points', 'occluded'", pklType(e))
	}
	fv, err := pklField(d, "video")
	if err != nil {
		return nil, err
	}
	frs, err := pklFrames(fv)
	if err != nil {
		return nil, err
	}
	if len(frs) == 0 {
		return nil, errors.New("'video' has no frames")
	}
	T, W, H := len(frs), frs[0].W, frs[0].H
	pv, err := pklField(d, "points")
	if err != nil {
		return nil, err
	}
	pts, pshape, err := pklNumbers(pv, "'points'")
	if err != nil {
		return nil, err
	}
	if len(pshape) != 3 || pshape[1] != T || pshape[2] != 2 {
		return nil, fmt.Errorf("'points' has shape %v, want [N, %d, 2]", pshape, T)
	}
	N := pshape[0]
	occ, err := pklOcclusion(d, N, T)
	if err != nil {
		return nil, err
	}
	xy, oc, err := pklTracks(pts, occ, N, T, float64(W), float64(H))
	if err != nil {
		return nil, fmt.Errorf("'points' %w", err)
	}
	v := &TAPVidPickleVideo{
		TAPVidVideo: TAPVidVideo{VideoIdx: idx, DavisName: name, Width: W, Height: H, NumFrames: T},
		Frames:      frs,
	}
	for t := 0; t < T; t += TAPVidQueryStride {
		for i := 0; i < N; i++ {
			if !oc[i][t] {
				v.Queries = append(v.Queries, TAPVidQuery{QueryFrame: t, QueryXY: xy[i][t], TrackXY: xy[i], Occluded: oc[i]})
			}
		}
	}
	return v, nil
}

func pklOcclusion(d *pth.Dict, N, T int) ([]bool, error) {
	ov, err := pklField(d, "occluded")
	if err != nil {
		return nil, err
	}
	o, oshape, err := pklNumbers(ov, "'occluded'")
	if err != nil {
		return nil, err
	}
	if !pklSameShape(oshape, []int{N, T}) {
		return nil, fmt.Errorf("'occluded' has shape %v, want [%d, %d]", oshape, N, T)
	}
	occ := make([]bool, len(o))
	for i, x := range o {
		occ[i] = x != 0
	}
	return occ, nil
}

func parseDinoVideo(pos int, e any) (*TAPVidPickleVideo, error) {
	d, ok := e.(*pth.Dict)
	if !ok {
		return nil, fmt.Errorf("entry is %s, want a dict", pklType(e))
	}
	var ints [3]int
	for i, k := range []string{"video_idx", "h", "w"} {
		fv, err := pklField(d, k)
		if err != nil {
			return nil, err
		}
		if ints[i], err = pklInt(fv, "'"+k+"'"); err != nil {
			return nil, err
		}
	}
	v := &TAPVidPickleVideo{TAPVidVideo: TAPVidVideo{VideoIdx: ints[0], Height: ints[1], Width: ints[2]}}
	if v.Width <= 0 || v.Height <= 0 {
		return nil, fmt.Errorf("video %d: invalid size %dx%d", v.VideoIdx, v.Width, v.Height)
	}
	for _, k := range []string{"video_name", "davis_name", "name"} {
		if s, ok := d.Get(k); ok {
			if name, ok := s.(string); ok {
				v.DavisName = name
				break
			}
		}
	}
	dicts := [3]*pth.Dict{}
	for i, k := range []string{"query_points", "target_points", "occluded"} {
		fv, err := pklField(d, k)
		if err != nil {
			return nil, fmt.Errorf("video %d: %w", v.VideoIdx, err)
		}
		if dicts[i], ok = fv.(*pth.Dict); !ok {
			return nil, fmt.Errorf("video %d: '%s' is %s, want a dict {frame: ...}", v.VideoIdx, k, pklType(fv))
		}
	}
	qd, td, od := dicts[0], dicts[1], dicts[2]
	T := -1
	for i, k := range qd.Keys {
		t, err := pklInt(k, "query frame key")
		if err != nil {
			return nil, fmt.Errorf("video %d: %w", v.VideoIdx, err)
		}
		what := fmt.Sprintf("video %d query frame %d", v.VideoIdx, t)
		q, qshape, err := pklNumbers(qd.Values[i], "'query_points'")
		if err != nil {
			return nil, fmt.Errorf("%s: %w", what, err)
		}
		if len(q) == 0 {
			continue
		}
		if len(qshape) != 2 || qshape[1] < 2 {
			return nil, fmt.Errorf("%s: 'query_points' has shape %v, want [N, 2]", what, qshape)
		}
		n, qw := qshape[0], qshape[1]
		tv, ok := td.Get(k)
		if !ok {
			return nil, fmt.Errorf("%s: no 'target_points' entry", what)
		}
		pts, pshape, err := pklNumbers(tv, "'target_points'")
		if err != nil {
			return nil, fmt.Errorf("%s: %w", what, err)
		}
		if len(pshape) != 3 || pshape[0] != n || pshape[2] != 2 || pshape[1] < 1 {
			return nil, fmt.Errorf("%s: 'target_points' has shape %v, want [%d, T, 2]", what, pshape, n)
		}
		if T < 0 {
			T = pshape[1]
		} else if pshape[1] != T {
			return nil, fmt.Errorf("%s: 'target_points' has %d frames, other query frames %d", what, pshape[1], T)
		}
		if t < 0 || t >= T {
			return nil, fmt.Errorf("%s: outside [0, %d)", what, T)
		}
		ov, ok := od.Get(k)
		if !ok {
			return nil, fmt.Errorf("%s: no 'occluded' entry", what)
		}
		occ, err := pklOcclusion(&pth.Dict{Keys: []any{"occluded"}, Values: []any{ov}}, n, T)
		if err != nil {
			return nil, fmt.Errorf("%s: %w", what, err)
		}
		xy, oc, err := pklTracks(pts, occ, n, T, 1, 1)
		if err != nil {
			return nil, fmt.Errorf("%s: 'target_points' %w", what, err)
		}
		for j := 0; j < n; j++ {
			qx, qy := q[j*qw], q[j*qw+1]
			if math.IsNaN(qx) || math.IsInf(qx, 0) || math.IsNaN(qy) || math.IsInf(qy, 0) {
				return nil, fmt.Errorf("%s: query %d is (%v, %v)", what, j, qx, qy)
			}
			v.Queries = append(v.Queries, TAPVidQuery{QueryFrame: t, QueryXY: [2]float64{qx, qy}, TrackXY: xy[j], Occluded: oc[j]})
		}
	}
	if T < 0 {
		return nil, fmt.Errorf("video %d: no query points", v.VideoIdx)
	}
	v.NumFrames = T
	if fv, ok := d.Get("video"); ok {
		frs, err := pklFrames(fv)
		if err != nil {
			return nil, fmt.Errorf("video %d: %w", v.VideoIdx, err)
		}
		if len(frs) != T {
			return nil, fmt.Errorf("video %d: 'video' has %d frames, the tracks %d", v.VideoIdx, len(frs), T)
		}
		v.Frames = frs
	}
	if sv, ok := d.Get("segmentations"); ok {
		a, ok := sv.(*pth.Array)
		if !ok || len(a.Shape) != 3 || a.Shape[0] != T {
			return nil, fmt.Errorf("video %d: 'segmentations' is %s, want [%d, H, W]", v.VideoIdx, pklType(sv), T)
		}
		m, err := a.Bools()
		if err != nil {
			return nil, fmt.Errorf("video %d: 'segmentations': %w", v.VideoIdx, err)
		}
		v.SegHeight, v.SegWidth = a.Shape[1], a.Shape[2]
		n := v.SegHeight * v.SegWidth
		v.Segmentations = make([][]uint8, T)
		for t := range v.Segmentations {
			mask := make([]uint8, n)
			for i, b := range m[t*n : (t+1)*n] {
				if b {
					mask[i] = 1
				}
			}
			v.Segmentations[t] = mask
		}
	}
	return v, nil
}
