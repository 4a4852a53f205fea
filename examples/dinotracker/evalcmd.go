package main

import (
	"context"
	"encoding/csv"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"math"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"time"

	"dinotracker"
	"dinotracker/flow"
	"dinotracker/safetensors"
)

// defaultEvalFlowPreset is the flow preset of "eval -method flow", the best
// on the 8 TAP-Vid DAVIS dev clips (tapvid-davis-32f, full resolution): AJ
// 0.580 against 0.577 (fast) and 0.575 (default), for about 3× the CPU time
// of fast. Halving the flow resolution lowers AJ to 0.51–0.56.
const defaultEvalFlowPreset = "accurate"

// evalCSVHeader is the column list of the eval CSV (BADJA datasets add
// delta_seg and delta_3px).
var evalCSVHeader = []string{"video_idx", "davis_name", "occlusion_accuracy",
	"pts_within_1", "pts_within_2", "pts_within_4", "pts_within_8", "pts_within_16",
	"jaccard_1", "jaccard_2", "jaccard_4", "jaccard_8", "jaccard_16",
	"average_jaccard", "average_pts_within_thresh", "fit_seconds", "track_seconds"}

// evalVideo is one video of the dataset: its ground truth and where its
// frames and masks come from.
type evalVideo struct {
	gt       *dinotracker.TAPVidVideo
	pickle   *dinotracker.TAPVidPickleVideo // frames and segmentations, for pickles
	frameDir string                         // frames folder, when not in the pickle
	maskDir  string                         // DAVIS masks folder, "" when absent
}

// evalRow is one video's result.
type evalRow struct {
	sweep      []dinotracker.TAPVidMetrics // per -sweep threshold
	idx        int
	name       string
	frames     int
	queries    int
	m          dinotracker.TAPVidMetrics
	badja      *dinotracker.BADJAMetrics
	fit, track float64 // seconds
}

