package dinotracker

import (
	"context"
	"fmt"
	"math/rand/v2"
	"os"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"dinotracker/gemm"
	"dinotracker/imgproc"
	"dinotracker/internal/synth"
)

// BenchmarkTrainIterationPaper times trainer.step, one training iteration,
// at PaperConfig sizes: 476×854 frames, 512 flow points from 2×4 random
// frames (up to 8 refined), Delta-DINO 3→64→128→256→1024 forward and
// backward, the losses with 1024-channel features and Adam, before and
// after the iteration-5000 switch-on of the cycle and refined best-buddy
// losses. The preprocessed data are synthetic and built in memory
// (paperBenchTrainer). It reports seconds per iteration, the frames
// refined per iteration, the CPU seconds per iteration (all threads) and
// the process's peak RSS so far.
//
//	go test -run x -bench TrainIterationPaper -benchtime 3x .
//	go test -tags openblas -run x -bench TrainIterationPaper -benchtime 3x .
func BenchmarkTrainIterationPaper(b *testing.B) {
	if testing.Short() {
		b.Skip("one iteration at paper sizes takes tens of seconds and several GB")
	}
	for _, late := range []bool{false, true} {
		name := "before-switch-on"
		if late {
			name = "after-switch-on"
		}
		b.Run(fmt.Sprintf("%s/%s", gemm.Backend(), name), func(b *testing.B) {
			tr := paperBenchTrainer(b)
			if late {
				tr.iter = max(tr.cfg.Loss.CycAfter, tr.cfg.Loss.RefinedBBAfter)
			}
			ctx := context.Background()
			var frames, iters int
			var times []string
			cpu0 := processCPU()
			for b.Loop() {
				t0 := time.Now()
				v, n, _, err := tr.step(ctx)
				if err != nil {
					b.Fatal(err)
				}
				if v.CycleOn != late || v.RefinedBBOn != late {
					b.Fatalf("losses on: cycle %v, refined-bb %v; want %v", v.CycleOn, v.RefinedBBOn, late)
				}
				times = append(times, fmt.Sprintf("%.1fs/%df", time.Since(t0).Seconds(), n))
				frames += n
				iters++
			}
			b.Logf("iterations (seconds/frames refined): %s", strings.Join(times, " "))
			b.ReportMetric(b.Elapsed().Seconds()/float64(iters), "s/iter")
			b.ReportMetric((processCPU()-cpu0)/float64(iters), "CPU-s/iter")
			b.ReportMetric(float64(frames)/float64(iters), "frames/iter")
			b.ReportMetric(float64(vmHWM())/(1<<20), "peakRSS-MB")
		})
	}
}

// paperBenchTrainer builds a trainer with PaperConfig on synthetic
// preprocessed data at 476×854: 24 random frames, box masks (the central
// half of each side), 4,000 foreground and 8,000 background straight
// trajectories on random spans, 600 random best-buddies for every ordered
// frame pair, and 1024-channel random features (8 distinct maps shared
// round-robin by the frames, held in memory).
func paperBenchTrainer(b *testing.B) *trainer {
	b.Helper()
	const T, C, pool = 24, 1024, 8
	cfg := PaperConfig()
	h, w := cfg.Height, cfg.Width
	g := NewHeadGeometry(w, h)
	p := g.Tokens()
	r := rand.New(rand.NewPCG(7, 7))

	feats := &Features{T: T, C: C, H: g.GH, W: g.GW, Stride: 7, Block: 15, ModelH: h, ModelW: w, Model: "random"}
	maps := make([][]float32, pool)
	for i := range maps {
		maps[i] = make([]float32, C*p)
		for j := range maps[i] {
			maps[i][j] = float32(r.NormFloat64())
		}
	}
	for t := 0; t < T; t++ {
		feats.mem = append(feats.mem, maps[t%pool])
	}
	frames := make([]*imgproc.RGB8, T)
	for t := range frames {
		frames[t] = imgproc.NewRGB8(w, h)
		for i := range frames[t].Pix {
			frames[t].Pix[i] = uint8(r.Uint32())
		}
	}
	masks, fg, bg := synth.Tracks(r, T, h, w, 4000, 8000)
	bb := BBLists{}
	const nbb = 600
	for s := 0; s < T; s++ {
		for t := 0; t < T; t++ {
			if s != t {
				src, tgt, cos, ratio := synth.BestBuddies(r, h, w, nbb)
				bb[[2]int{s, t}] = &BBList{Source: src, Target: tgt, Cos: cos, R: ratio}
			}
		}
	}
	pre := &Preprocessed{T: T, H: h, W: w, Features: feats, Trajectories: fg, FG: fg, BG: bg, Masks: masks, Frames: frames}
	tr, err := newTrainer(cfg, pre, bb, discardLogger())
	if err != nil {
		b.Fatal(err)
	}
	return tr
}

// processCPU returns the user + system CPU seconds of this process so far.
func processCPU() float64 {
	var ru syscall.Rusage
	if err := syscall.Getrusage(syscall.RUSAGE_SELF, &ru); err != nil {
		return 0
	}
	return float64(ru.Utime.Sec+ru.Stime.Sec) + float64(ru.Utime.Usec+ru.Stime.Usec)/1e6
}

// vmHWM returns this process's peak resident set size in bytes (0 where
// /proc is missing).
func vmHWM() int64 {
	s, err := os.ReadFile("/proc/self/status")
	if err != nil {
		return 0
	}
	for _, line := range strings.Split(string(s), "\n") {
		if rest, ok := strings.CutPrefix(line, "VmHWM:"); ok {
			if f := strings.Fields(rest); len(f) > 0 {
				kb, _ := strconv.ParseInt(f[0], 10, 64)
				return kb << 10
			}
		}
	}
	return 0
}
