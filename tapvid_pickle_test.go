package dinotracker

import (
	"bytes"
	"errors"
	"math"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"dinotracker/pth"
)

// The pickles are written by testdata/pickle/make_pickles.py; the formulas
// below mirror it.
var picklesDir = filepath.Join("testdata", "pickle")

func readPickle(t testing.TB, name string) []byte {
	t.Helper()
	b, err := os.ReadFile(filepath.Join(picklesDir, name))
	if err != nil {
		t.Fatal(err)
	}
	return b
}

// tapnetPoint is make_pickles.py's tapnet point of track n at frame t, in
// pixels of a w×h frame (stored as float32, normalised).
func tapnetPoint(n, t, w, h int) [2]float64 {
	x := float32(float64(n+1)/8 + float64(t)/64)
	y := float32(float64(n+2)/10 + float64(t)/100)
	return [2]float64{float64(x) * float64(w), float64(y) * float64(h)}
}

func TestTAPVidPickleTapnet(t *testing.T) {
	for _, name := range []string{"tapvid_davis_p2.pkl", "tapvid_davis_p4.pkl", "tapvid_davis_p5.pkl"} {
		t.Run(name, func(t *testing.T) {
			vids, err := ReadTAPVidPickle(bytes.NewReader(readPickle(t, name)))
			if err != nil {
				t.Fatal(err)
			}
			if len(vids) != 2 {
				t.Fatalf("%d videos", len(vids))
			}
			for i, want := range []struct {
				name          string
				T, H, W, seed int
			}{{"bear", 7, 8, 10, 0}, {"dog", 6, 6, 9, 7}} {
				v := vids[i]
				if v.VideoIdx != i || v.DavisName != want.name || v.NumFrames != want.T || v.Width != want.W || v.Height != want.H {
					t.Fatalf("video %d: %+v", i, v.TAPVidVideo)
				}
				if v.Segmentations != nil {
					t.Error("segmentations in a tapnet pickle")
				}
				// Strided queries: frame 0 has tracks 0 and 2 visible, frame 5
				// tracks 0 and 1 (track 3 is occluded on both).
				wantQ := [][2]int{{0, 0}, {0, 2}, {5, 0}, {5, 1}}
				if len(v.Queries) != len(wantQ) {
					t.Fatalf("video %d: %d queries, want %d", i, len(v.Queries), len(wantQ))
				}
				for k, wq := range wantQ {
					q := v.Queries[k]
					tq, n := wq[0], wq[1]
					if q.QueryFrame != tq || q.QueryXY != tapnetPoint(n, tq, want.W, want.H) || len(q.TrackXY) != want.T || len(q.Occluded) != want.T {
						t.Fatalf("video %d query %d: frame %d at %v, want frame %d at %v", i, k, q.QueryFrame, q.QueryXY, tq, tapnetPoint(n, tq, want.W, want.H))
					}
					for tt := 0; tt < want.T; tt++ {
						occ := (n == 1 && tt == 0) || (n == 2 && tt >= 3)
						if q.TrackXY[tt] != tapnetPoint(n, tt, want.W, want.H) || q.Occluded[tt] != occ {
							t.Fatalf("video %d query %d frame %d: %v %v", i, k, tt, q.TrackXY[tt], q.Occluded[tt])
						}
					}
				}
				vid, err := v.Video()
				if err != nil {
					t.Fatal(err)
				}
				if vid.Len() != want.T || vid.Width != want.W || vid.Height != want.H {
					t.Fatalf("video %d: %d frames of %dx%d", i, vid.Len(), vid.Width, vid.Height)
				}
				for tt := 0; tt < want.T; tt++ {
					for y := 0; y < want.H; y++ {
						for x := 0; x < want.W; x++ {
							for c := 0; c < 3; c++ {
								if got, w := vid.Frames[tt].Pix[(y*want.W+x)*3+c], uint8((tt*40+y*10+x*3+c+want.seed)%256); got != w {
									t.Fatalf("video %d frame %d pixel (%d,%d,%d) = %d, want %d", i, tt, x, y, c, got, w)
								}
							}
						}
					}
				}
				// The ground truth scores perfectly against itself.
				pred := make([][][2]float64, len(v.Queries))
				occ := make([][]bool, len(v.Queries))
				for k, q := range v.Queries {
					pred[k], occ[k] = q.TrackXY, q.Occluded
				}
				m, err := v.Evaluate(pred, occ, float64(v.Width), float64(v.Height))
				if err != nil || m.AverageJaccard != 1 || m.OcclusionAccuracy != 1 {
					t.Errorf("video %d: self-evaluation %+v, %v", i, m, err)
				}
			}
		})
	}
}