// runEval tracks the queries of every video of a TAP-Vid dataset with
// DINO-Tracker or the chained-flow baseline and scores them as the
// reference's benchmark evaluator does.
func runEval(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	fs := flag.NewFlagSet("eval", flag.ContinueOnError)
	fs.SetOutput(stderr)
	dataset := fs.String("dataset", "", "TAP-Vid data: a folder laid out like tapvid-davis-32f (gt_json/video_<idx>.json, videos/<idx>/video/*.jpg, videos/<idx>/masks/), or a .pkl (tapnet's tapvid_davis.pkl or DINO-Tracker's tapvid_davis_data_strided.pkl)")
	videoRoot := fs.String("video-root", "", "for a pickle without frames: the frames are <root>/<idx>/video/*.jpg (default: the folder videos/ beside the pickle)")
	out := fs.String("out", "", "CSV of per-video metrics and their mean, rewritten atomically after every video")
	videos := fs.String("videos", "", "comma-separated video indices to evaluate, e.g. 2,9,29 (default: all)")
	method := fs.String("method", "dino", "dino (fit DINO-Tracker per video, then track), flow (chained optical flow, no training) or saved (score the tracks an earlier run saved with -tracks DIR)")
	sweep := fs.String("sweep", "", "also score occlusion as confidence < θ for these thresholds, e.g. 0.1,0.3,0.5,0.7,0.9, and print the mean AJ, δavg and OA for each")
	config := fs.String("config", "fast", "-method dino: training configuration, paper or fast")
	weights := fs.String("weights", "builtin", "-method dino: DINOv2 weights (.pth, .safetensors, .onnx) or \"builtin\"")
	heads := fs.Int("heads", 0, "-method dino: attention heads for weights of a non-standard size")
	iters := fs.Int("iters", 0, "-method dino: training iterations, the schedule scaled (default: the configuration's)")
	work := fs.String("work", "", "-method dino: keep each video's preprocessing and checkpoints in WORK/<idx> (a rerun resumes); default: temporary")
	nFrames := fs.Int("frames", 0, "use only the first N frames of every video (queries on later frames are dropped)")
	tracksDir := fs.String("tracks", "", "also save each video's tracks as DIR/<idx>/tracks.json")
	preset := fs.String("flow-preset", defaultEvalFlowPreset, "-method flow: flow preset, fast, default or accurate")
	flowSize := fs.String("flow-size", "", "-method flow: HxW resolution to estimate and chain the flow at (default: the video's)")
	maxAnchors := fs.Int("max-anchors", 0, "-method dino: back-project into at most this many anchor frames per query (0: all, as the reference; fewer is faster and approximate)")
	quiet := fs.Bool("q", false, "no progress bars")
	if err := fs.Parse(args); err != nil {
		return errUsage
	}
	if *maxAnchors < 0 {
		fmt.Fprintln(stderr, "-max-anchors must be 0 (every anchor) or positive")
		return errUsage
	}
	if *dataset == "" || *out == "" {
		fmt.Fprintln(stderr, "eval needs -dataset and -out")
		fs.Usage()
		return errUsage
	}
	usage := func(format string, a ...any) error {
		fmt.Fprintf(stderr, format+"\n", a...)
		return errUsage
	}
	m := strings.ToLower(*method)
	if m != "dino" && m != "flow" && m != "saved" {
		return usage("-method %q: want dino, flow or saved", *method)
	}
	if m == "saved" && *tracksDir == "" {
		return usage("-method saved reads DIR/<idx>/tracks.json: give -tracks DIR")
	}
	thetas, err := parseSweep(*sweep)
	if err != nil {
		return usage("-sweep: %v", err)
	}
	if *nFrames < 0 || *nFrames == 1 {
		return usage("-frames %d: want 0 (all) or at least %d", *nFrames, dinotracker.MinFrames)
	}
	if *iters < 0 {
		return usage("-iters %d: want a positive count", *iters)
	}
	var cfg dinotracker.Config
	switch strings.ToLower(*config) {
	case "paper":
		cfg = dinotracker.PaperConfig()
	case "fast":
		cfg = dinotracker.FastConfig()
	default:
		return usage("-config %q: want paper or fast", *config)
	}
	if *iters > 0 {
		cfg = cfg.Scaled(*iters)
	}
	fopt, err := flowPreset(*preset)
	if err != nil {
		return usage("-flow-preset %v", err)
	}
	var fh, fw int
	if *flowSize != "" {
		if fh, fw, err = parseFlowSize(*flowSize); err != nil {
			return usage("%v", err)
		}
	}
	want, err := parseVideoList(*videos)
	if err != nil {
		return usage("%v", err)
	}
	vids, err := loadEvalDataset(*dataset, *videoRoot)
	if err != nil {
		return err
	}
	if vids, err = selectVideos(vids, want); err != nil {
		return usage("%v", err)
	}
	var ext *dinotracker.FeatureExtractor
	if m == "dino" {
		if ext, err = (inputFlags{weights: weights, heads: heads}).extractor(); err != nil {
			return err
		}
	}

	badja := false
	for _, v := range vids {
		if v.pickle != nil && v.pickle.Segmentations != nil {
			badja = true
		}
	}
	fmt.Fprintf(stdout, "eval %s on %d videos of %s\n", m, len(vids), *dataset)
	fmt.Fprint(stdout, tableHeader(badja))
	var rows []evalRow
	for _, ev := range vids {
		if err := ctx.Err(); err != nil {
			return err
		}
		if !*quiet {
			fmt.Fprintf(stderr, "video %d (%s)\n", ev.gt.VideoIdx, ev.gt.DavisName)
		}
		var bar *progressBar
		if !*quiet {
			bar = newProgressBar(stderr)
		}
		row, err := evalOne(ctx, ev, evalSettings{method: m, frames: *nFrames, cfg: cfg, ext: ext, work: *work, maxAnchors: *maxAnchors,
			flow: fopt, flowW: fw, flowH: fh, tracksDir: *tracksDir, bar: bar, stderr: stderr, quiet: *quiet, sweep: thetas})
		if err != nil {
			return fmt.Errorf("video %d (%s): %w", ev.gt.VideoIdx, ev.gt.DavisName, err)
		}
		rows = append(rows, row)
		fmt.Fprint(stdout, tableRow(row, badja))
		if err := writeEvalCSV(*out, rows, badja); err != nil {
			return err
		}
	}
	mean := meanRow(rows)
	fmt.Fprint(stdout, tableRow(mean, badja))
	fmt.Fprintf(stdout, "mean over %d videos (%d queries): AJ %.4f  δavg %.4f  OA %.4f  (%.1f s fit + %.1f s track per video); CSV in %s\n",
		len(rows), mean.queries, mean.m.AverageJaccard, mean.m.AveragePtsWithin, mean.m.OcclusionAccuracy, mean.fit, mean.track, *out)
	if m == "dino" && ext == nil {
		fmt.Fprintln(stdout, "note: fitted on the built-in descriptors, not DINOv2 (pass -weights for DINOv2 features)")
	}
	if len(thetas) > 0 {
		fmt.Fprintln(stdout, "occlusion from the confidence: occluded when confidence < θ (mean over videos)")
		fmt.Fprintln(stdout, "θ        AJ    δavg      OA")
		for k, th := range thetas {
			ms := make([]dinotracker.TAPVidMetrics, len(rows))
			for i, r := range rows {
				ms[i] = r.sweep[k]
			}
			mm := dinotracker.NanMeanTAPVidMetrics(ms)
			fmt.Fprintf(stdout, "%-5.2f %7.4f %7.4f %7.4f\n", th, mm.AverageJaccard, mm.AveragePtsWithin, mm.OcclusionAccuracy)
		}
	}
	return nil
}

