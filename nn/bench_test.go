package nn

import (
	"fmt"
	"testing"
)

// Delta-DINO's layer shapes at the working resolution 476×854 (spec §2.2):
// four 5×5 reflect convolutions (the last with dilation 2), each followed by
// BatchNorm, and BlurPool (depthwise 4×4, stride 2, reflect [1,2,1,2]) after
// the first three. Frames go through in chunks of at most 8.
//
//	go test ./nn -run x -bench 'Conv2d/.*/N=1' -benchtime 1x
func deltaDINOConvs(n int) []struct {
	name string
	s    ConvShape
} {
	type cs = struct {
		name string
		s    ConvShape
	}
	conv := func(cin, cout, h, w, dil int) ConvShape {
		return ConvShape{N: n, Cin: cin, H: h, W: w, Cout: cout, KH: 5, KW: 5, Dilation: dil, Mode: PadReflect}.Pad(2 * dil)
	}
	return []cs{
		{"conv0-3to64-476x854", conv(3, 64, 476, 854, 1)},
		{"conv1-64to128-238x427", conv(64, 128, 238, 427, 1)},
		{"conv2-128to256-119x214", conv(128, 256, 119, 214, 1)},
		{"conv3-256to1024-dil2-60x107", conv(256, 1024, 60, 107, 2)},
		{"blur0-64-476x854", BlurPoolShape(n, 64, 476, 854)},
		{"blur1-128-238x427", BlurPoolShape(n, 128, 238, 427)},
		{"blur2-256-119x214", BlurPoolShape(n, 256, 119, 214)},
	}
}

func BenchmarkConv2d(b *testing.B) {
	for _, n := range []int{1, 8} {
		for _, c := range deltaDINOConvs(n) {
			s := c.s
			r := newRand(1)
			x := randSlice(r, s.InLen(), -1, 1)
			w := randSlice(r, s.WeightLen(), -0.1, 0.1)
			bias := randSlice(r, s.Cout, -0.1, 0.1)
			out := make([]float32, s.OutLen())
			ws := new(ConvWorkspace)
			b.Run(fmt.Sprintf("fwd/%s/N=%d", c.name, n), func(b *testing.B) {
				for b.Loop() {
					Conv2dForward(out, x, w, bias, s, ws)
				}
				b.ReportMetric(s.FLOPs()*float64(b.N)/b.Elapsed().Seconds()/1e9, "GFLOP/s")
			})
			b.Run(fmt.Sprintf("bwd/%s/N=%d", c.name, n), func(b *testing.B) {
				dx, dw, db := make([]float32, len(x)), make([]float32, len(w)), make([]float32, len(bias))
				for b.Loop() {
					Conv2dBackward(dx, dw, db, out, x, w, s, ws)
				}
				b.ReportMetric(2*s.FLOPs()*float64(b.N)/b.Elapsed().Seconds()/1e9, "GFLOP/s")
			})
			b.Run(fmt.Sprintf("dw/%s/N=%d", c.name, n), func(b *testing.B) {
				dw := make([]float32, len(w))
				for b.Loop() {
					Conv2dBackward(nil, dw, nil, out, x, w, s, ws)
				}
				b.ReportMetric(s.FLOPs()*float64(b.N)/b.Elapsed().Seconds()/1e9, "GFLOP/s")
			})
			b.Run(fmt.Sprintf("dx/%s/N=%d", c.name, n), func(b *testing.B) {
				dx := make([]float32, len(x))
				for b.Loop() {
					Conv2dBackward(dx, nil, nil, out, x, w, s, ws)
				}
				b.ReportMetric(s.FLOPs()*float64(b.N)/b.Elapsed().Seconds()/1e9, "GFLOP/s")
			})
		}
	}
}

func BenchmarkBatchNormTrain(b *testing.B) {
	n, c, hw := 1, 64, 476*854
	r := newRand(2)
	x := randSlice(r, n*c*hw, -1, 1)
	gamma, beta := randSlice(r, c, 0.5, 1.5), randSlice(r, c, -1, 1)
	out, mean, vr := make([]float32, len(x)), make([]float32, c), make([]float32, c)
	b.Run("fwd/64ch-476x854/N=1", func(b *testing.B) {
		for b.Loop() {
			BatchNormTrainForward(out, mean, vr, x, gamma, beta, n, c, hw, BNEps)
		}
		b.ReportMetric(float64(4*len(x))*float64(b.N)/b.Elapsed().Seconds()/1e9, "GB/s")
	})
	b.Run("bwd/64ch-476x854/N=1", func(b *testing.B) {
		dx, dg, db := make([]float32, len(x)), make([]float32, c), make([]float32, c)
		for b.Loop() {
			BatchNormTrainBackward(dx, dg, db, out, x, mean, vr, gamma, n, c, hw, BNEps)
		}
		b.ReportMetric(float64(4*len(x))*float64(b.N)/b.Elapsed().Seconds()/1e9, "GB/s")
	})
}