func TestTAPVidPickleDINOTracker(t *testing.T) {
	for _, name := range []string{"dino_strided_p2.pkl", "dino_strided_p4.pkl"} {
		t.Run(name, func(t *testing.T) {
			vids, err := LoadTAPVidPickle(filepath.Join(picklesDir, name))
			if err != nil {
				t.Fatal(err)
			}
			if len(vids) != 2 {
				t.Fatalf("%d videos", len(vids))
			}
			for i, want := range []struct {
				idx, w, h, T int
				qframes      []int
				counts       []int
			}{{7, 64, 48, 6, []int{0, 5}, []int{2, 1}}, {2, 16, 8, 3, []int{0}, []int{2}}} {
				v := vids[i]
				if v.VideoIdx != want.idx || v.Width != want.w || v.Height != want.h || v.NumFrames != want.T || v.Frames != nil {
					t.Fatalf("video %d: %+v", i, v.TAPVidVideo)
				}
				k := 0
				for j, q := range want.qframes {
					for n := 0; n < want.counts[j]; n++ {
						got := v.Queries[k]
						k++
						pt := func(tt int) [2]float64 {
							return [2]float64{3*float64(n+1) + 2*float64(tt) + 0.25*float64(q), 2*float64(n+1) + float64(tt) + 0.5}
						}
						if got.QueryFrame != q || got.QueryXY != pt(q) {
							t.Fatalf("video %d query %d: frame %d at %v, want %d at %v", i, k-1, got.QueryFrame, got.QueryXY, q, pt(q))
						}
						for tt := 0; tt < want.T; tt++ {
							occ := (n+tt+q)%4 == 3 && tt != q
							if got.TrackXY[tt] != pt(tt) || got.Occluded[tt] != occ {
								t.Fatalf("video %d query %d frame %d: %v %v", i, k-1, tt, got.TrackXY[tt], got.Occluded[tt])
							}
						}
					}
				}
				if k != len(v.Queries) {
					t.Fatalf("video %d: %d queries, want %d", i, len(v.Queries), k)
				}
				if _, err := v.Video(); !errors.Is(err, ErrNoFrames) {
					t.Errorf("video %d: Video() = %v, want ErrNoFrames", i, err)
				}
			}
			// BADJA segmentations: mask[t][y][x] = (flat index % 3 == 0).
			v := vids[1]
			if v.SegWidth != 16 || v.SegHeight != 8 || len(v.Segmentations) != 3 {
				t.Fatalf("segmentations %dx%d, %d frames", v.SegWidth, v.SegHeight, len(v.Segmentations))
			}
			for tt, m := range v.Segmentations {
				for i, b := range m {
					if want := (tt*128+i)%3 == 0; (b != 0) != want {
						t.Fatalf("mask %d pixel %d = %d", tt, i, b)
					}
				}
			}
			if vids[0].Segmentations != nil {
				t.Error("segmentations in a TAP-Vid video")
			}
		})
	}
}

