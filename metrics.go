package dinotracker

// TAP-Vid and BADJA evaluation metrics.
//
// This file is a float64 port of tapnet's compute_tapvid_metrics
// (tapnet/tapvid/evaluation_datasets.py; DINO-Tracker's eval/metrics.py is a
// verbatim copy) and of DINO-Tracker's compute_badja_metrics_for_video. The
// functions are pure: they need no Tracker and never modify their inputs.
//
// Track layout used throughout: tracks are [N][T][2]float64, indexed
// [track][frame], each point stored as (x, y) with x to the right and y down;
// occlusion flags are [N][T]bool with true meaning occluded. This is tapnet's
// [N, T, 2] / [N, T] layout for one video without the batch axis.

import (
	"fmt"
	"math"
)

// QueryMode selects which frames of a track are evaluated, relative to the
// frame of the track's query point.
type QueryMode int

const (
	// QueryFirst evaluates only the frames strictly after the query frame
	// (tapnet's 'first'). The query frame itself and every earlier frame are
	// excluded.
	QueryFirst QueryMode = iota
	// QueryStrided evaluates every frame except the query frame (tapnet's
	// 'strided'), so tracking backwards in time is scored too. DINO-Tracker's
	// benchmark evaluation always uses this mode.
	QueryStrided
)

// String returns tapnet's name for the mode: "first" or "strided".
func (m QueryMode) String() string {
	switch m {
	case QueryFirst:
		return "first"
	case QueryStrided:
		return "strided"
	}
	return fmt.Sprintf("QueryMode(%d)", int(m))
}

// NumTAPVidThresholds is the number of pixel thresholds of the TAP-Vid metrics.
const NumTAPVidThresholds = 5

// tapvidThresholds are the TAP-Vid pixel thresholds δ in the 256×256 raster.
var tapvidThresholds = [NumTAPVidThresholds]float64{1, 2, 4, 8, 16}

// TAPVidThresholds returns the TAP-Vid pixel thresholds δ = 1, 2, 4, 8, 16
// (in the 256×256 evaluation raster). Index i of TAPVidMetrics.PtsWithin and
// TAPVidMetrics.Jaccard refers to threshold i of this array.
func TAPVidThresholds() [NumTAPVidThresholds]float64 { return tapvidThresholds }

// TAPVidMetrics holds the TAP-Vid metrics of one video (or of one track, see
// ComputeTAPVidTrackwise), or their mean over videos. Values are fractions in
// [0, 1] (the papers print them ×100).
//
// A ratio whose denominator is zero is NaN (numpy's 0/0): with no GT-visible
// evaluated point, PtsWithin is NaN, and Jaccard[i] is 0 when some evaluated
// point is predicted visible (all false positives) and NaN otherwise; with no
// evaluated point at all, every field is NaN. The two averages propagate NaN.
type TAPVidMetrics struct {
	// OcclusionAccuracy is #{evaluated: pred_occluded == gt_occluded} / #evaluated.
	OcclusionAccuracy float64
	// PtsWithin[i] is the fraction of GT-visible evaluated points whose
	// prediction lies strictly within threshold i (d² < δ²), ignoring the
	// predicted occlusion (tapnet's pts_within_δ).
	PtsWithin [NumTAPVidThresholds]float64
	// Jaccard[i] is TP / (GT-visible + FP) at threshold i, where
	// TP = GT-visible ∧ predicted-visible ∧ d² < δ² and
	// FP = predicted-visible ∧ (GT-occluded ∨ d² ≥ δ²), over evaluated points.
	Jaccard [NumTAPVidThresholds]float64
	// AverageJaccard is the mean of Jaccard over the thresholds (AJ).
	AverageJaccard float64
	// AveragePtsWithin is the mean of PtsWithin over the thresholds
	// (δ^x_avg, tapnet's average_pts_within_thresh).
	AveragePtsWithin float64
}

// TAPVidInput is one video's ground truth and predictions, in the layout
// ComputeTAPVid expects. All coordinates must already be in the same raster;
// for the benchmark numbers that is the 256×256 raster (see ToRaster256 and
// TracksToRaster256), applied to ground truth and predictions alike.
type TAPVidInput struct {
	// QueryFrames[n] is the frame index of track n's query point, in [0, T).
	// tapnet takes float (t, y, x) query points and uses only round(t); convert
	// with QueryFrameFromT to reproduce that exactly.
	QueryFrames []int
	// GTOccluded is [N][T]; true means occluded in the ground truth.
	GTOccluded [][]bool
	// GTTracks is [N][T] ground-truth points (x, y).
	GTTracks [][][2]float64
	// PredOccluded is [N][T] predicted occlusion (hard flags, not logits).
	PredOccluded [][]bool
	// PredTracks is [N][T] predicted points (x, y).
	PredTracks [][][2]float64
}

