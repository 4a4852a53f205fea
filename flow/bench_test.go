package flow

import (
	"context"
	"encoding/json"
	"os"
	"path/filepath"
	"testing"

	"dinotracker/imgproc"
)

// benchPair returns two consecutive horsejump-high frames (854×480 JPEG in
// the module's testdata) resized with Lanczos to 854×476, the resolution
// DINO-Tracker runs RAFT at.
func benchPair(b *testing.B) (*imgproc.RGB8, *imgproc.RGB8) {
	dir := filepath.Join(moduleRoot(b), "testdata", "demo", "horsejump-high")
	var out [2]*imgproc.RGB8
	for i, n := range []string{"00000.jpg", "00001.jpg"} {
		m := readImage(b, filepath.Join(dir, n))
		r, err := imgproc.ResizeLanczos(m, 854, 476)
		if err != nil {
			b.Fatal(err)
		}
		out[i] = r
	}
	return out[0], out[1]
}

var presets = []struct {
	name string
	opt  func() Options
}{
	{"Fast", FastOptions},
	{"Default", DefaultOptions},
	{"Accurate", AccurateOptions},
}

// BenchmarkEstimate854x476 times one forward flow per preset and reports
// seconds per pair.
func BenchmarkEstimate854x476(b *testing.B) {
	a, c := benchPair(b)
	ps := presets
	if js := os.Getenv("FLOW_TUNE"); js != "" { // development: time a custom configuration
		ps = append(ps[:0:0], struct {
			name string
			opt  func() Options
		}{"Custom", func() Options {
			o := AccurateOptions()
			if err := json.Unmarshal([]byte(js), &o); err != nil {
				b.Fatal(err)
			}
			return o
		}})
	}
	for _, p := range ps {
		b.Run(p.name, func(b *testing.B) {
			opt := p.opt()
			if _, err := Estimate(context.Background(), a, c, opt); err != nil { // warm the workspace
				b.Fatal(err)
			}
			b.ResetTimer()
			for i := 0; i < b.N; i++ {
				if _, err := Estimate(context.Background(), a, c, opt); err != nil {
					b.Fatal(err)
				}
			}
			b.ReportMetric(b.Elapsed().Seconds()/float64(b.N), "s/pair")
		})
	}
}

// BenchmarkForwardBackward854x476 times both directions of one pair with
// DefaultOptions (the grey pyramids are shared, the directions run
// concurrently).
func BenchmarkForwardBackward854x476(b *testing.B) {
	a, c := benchPair(b)
	opt := DefaultOptions()
	if _, _, err := ForwardBackward(context.Background(), a, c, opt); err != nil {
		b.Fatal(err)
	}
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		if _, _, err := ForwardBackward(context.Background(), a, c, opt); err != nil {
			b.Fatal(err)
		}
	}
	b.ReportMetric(b.Elapsed().Seconds()/float64(b.N), "s/pair")
}