func TestTAPVidPickleErrors(t *testing.T) {
	for _, c := range []struct {
		name, want string
		data       []byte
	}{
		{"out-of-band", "out-of-band", readPickle(t, "oob_p5.pkl")},
		{"numpy cases", "video \"fortran\"", readPickle(t, "numpy_cases_p2.pkl")},
		{"truncated", "exceeds the remaining", readPickle(t, "tapvid_davis_p4.pkl")[:2000]},
		{"no STOP", "no STOP", []byte("\x80\x02}")},
		{"not a pickle", "pickle", []byte("hello")},
		{"forbidden", "os.system", []byte("\x80\x02cos\nsystem\nX\x02\x00\x00\x00ls\x85R.")},
		{"none", "top-level object is None", []byte("\x80\x02N.")},
		{"empty dict", "no videos", []byte("\x80\x02}.")},
	} {
		_, err := ParseTAPVidPickle(c.data)
		if err == nil || !strings.Contains(err.Error(), c.want) {
			t.Errorf("%s: %v, want an error containing %q", c.name, err, c.want)
		}
		if c.name == "forbidden" && !errors.Is(err, pth.ErrForbiddenGlobal) {
			t.Errorf("forbidden global: %v does not wrap pth.ErrForbiddenGlobal", err)
		}
	}
	if _, err := LoadTAPVidPickle(filepath.Join(picklesDir, "missing.pkl")); !errors.Is(err, os.ErrNotExist) {
		t.Errorf("missing file: %v", err)
	}
}

func TestPickleNumbersRagged(t *testing.T) {
	for _, v := range []any{
		[]any{[]any{1.0, 2.0}, 3.0},
		[]any{3.0, []any{1.0, 2.0}},
		[]any{[]any{1.0, 2.0}, []any{1.0}},
		[]any{"x"},
	} {
		if _, _, err := pklNumbers(v, "x"); err == nil {
			t.Errorf("%v: no error", v)
		}
	}
	f, shape, err := pklNumbers([]any{[]any{int64(1), 2.5}, []any{true, uint64(4)}}, "x")
	if err != nil || len(shape) != 2 || shape[0] != 2 || shape[1] != 2 || f[0] != 1 || f[1] != 2.5 || f[2] != 1 || f[3] != 4 {
		t.Errorf("%v %v %v", f, shape, err)
	}
}

// FuzzReadTAPVidPickle feeds arbitrary bytes to the pickle reader, seeded
// with the fixtures of both layouts: it must never panic, and what it
// accepts must be consistent.
func FuzzReadTAPVidPickle(f *testing.F) {
	for _, name := range []string{"tapvid_davis_p2.pkl", "tapvid_davis_p4.pkl", "tapvid_davis_p5.pkl",
		"dino_strided_p2.pkl", "dino_strided_p4.pkl", "numpy_cases_p5.pkl", "oob_p5.pkl"} {
		f.Add(readPickle(f, name))
	}
	f.Fuzz(func(t *testing.T, data []byte) {
		vids, err := ReadTAPVidPickle(bytes.NewReader(data))
		if err != nil {
			return
		}
		for _, v := range vids {
			T := v.NumFrames
			if T < 1 || v.Width < 1 || v.Height < 1 {
				t.Fatalf("accepted video %d with %d frames of %dx%d", v.VideoIdx, T, v.Width, v.Height)
			}
			if v.Frames != nil && len(v.Frames) != T {
				t.Fatalf("video %d: %d frames for %d", v.VideoIdx, len(v.Frames), T)
			}
			for _, fr := range v.Frames {
				if len(fr.Pix) != 3*fr.W*fr.H {
					t.Fatalf("frame of %dx%d holds %d bytes", fr.W, fr.H, len(fr.Pix))
				}
			}
			for _, q := range v.Queries {
				if q.QueryFrame < 0 || q.QueryFrame >= T || len(q.TrackXY) != T || len(q.Occluded) != T {
					t.Fatalf("video %d: inconsistent query %+v", v.VideoIdx, q)
				}
				if math.IsNaN(q.QueryXY[0]) || math.IsNaN(q.QueryXY[1]) {
					t.Fatalf("video %d: NaN query", v.VideoIdx)
				}
			}
			if v.Segmentations != nil && len(v.Segmentations) != T {
				t.Fatalf("video %d: %d masks", v.VideoIdx, len(v.Segmentations))
			}
		}
	})
}
