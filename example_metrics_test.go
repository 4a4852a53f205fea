package dinotracker_test

import (
	"fmt"

	"dinotracker"
)

// ExampleComputeTAPVid scores two tracks of a 4-frame, 512×512 video in
// strided mode, after mapping ground truth and predictions to the 256×256
// evaluation raster.
func ExampleComputeTAPVid() {
	const w, h = 512, 512
	// Tracks are [N][T] points (x, y) in input-frame pixels.
	gt := [][][2]float64{
		{{100, 100}, {110, 100}, {120, 100}, {130, 100}},
		{{300, 300}, {300, 310}, {300, 320}, {300, 330}},
	}
	pred := [][][2]float64{
		{{100, 100}, {111, 100}, {126, 100}, {170, 100}}, // 0.5, 3 and 20 px off at 256×256
		{{300, 300}, {300, 310}, {300, 320}, {300, 330}}, // exact
	}
	in := &dinotracker.TAPVidInput{
		QueryFrames:  []int{0, 1}, // frame of each track's query point
		GTOccluded:   [][]bool{{false, false, false, false}, {false, false, false, true}},
		GTTracks:     dinotracker.TracksToRaster256(gt, w, h),
		PredOccluded: [][]bool{{false, false, false, false}, {false, false, false, false}},
		PredTracks:   dinotracker.TracksToRaster256(pred, w, h),
	}
	// Strided mode scores every frame but the query frame: 6 points, 5 of them
	// GT-visible. Track 1's last frame is GT-occluded but predicted visible: an
	// occlusion error and a false positive at every threshold. Below δ=4 the
	// 3 px and 20 px points are also false positives (J = 3/(5+3)); from δ=4
	// only the 20 px one is (J = 4/(5+2)).
	m, err := dinotracker.ComputeTAPVid(in, dinotracker.QueryStrided)
	if err != nil {
		fmt.Println(err)
		return
	}
	fmt.Printf("AJ %.4f  δavg %.4f  OA %.4f\n", m.AverageJaccard, m.AveragePtsWithin, m.OcclusionAccuracy)
	for i, thr := range dinotracker.TAPVidThresholds() {
		fmt.Printf("δ=%2.0f  pts_within %.3f  jaccard %.3f\n", thr, m.PtsWithin[i], m.Jaccard[i])
	}
	// Output:
	// AJ 0.4929  δavg 0.7200  OA 0.8333
	// δ= 1  pts_within 0.600  jaccard 0.375
	// δ= 2  pts_within 0.600  jaccard 0.375
	// δ= 4  pts_within 0.800  jaccard 0.571
	// δ= 8  pts_within 0.800  jaccard 0.571
	// δ=16  pts_within 0.800  jaccard 0.571
}
