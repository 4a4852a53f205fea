package dinotracker

import "fmt"

// Query is a point to track: pixel (X, Y) of frame T, in input-frame
// pixels (x right, y down, integer values at pixel centres).
type Query struct {
	X, Y float64
	T    int
}

// Tracks holds the trajectories of N queries through a video of T frames
// (the result of Tracker.Track). Points are in input-frame pixels
// (Width×Height), whatever resolution the model ran at.
type Tracks struct {
	Width, Height int // input-frame size the points are in
	Frames        int // T

	Queries []Query // [N]
	// Points[i][t] is the (x, y) of query i in frame t, input pixels.
	Points [][][2]float32
	// Occluded[i][t] is the reference's hard occlusion flag (spec §5.3).
	Occluded [][]bool
	// Confidence[i][t] in [0, 1] is the visibility score; Occluded[i][t]
	// equals Confidence[i][t] < ConfidenceThreshold at the default
	// thresholds.
	Confidence [][]float32
}

// ConfidenceThreshold is the confidence below which a point counts as
// occluded; the Occluded flags of Track agree with it.
const ConfidenceThreshold = 0.5

// NewTracks allocates tracks for the given queries over frames frames of a
// width×height video.
func NewTracks(width, height, frames int, queries []Query) *Tracks {
	n := len(queries)
	tr := &Tracks{Width: width, Height: height, Frames: frames, Queries: append([]Query(nil), queries...),
		Points: make([][][2]float32, n), Occluded: make([][]bool, n), Confidence: make([][]float32, n)}
	pts := make([][2]float32, n*frames)
	occ := make([]bool, n*frames)
	conf := make([]float32, n*frames)
	for i := range n {
		tr.Points[i] = pts[i*frames : (i+1)*frames : (i+1)*frames]
		tr.Occluded[i] = occ[i*frames : (i+1)*frames : (i+1)*frames]
		tr.Confidence[i] = conf[i*frames : (i+1)*frames : (i+1)*frames]
	}
	return tr
}

// Len is the number of queries N.
func (tr *Tracks) Len() int { return len(tr.Queries) }

// Validate checks that every slice has the shape [N][Frames] and that the
// queries lie inside the frames.
func (tr *Tracks) Validate() error {
	n := len(tr.Queries)
	if len(tr.Points) != n || len(tr.Occluded) != n || len(tr.Confidence) != n {
		return fmt.Errorf("dinotracker: tracks: %d queries but %d point rows, %d occlusion rows, %d confidence rows",
			n, len(tr.Points), len(tr.Occluded), len(tr.Confidence))
	}
	if tr.Frames < 1 || tr.Width < 1 || tr.Height < 1 {
		return fmt.Errorf("dinotracker: tracks: bad size %d frames of %d×%d", tr.Frames, tr.Width, tr.Height)
	}
	for i := range n {
		if len(tr.Points[i]) != tr.Frames || len(tr.Occluded[i]) != tr.Frames || len(tr.Confidence[i]) != tr.Frames {
			return fmt.Errorf("dinotracker: tracks: row %d has %d points, %d flags, %d confidences; want %d each",
				i, len(tr.Points[i]), len(tr.Occluded[i]), len(tr.Confidence[i]), tr.Frames)
		}
		if q := tr.Queries[i]; q.T < 0 || q.T >= tr.Frames {
			return fmt.Errorf("dinotracker: tracks: query %d is at frame %d of %d", i, q.T, tr.Frames)
		}
	}
	return nil
}