// parseSweep reads a comma-separated list of thresholds in [0, 1].
func parseSweep(s string) ([]float64, error) {
	if s == "" {
		return nil, nil
	}
	var out []float64
	for _, f := range strings.Split(s, ",") {
		v, err := strconv.ParseFloat(strings.TrimSpace(f), 64)
		if err != nil || v < 0 || v > 1 {
			return nil, fmt.Errorf("%q: want thresholds in [0, 1]", f)
		}
		out = append(out, v)
	}
	return out, nil
}

// parseFlowSize parses "HxW" (any positive size).
func parseFlowSize(s string) (h, w int, err error) {
	parts := strings.Split(strings.ToLower(s), "x")
	if len(parts) == 2 {
		h, err1 := strconv.Atoi(parts[0])
		w, err2 := strconv.Atoi(parts[1])
		if err1 == nil && err2 == nil && h > 0 && w > 0 {
			return h, w, nil
		}
	}
	return 0, 0, fmt.Errorf("-flow-size %q: want HxW, e.g. 240x427", s)
}

// parseVideoList parses "2,9,29".
func parseVideoList(s string) ([]int, error) {
	if strings.TrimSpace(s) == "" {
		return nil, nil
	}
	var out []int
	for _, f := range strings.Split(s, ",") {
		n, err := strconv.Atoi(strings.TrimSpace(f))
		if err != nil || n < 0 {
			return nil, fmt.Errorf("-videos %q: want comma-separated video indices, e.g. 2,9,29", s)
		}
		out = append(out, n)
	}
	return out, nil
}

func selectVideos(vids []evalVideo, want []int) ([]evalVideo, error) {
	if want == nil {
		return vids, nil
	}
	byIdx := map[int]evalVideo{}
	var have []string
	for _, v := range vids {
		byIdx[v.gt.VideoIdx] = v
		have = append(have, strconv.Itoa(v.gt.VideoIdx))
	}
	var out []evalVideo
	for _, i := range want {
		v, ok := byIdx[i]
		if !ok {
			return nil, fmt.Errorf("-videos: no video %d in the dataset (it has %s)", i, strings.Join(have, ","))
		}
		out = append(out, v)
	}
	return out, nil
}

func isDir(p string) bool {
	st, err := os.Stat(p)
	return err == nil && st.IsDir()
}

// frameFolder returns root/<idx>/video, or root/<idx> when that holds the
// frames directly.
func frameFolder(root string, idx int) string {
	d := filepath.Join(root, strconv.Itoa(idx))
	if v := filepath.Join(d, "video"); isDir(v) {
		return v
	}
	return d
}

func maskFolder(root string, idx int) string {
	if d := filepath.Join(root, strconv.Itoa(idx), "masks"); isDir(d) {
		return d
	}
	return ""
}

// loadEvalDataset reads a dataset folder or pickle.
func loadEvalDataset(path, videoRoot string) ([]evalVideo, error) {
	st, err := os.Stat(path)
	if err != nil {
		return nil, err
	}
	var out []evalVideo
	if st.IsDir() {
		gts, err := dinotracker.LoadTAPVidDir(path)
		if err != nil {
			return nil, err
		}
		root := filepath.Join(path, "videos")
		if videoRoot != "" {
			root = videoRoot
		}
		for _, g := range gts {
			out = append(out, evalVideo{gt: g, frameDir: frameFolder(root, g.VideoIdx), maskDir: maskFolder(root, g.VideoIdx)})
		}
		return out, nil
	}
	pv, err := dinotracker.LoadTAPVidPickle(path)
	if err != nil {
		return nil, err
	}
	root := filepath.Join(filepath.Dir(path), "videos")
	if videoRoot != "" {
		root = videoRoot
	}
	seen := map[int]bool{}
	for _, p := range pv {
		if seen[p.VideoIdx] {
			return nil, fmt.Errorf("%s: video index %d appears twice", path, p.VideoIdx)
		}
		seen[p.VideoIdx] = true
		ev := evalVideo{gt: &p.TAPVidVideo, pickle: p, maskDir: maskFolder(root, p.VideoIdx)}
		if p.Frames == nil {
			ev.frameDir = frameFolder(root, p.VideoIdx)
		}
		out = append(out, ev)
	}
	return out, nil
}