// QueryFrameFromT converts a query time t (the first component of tapnet's
// (t, y, x) query points) to a frame index the way tapnet does:
// np.round(t).astype(int32), i.e. round half to even.
func QueryFrameFromT(t float64) int { return int(math.RoundToEven(t)) }

// ToRaster256 maps a point (x, y) of a w×h frame to the 256×256 TAP-Vid
// evaluation raster: (x·256/w, y·256/h). The aspect ratio is not preserved and
// no half-pixel shift is applied, exactly as tapnet's readers and DINO-Tracker's
// evaluator do. Apply it to ground truth (with the video's own size) and to
// predictions (with the size of the frames the tracker saw) before calling
// ComputeTAPVid.
//
// DINO-Tracker computes x·(256/w) in float32; the float64 result here differs
// by at most a few ulps, which can only matter for a distance that lies exactly
// on a threshold.
func ToRaster256(x, y, w, h float64) (float64, float64) {
	return x * 256 / w, y * 256 / h
}

// TracksToRaster256 returns a copy of tracks ([N][T] points (x, y) in a w×h
// frame) mapped to the 256×256 raster with ToRaster256. The input is not
// modified.
func TracksToRaster256(tracks [][][2]float64, w, h float64) [][][2]float64 {
	out := make([][][2]float64, len(tracks))
	for n, tr := range tracks {
		o := make([][2]float64, len(tr))
		for t, p := range tr {
			o[t][0], o[t][1] = ToRaster256(p[0], p[1], w, h)
		}
		out[n] = o
	}
	return out
}

// tapvidCounts are the integer counts behind the TAP-Vid ratios, summed over
// evaluated (track, frame) pairs.
type tapvidCounts struct {
	eval       int // evaluated points
	occCorrect int // evaluated, pred_occluded == gt_occluded
	visible    int // evaluated, GT visible
	within     [NumTAPVidThresholds]int
	tp         [NumTAPVidThresholds]int
	fp         [NumTAPVidThresholds]int
}

func (c *tapvidCounts) add(o *tapvidCounts) {
	c.eval += o.eval
	c.occCorrect += o.occCorrect
	c.visible += o.visible
	for i := range c.within {
		c.within[i] += o.within[i]
		c.tp[i] += o.tp[i]
		c.fp[i] += o.fp[i]
	}
}

// metrics turns counts into ratios with numpy's division semantics (0/0 = NaN).
func (c *tapvidCounts) metrics() TAPVidMetrics {
	var m TAPVidMetrics
	m.OcclusionAccuracy = float64(c.occCorrect) / float64(c.eval)
	var sj, sp float64
	for i := range tapvidThresholds {
		m.PtsWithin[i] = float64(c.within[i]) / float64(c.visible)
		m.Jaccard[i] = float64(c.tp[i]) / float64(c.visible+c.fp[i])
		sj += m.Jaccard[i]
		sp += m.PtsWithin[i]
	}
	m.AverageJaccard = sj / NumTAPVidThresholds
	m.AveragePtsWithin = sp / NumTAPVidThresholds
	return m
}

// validate checks the shapes of in and returns T (0 when N is 0).
func (in *TAPVidInput) validate() (int, error) {
	n := len(in.QueryFrames)
	if len(in.GTOccluded) != n || len(in.GTTracks) != n || len(in.PredOccluded) != n || len(in.PredTracks) != n {
		return 0, fmt.Errorf("dinotracker: tapvid: track counts differ: %d query frames, gt occluded %d, gt tracks %d, pred occluded %d, pred tracks %d",
			n, len(in.GTOccluded), len(in.GTTracks), len(in.PredOccluded), len(in.PredTracks))
	}
	if n == 0 {
		return 0, nil
	}
	T := len(in.GTTracks[0])
	if T == 0 {
		return 0, fmt.Errorf("dinotracker: tapvid: tracks have no frames")
	}
	for i := 0; i < n; i++ {
		if len(in.GTOccluded[i]) != T || len(in.GTTracks[i]) != T || len(in.PredOccluded[i]) != T || len(in.PredTracks[i]) != T {
			return 0, fmt.Errorf("dinotracker: tapvid: track %d: frame counts differ (gt occluded %d, gt track %d, pred occluded %d, pred track %d; want %d)",
				i, len(in.GTOccluded[i]), len(in.GTTracks[i]), len(in.PredOccluded[i]), len(in.PredTracks[i]), T)
		}
		if q := in.QueryFrames[i]; q < 0 || q >= T {
			return 0, fmt.Errorf("dinotracker: tapvid: track %d: query frame %d outside [0, %d)", i, q, T)
		}
	}
	return T, nil
}

