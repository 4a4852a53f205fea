package nn

// BlurPoolShape returns the convolution that antialiased_cnns.BlurPool(c,
// stride=2) performs with its defaults (filt_size 4, pad_type "reflect"):
// ReflectionPad2d([1, 2, 1, 2]) (left 1, right 2, top 1, bottom 2), then a
// depthwise 4×4 filter (BlurFilter) with stride 2. The output size is
// floor((n+3-4)/2)+1 per axis: 476×854 → 238×427 → 119×214 → 60×107.
// Run it with Conv2dForward(out, x, BlurFilter(c), nil, …) and backpropagate
// with Conv2dBackward(dx, nil, nil, …): the filter is a fixed buffer.
func BlurPoolShape(n, c, h, w int) ConvShape {
	return ConvShape{
		N: n, Cin: c, H: h, W: w, Cout: c, KH: 4, KW: 4, Stride: 2, Groups: c, Mode: PadReflect,
		PadLeft: 1, PadRight: 2, PadTop: 1, PadBottom: 2,
	}
}

// BlurFilter returns BlurPool's filter buffer [c, 1, 4, 4]: the outer
// product of [1, 3, 3, 1] with itself, divided by 64 (exact in float32).
func BlurFilter(c int) []float32 {
	a := [4]float32{1, 3, 3, 1}
	f := make([]float32, 16*c)
	for ch := 0; ch < c; ch++ {
		for i := 0; i < 4; i++ {
			for j := 0; j < 4; j++ {
				f[ch*16+i*4+j] = a[i] * a[j] / 64
			}
		}
	}
	return f
}