// truncateGT returns the ground truth cut to the first n frames; queries on
// later frames are dropped.
func truncateGT(g *dinotracker.TAPVidVideo, n int) *dinotracker.TAPVidVideo {
	if n <= 0 || n >= g.NumFrames {
		return g
	}
	c := *g
	c.NumFrames = n
	c.Queries = nil
	for _, q := range g.Queries {
		if q.QueryFrame >= n {
			continue
		}
		q.TrackXY = q.TrackXY[:n:n]
		q.Occluded = q.Occluded[:n:n]
		c.Queries = append(c.Queries, q)
	}
	return &c
}

// truncateVideo returns v with only its first n frames.
func truncateVideo(v *dinotracker.Video, n int) *dinotracker.Video {
	if n >= v.Len() {
		return v
	}
	c := *v
	c.Frames = v.Frames[:n:n]
	if len(v.Names) >= n {
		c.Names = v.Names[:n:n]
	}
	return &c
}

type evalSettings struct {
	method       string
	frames       int
	cfg          dinotracker.Config
	ext          *dinotracker.FeatureExtractor
	work         string
	maxAnchors   int
	flow         flow.Options
	flowW, flowH int
	tracksDir    string
	sweep        []float64
	bar          *progressBar
	stderr       io.Writer
	quiet        bool
}

func (s *evalSettings) report(p dinotracker.Progress) {
	if s.bar != nil {
		s.bar.Report(p)
	}
}

// evalOne tracks and scores one video.
func evalOne(ctx context.Context, ev evalVideo, s evalSettings) (evalRow, error) {
	var v *dinotracker.Video
	var err error
	if ev.pickle != nil && ev.pickle.Frames != nil {
		v, err = ev.pickle.Video()
	} else {
		v, err = dinotracker.LoadVideo(ctx, ev.frameDir)
	}
	if err != nil {
		return evalRow{}, err
	}
	gt := ev.gt
	if s.frames > 0 {
		gt = truncateGT(gt, s.frames)
	}
	switch {
	case v.Len() < gt.NumFrames:
		return evalRow{}, fmt.Errorf("the video has %d frames, the ground truth %d", v.Len(), gt.NumFrames)
	case v.Len() > gt.NumFrames:
		if s.frames == 0 {
			fmt.Fprintf(s.stderr, "eval: video %d has %d frames, the ground truth %d; using the first %d\n", gt.VideoIdx, v.Len(), gt.NumFrames, gt.NumFrames)
		}
		v = truncateVideo(v, gt.NumFrames)
	}
	T := gt.NumFrames
	// Ground-truth pixels → frame pixels (the frames may be stored at
	// another size than the annotations refer to).
	sx, sy := float64(v.Width)/float64(gt.Width), float64(v.Height)/float64(gt.Height)
	queries := make([]dinotracker.Query, len(gt.Queries))
	for i, q := range gt.Queries {
		queries[i] = dinotracker.Query{X: q.QueryXY[0] * sx, Y: q.QueryXY[1] * sy, T: q.QueryFrame}
	}
	row := evalRow{idx: gt.VideoIdx, name: gt.DavisName, frames: T, queries: len(queries)}

	var tr *dinotracker.Tracks
	switch s.method {
	case "flow":
		start := time.Now()
		tr, err = dinotracker.TrackWithFlow(ctx, v, queries, dinotracker.FlowTrackOptions{Flow: s.flow, Width: s.flowW, Height: s.flowH, Progress: s.report})
		row.track = time.Since(start).Seconds()
	case "dino":
		tr, row.fit, row.track, err = trackDino(ctx, v, queries, ev, s)
	case "saved":
		tr, err = dinotracker.ReadTracksFile(filepath.Join(s.tracksDir, strconv.Itoa(gt.VideoIdx), "tracks.json"))
		if err == nil && (tr.Width != v.Width || tr.Height != v.Height) {
			err = fmt.Errorf("saved tracks are for %dx%d frames, the video is %dx%d", tr.Width, tr.Height, v.Width, v.Height)
		}
	}
	if err != nil {
		return evalRow{}, err
	}
	if tr.Len() != len(queries) || tr.Frames != T {
		return evalRow{}, fmt.Errorf("tracker returned %d tracks of %d frames for %d queries of %d frames", tr.Len(), tr.Frames, len(queries), T)
	}
	pred := make([][][2]float64, tr.Len())
	for i, p := range tr.Points {
		pred[i] = make([][2]float64, T)
		for t, xy := range p {
			pred[i][t] = [2]float64{float64(xy[0]), float64(xy[1])}
		}
	}
	if row.m, err = gt.Evaluate(pred, tr.Occluded, float64(v.Width), float64(v.Height)); err != nil {
		return evalRow{}, err
	}
	if ev.pickle != nil && ev.pickle.Segmentations != nil {
		b, err := scoreBADJA(gt, ev.pickle.Segmentations, pred, sx, sy)
		if err != nil {
			return evalRow{}, err
		}
		row.badja = &b
	}
	for _, th := range s.sweep {
		occ := make([][]bool, tr.Len())
		for i, c := range tr.Confidence {
			occ[i] = make([]bool, T)
			for t, v := range c {
				occ[i][t] = float64(v) < th
			}
		}
		m, err := gt.Evaluate(pred, occ, float64(v.Width), float64(v.Height))
		if err != nil {
			return evalRow{}, err
		}
		row.sweep = append(row.sweep, m)
	}
	if s.tracksDir != "" && s.method != "saved" {
		dir := filepath.Join(s.tracksDir, strconv.Itoa(gt.VideoIdx))
		if err := os.MkdirAll(dir, 0o755); err != nil {
			return evalRow{}, err
		}
		if err := tr.WriteFile(filepath.Join(dir, "tracks.json")); err != nil {
			return evalRow{}, err
		}
	}
	return row, nil
}