// trackCounts computes the counts of track n.
func (in *TAPVidInput) trackCounts(n, T int, mode QueryMode) tapvidCounts {
	var c tapvidCounts
	q := in.QueryFrames[n]
	gtOcc, predOcc := in.GTOccluded[n], in.PredOccluded[n]
	gt, pred := in.GTTracks[n], in.PredTracks[n]
	for t := 0; t < T; t++ {
		if t == q || (mode == QueryFirst && t < q) {
			continue
		}
		c.eval++
		if gtOcc[t] == predOcc[t] {
			c.occCorrect++
		}
		vis, pvis := !gtOcc[t], !predOcc[t]
		if vis {
			c.visible++
		}
		dx, dy := pred[t][0]-gt[t][0], pred[t][1]-gt[t][1]
		d2 := dx*dx + dy*dy // NaN compares false, so a NaN point is never within.
		for i, thr := range tapvidThresholds {
			within := d2 < thr*thr
			if within && vis {
				c.within[i]++
				if pvis {
					c.tp[i]++
				}
			}
			if pvis && (!vis || !within) {
				c.fp[i]++
			}
		}
	}
	return c
}

func checkQueryMode(mode QueryMode) error {
	if mode != QueryFirst && mode != QueryStrided {
		return fmt.Errorf("dinotracker: tapvid: unknown query mode %v", mode)
	}
	return nil
}

// ComputeTAPVid computes the TAP-Vid metrics of one video, exactly as tapnet's
// compute_tapvid_metrics(..., query_mode, get_trackwise_metrics=False) does for
// one batch element: every count is pooled over all tracks and all evaluated
// frames of the video, then divided (see TAPVidMetrics for the NaN rules).
//
// The evaluated frames of track n are t > QueryFrames[n] (QueryFirst) or
// t ≠ QueryFrames[n] (QueryStrided). A point is within threshold δ when
// (Δx² + Δy²) < δ², strictly. Coordinates are not rescaled here.
//
// It returns an error when the slices of in disagree in length, when a track
// has no frames, when a query frame is outside [0, T) (tapnet would fail to
// index or silently wrap), or for an unknown mode. A video with no tracks
// yields all-NaN metrics.
func ComputeTAPVid(in *TAPVidInput, mode QueryMode) (TAPVidMetrics, error) {
	if err := checkQueryMode(mode); err != nil {
		return TAPVidMetrics{}, err
	}
	T, err := in.validate()
	if err != nil {
		return TAPVidMetrics{}, err
	}
	var total tapvidCounts
	for n := range in.QueryFrames {
		c := in.trackCounts(n, T, mode)
		total.add(&c)
	}
	return total.metrics(), nil
}

// ComputeTAPVidTrackwise computes the TAP-Vid metrics of every track of one
// video separately, as compute_tapvid_metrics(..., get_trackwise_metrics=True)
// does: element n pools only the evaluated frames of track n. Errors are those
// of ComputeTAPVid.
func ComputeTAPVidTrackwise(in *TAPVidInput, mode QueryMode) ([]TAPVidMetrics, error) {
	if err := checkQueryMode(mode); err != nil {
		return nil, err
	}
	T, err := in.validate()
	if err != nil {
		return nil, err
	}
	out := make([]TAPVidMetrics, len(in.QueryFrames))
	for n := range out {
		c := in.trackCounts(n, T, mode)
		out[n] = c.metrics()
	}
	return out, nil
}

// MeanTAPVidMetrics returns the unweighted mean of per-video metrics, field by
// field: the benchmark figure is "a simple mean of the metrics across the full
// set of videos" (tapnet's docstring). Like np.mean it propagates NaN: a video
// with an undefined ratio makes that field's mean NaN. An empty slice gives
// all-NaN metrics. See NanMeanTAPVidMetrics for DINO-Tracker's aggregation.
func MeanTAPVidMetrics(ms []TAPVidMetrics) TAPVidMetrics {
	return meanTAPVid(ms, false)
}

// NanMeanTAPVidMetrics returns the per-field mean over videos skipping NaN
// values, which is what DINO-Tracker's eval/eval_benchmark.py computes
// (pandas DataFrame.mean(), skipna=True). A field that is NaN in every video
// (or an empty slice) stays NaN. Where no video has a NaN field it equals
// MeanTAPVidMetrics.
func NanMeanTAPVidMetrics(ms []TAPVidMetrics) TAPVidMetrics {
	return meanTAPVid(ms, true)
}