// BenchmarkCosineCost: 256 queries against one refined frame [1024, 67×121]
// (a training step's flow batch per target frame).
func BenchmarkCosineCost(b *testing.B) {
	n, c, hw := 256, 1024, 67*121
	r := newRand(3)
	q, f := randSlice(r, n*c, -1, 1), randSlice(r, c*hw, -1, 1)
	out, qn, fn := make([]float32, n*hw), make([]float32, n), make([]float32, hw)
	flops := 2 * float64(n) * float64(c) * float64(hw)
	b.Run("fwd", func(b *testing.B) {
		for b.Loop() {
			CosineCostForward(out, qn, fn, q, f, n, c, hw, CosineEps)
		}
		b.ReportMetric(flops*float64(b.N)/b.Elapsed().Seconds()/1e9, "GFLOP/s")
	})
	b.Run("bwd", func(b *testing.B) {
		dq, df, scratch := make([]float32, len(q)), make([]float32, len(f)), make([]float32, n*hw)
		for b.Loop() {
			CosineCostBackward(dq, df, out, out, qn, fn, q, f, n, c, hw, CosineEps, scratch)
		}
		b.ReportMetric(2*flops*float64(b.N)/b.Elapsed().Seconds()/1e9, "GFLOP/s")
	})
}

// BenchmarkGridSampleAlign: the CNN-to-ViT alignment of one frame
// ([1024, 60, 107] sampled at 67×121 points).
func BenchmarkGridSampleAlign(b *testing.B) {
	c, h, w, gh, gw := 1024, 60, 107, 67, 121
	r := newRand(4)
	x := randSlice(r, c*h*w, -1, 1)
	grid := AlignGrid(gh, gw, h, w, 8, 7, 14)
	out := make([]float32, c*gh*gw)
	o := GridSampleOptions{AlignCorners: true, Padding: GridPadBorder}
	b.Run("fwd", func(b *testing.B) {
		for b.Loop() {
			GridSampleForward(out, x, grid, 1, c, h, w, gh, gw, o)
		}
	})
	b.Run("bwd-dx", func(b *testing.B) {
		dx := make([]float32, len(x))
		for b.Loop() {
			GridSampleBackward(dx, nil, out, x, grid, 1, c, h, w, gh, gw, o)
		}
	})
}

// BenchmarkDeltaDINO: one training forward + backward of the full model on
// one 476×854 frame (≈171 GFLOP forward, ≈342 GFLOP backward).
//
//	go test ./nn -run x -bench DeltaDINO -benchtime 1x
func BenchmarkDeltaDINO(b *testing.B) {
	n, h, w := 1, 476, 854
	d := NewDeltaDINO(1)
	for _, s := range d.Stages { // non-zero last stage so the backward is realistic
		KaimingUniform(s.Weight.Data, s.Cin*25, newRand(5).Float64)
	}
	frames := randSlice(newRand(6), n*3*h*w, 0, 1)
	var flops float64
	hh, ww := h, w
	for _, s := range d.Stages {
		flops += s.conv(n, hh, ww).FLOPs()
		if s.Blur {
			hh, ww = (hh+1)/2, (ww+1)/2
		}
	}
	b.Run("fwd-train/N=1", func(b *testing.B) {
		for b.Loop() {
			d.Forward(frames, n, h, w, true)
		}
		b.ReportMetric(flops*float64(b.N)/b.Elapsed().Seconds()/1e9, "GFLOP/s")
	})
	out, _, _ := d.Forward(frames, n, h, w, true)
	dout := randSlice(newRand(7), len(out), -1, 1)
	b.Run("bwd/N=1", func(b *testing.B) {
		for b.Loop() {
			d.Backward(dout)
		}
		b.ReportMetric(2*flops*float64(b.N)/b.Elapsed().Seconds()/1e9, "GFLOP/s")
	})
}