// scoreBADJA computes δ_seg and δ_3px in the annotation resolution:
// predictions (frame pixels) are mapped back by 1/sx, 1/sy.
func scoreBADJA(gt *dinotracker.TAPVidVideo, segs [][]uint8, pred [][][2]float64, sx, sy float64) (dinotracker.BADJAMetrics, error) {
	T := gt.NumFrames
	if len(segs) < T {
		return dinotracker.BADJAMetrics{}, fmt.Errorf("%d segmentation masks for %d frames", len(segs), T)
	}
	areas := make([]float64, T)
	for t := range areas {
		areas[t] = dinotracker.BADJAMaskArea(segs[t])
	}
	gtTracks := make([][][2]float64, len(gt.Queries))
	gtOcc := make([][]bool, len(gt.Queries))
	p := make([][][2]float64, len(pred))
	for i, q := range gt.Queries {
		gtTracks[i], gtOcc[i] = q.TrackXY, q.Occluded
		p[i] = make([][2]float64, T)
		for t, xy := range pred[i] {
			p[i][t] = [2]float64{xy[0] / sx, xy[1] / sy}
		}
	}
	return dinotracker.ComputeBADJA(gtTracks, gtOcc, p, areas)
}

// trackDino fits DINO-Tracker to the video and tracks the queries.
func trackDino(ctx context.Context, v *dinotracker.Video, queries []dinotracker.Query, ev evalVideo, s evalSettings) (*dinotracker.Tracks, float64, float64, error) {
	to := dinotracker.DefaultTrackOptions()
	to.Occlusion.MaxAnchors = s.maxAnchors
	opts := []dinotracker.Option{dinotracker.WithLogger(slog.Default()), dinotracker.WithTrackOptions(to)}
	if s.work != "" {
		opts = append(opts, dinotracker.WithWorkDir(filepath.Join(s.work, strconv.Itoa(ev.gt.VideoIdx))))
	}
	if ev.maskDir != "" {
		opts = append(opts, dinotracker.WithMasks(ev.maskDir))
	}
	if s.ext != nil {
		opts = append(opts, dinotracker.WithFeatureExtractor(s.ext))
	}
	if !s.quiet {
		fb := &fitBar{w: s.stderr, width: 24}
		opts = append(opts,
			dinotracker.WithProgress(func(p dinotracker.Progress) {
				if p.Stage != "fit" {
					s.report(p)
				}
			}),
			dinotracker.WithFitProgress(fb.Report))
	}
	tr, err := dinotracker.NewTracker(s.cfg, opts...)
	if err != nil {
		return nil, 0, 0, err
	}
	start := time.Now()
	if err := tr.Fit(ctx, v); err != nil {
		return nil, 0, 0, err
	}
	fit := time.Since(start).Seconds()
	start = time.Now()
	tracks, err := tr.Track(ctx, queries)
	if err != nil {
		return nil, 0, 0, err
	}
	return tracks, fit, time.Since(start).Seconds(), nil
}