func meanTAPVid(ms []TAPVidMetrics, skipNaN bool) TAPVidMetrics {
	mean := func(get func(*TAPVidMetrics) float64) float64 {
		var s float64
		k := 0
		for i := range ms {
			v := get(&ms[i])
			if skipNaN && math.IsNaN(v) {
				continue
			}
			s += v
			k++
		}
		return s / float64(k) // 0/0 = NaN when nothing is averaged.
	}
	var out TAPVidMetrics
	out.OcclusionAccuracy = mean(func(m *TAPVidMetrics) float64 { return m.OcclusionAccuracy })
	for i := range tapvidThresholds {
		out.PtsWithin[i] = mean(func(m *TAPVidMetrics) float64 { return m.PtsWithin[i] })
		out.Jaccard[i] = mean(func(m *TAPVidMetrics) float64 { return m.Jaccard[i] })
	}
	out.AverageJaccard = mean(func(m *TAPVidMetrics) float64 { return m.AverageJaccard })
	out.AveragePtsWithin = mean(func(m *TAPVidMetrics) float64 { return m.AveragePtsWithin })
	return out
}

// BADJAMetrics are the BADJA keypoint accuracies of one video (or their mean
// over videos), in percent (×100), as DINO-Tracker reports them.
type BADJAMetrics struct {
	// DeltaSeg is 100 × the fraction of scored points with distance
	// < 0.2·√(GT foreground mask area at that frame) (δ_seg).
	DeltaSeg float64
	// Delta3px is 100 × the fraction of scored points with distance < 3 px (δ_3px).
	Delta3px float64
	// Count is the number of scored (track, frame) pairs. For a mean over
	// videos it is the total over the videos.
	Count int
}

// BADJAMaskArea returns the foreground area of a segmentation mask in pixels:
// the number of nonzero values (the reference thresholds masks with > 0).
func BADJAMaskArea(mask []uint8) float64 {
	k := 0
	for _, v := range mask {
		if v != 0 {
			k++
		}
	}
	return float64(k)
}

// ComputeBADJA computes the BADJA metrics of one video as DINO-Tracker's
// compute_badja_metrics_for_video does (spec §6.3). Every track n and every
// frame t ≥ 1 (frame 0 is skipped, whatever the query frame) where the ground
// truth is visible is scored, with d = ‖pred − gt‖ (Euclidean):
//
//	δ_seg: d < 0.2·√maskArea[t]
//	δ_3px: d < 3
//
// Both are pooled over the video and returned in percent (fraction × 100).
// Occlusion predictions are not scored. Tracks are [N][T] points (x, y) and
// must already be in the benchmark resolution (the resolution of the masks);
// maskArea[t] is the GT foreground area at frame t in pixels (BADJAMaskArea).
//
// When no point is scored the reference raises (np.stack of an empty list);
// here DeltaSeg and Delta3px are NaN and Count is 0. Mismatched lengths are
// an error.
func ComputeBADJA(gtTracks [][][2]float64, gtOccluded [][]bool, predTracks [][][2]float64, maskArea []float64) (BADJAMetrics, error) {
	n := len(gtTracks)
	if len(gtOccluded) != n || len(predTracks) != n {
		return BADJAMetrics{}, fmt.Errorf("dinotracker: badja: track counts differ: gt tracks %d, gt occluded %d, pred tracks %d",
			n, len(gtOccluded), len(predTracks))
	}
	T := len(maskArea)
	var nSeg, n3px, total int
	for i := 0; i < n; i++ {
		if len(gtTracks[i]) != T || len(gtOccluded[i]) != T || len(predTracks[i]) != T {
			return BADJAMetrics{}, fmt.Errorf("dinotracker: badja: track %d: frame counts differ (gt track %d, gt occluded %d, pred track %d; %d mask areas)",
				i, len(gtTracks[i]), len(gtOccluded[i]), len(predTracks[i]), T)
		}
		for t := 1; t < T; t++ {
			if gtOccluded[i][t] {
				continue
			}
			dx := predTracks[i][t][0] - gtTracks[i][t][0]
			dy := predTracks[i][t][1] - gtTracks[i][t][1]
			d := math.Sqrt(dx*dx + dy*dy)
			total++
			if d < 0.2*math.Sqrt(maskArea[t]) {
				nSeg++
			}
			if d < 3 {
				n3px++
			}
		}
	}
	return BADJAMetrics{
		DeltaSeg: 100 * float64(nSeg) / float64(total),
		Delta3px: 100 * float64(n3px) / float64(total),
		Count:    total,
	}, nil
}

// MeanBADJAMetrics returns the unweighted mean over videos of DeltaSeg and
// Delta3px (each video counts once, whatever its number of points), with NaN
// propagating as in np.mean; Count is the total. An empty slice gives NaN.
func MeanBADJAMetrics(ms []BADJAMetrics) BADJAMetrics {
	var out BADJAMetrics
	for _, m := range ms {
		out.DeltaSeg += m.DeltaSeg
		out.Delta3px += m.Delta3px
		out.Count += m.Count
	}
	k := float64(len(ms))
	out.DeltaSeg /= k
	out.Delta3px /= k
	return out
}