// meanRow averages the rows as DINO-Tracker's evaluator does (pandas mean,
// NaN skipped).
func meanRow(rows []evalRow) evalRow {
	ms := make([]dinotracker.TAPVidMetrics, len(rows))
	var bs []dinotracker.BADJAMetrics
	out := evalRow{idx: -1}
	for i, r := range rows {
		ms[i] = r.m
		out.fit += r.fit / float64(len(rows))
		out.track += r.track / float64(len(rows))
		out.frames += r.frames
		out.queries += r.queries
		if r.badja != nil {
			bs = append(bs, *r.badja)
		}
	}
	out.m = dinotracker.NanMeanTAPVidMetrics(ms)
	if len(bs) > 0 {
		b := dinotracker.MeanBADJAMetrics(bs)
		out.badja = &b
	}
	return out
}

func tableHeader(badja bool) string {
	h := fmt.Sprintf("%-6s %-20s %6s %7s %7s %7s %7s %8s %8s", "video", "name", "frames", "queries", "AJ", "δavg", "OA", "fit s", "track s")
	if badja {
		h += fmt.Sprintf(" %7s %7s", "δseg", "δ3px")
	}
	return h + "\n"
}

func tableRow(r evalRow, badja bool) string {
	idx := strconv.Itoa(r.idx)
	if r.idx < 0 {
		idx = "mean"
	}
	frames, queries := strconv.Itoa(r.frames), strconv.Itoa(r.queries)
	if r.idx < 0 {
		frames, queries = "", ""
	}
	s := fmt.Sprintf("%-6s %-20s %6s %7s %7.4f %7.4f %7.4f %8.1f %8.1f", idx, r.name, frames, queries,
		r.m.AverageJaccard, r.m.AveragePtsWithin, r.m.OcclusionAccuracy, r.fit, r.track)
	if badja {
		if r.badja != nil {
			s += fmt.Sprintf(" %7.2f %7.2f", r.badja.DeltaSeg, r.badja.Delta3px)
		} else {
			s += fmt.Sprintf(" %7s %7s", "-", "-")
		}
	}
	return s + "\n"
}

func fmtMetric(v float64) string {
	if math.IsNaN(v) {
		return "nan"
	}
	return strconv.FormatFloat(v, 'f', 6, 64)
}

// writeEvalCSV writes the rows and their mean atomically.
func writeEvalCSV(path string, rows []evalRow, badja bool) error {
	if dir := filepath.Dir(path); dir != "" {
		if err := os.MkdirAll(dir, 0o755); err != nil {
			return err
		}
	}
	header := evalCSVHeader
	if badja {
		header = append(append([]string(nil), header...), "delta_seg", "delta_3px")
	}
	record := func(r evalRow) []string {
		idx := strconv.Itoa(r.idx)
		if r.idx < 0 {
			idx = "mean"
		}
		rec := []string{idx, r.name, fmtMetric(r.m.OcclusionAccuracy)}
		for _, v := range r.m.PtsWithin {
			rec = append(rec, fmtMetric(v))
		}
		for _, v := range r.m.Jaccard {
			rec = append(rec, fmtMetric(v))
		}
		rec = append(rec, fmtMetric(r.m.AverageJaccard), fmtMetric(r.m.AveragePtsWithin),
			strconv.FormatFloat(r.fit, 'f', 3, 64), strconv.FormatFloat(r.track, 'f', 3, 64))
		if badja {
			if r.badja != nil {
				rec = append(rec, fmtMetric(r.badja.DeltaSeg), fmtMetric(r.badja.Delta3px))
			} else {
				rec = append(rec, "", "")
			}
		}
		return rec
	}
	err := safetensors.WriteAtomic(path, func(w io.Writer) error {
		cw := csv.NewWriter(w)
		if err := cw.Write(header); err != nil {
			return err
		}
		for _, r := range rows {
			if err := cw.Write(record(r)); err != nil {
				return err
			}
		}
		if err := cw.Write(record(meanRow(rows))); err != nil {
			return err
		}
		cw.Flush()
		return cw.Error()
	})
	if err != nil {
		return fmt.Errorf("writing %s: %w", path, err)
	}
	return nil
}
