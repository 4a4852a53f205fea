package nn

import (
	"math"

	"dinotracker/internal/parallel"
)

// GridPadding selects what F.grid_sample reads outside the input.
type GridPadding int

const (
	// GridPadZeros: corners outside the input read 0 (padding_mode "zeros").
	GridPadZeros GridPadding = iota
	// GridPadBorder: the unnormalised coordinate is clamped to
	// [0, size-1] before interpolation (padding_mode "border").
	GridPadBorder
)

// GridSampleOptions are F.grid_sample's 2-D bilinear conventions.
type GridSampleOptions struct {
	// AlignCorners true: -1 and 1 are the centres of the corner pixels,
	// i = (g+1)/2·(size-1). False: they are the outer edges of the corner
	// pixels, i = ((g+1)·size - 1)/2.
	AlignCorners bool
	Padding      GridPadding
}

// unnormalize maps a grid coordinate to a pixel coordinate and returns
// dcoord/dgrid (0 where border clamping is active, as PyTorch's
// clip_coordinates_set_grad, which counts the border itself as clamped).
func (o GridSampleOptions) unnormalize(g float32, size int) (float32, float32) {
	var c, d float32
	if o.AlignCorners {
		d = float32(size-1) / 2
		c = (g + 1) / 2 * float32(size-1)
	} else {
		d = float32(size) / 2
		c = ((g+1)*float32(size) - 1) / 2
	}
	if o.Padding == GridPadBorder {
		if c <= 0 {
			return 0, 0
		}
		if lim := float32(size - 1); c >= lim {
			return lim, 0
		}
	}
	return c, d
}

// tap is one bilinear sample: up to four in-bounds corners (index into an
// H*W plane, -1 when outside) with their weights, plus what the grid
// gradient needs.
type tap struct {
	idx          [4]int32 // nw, ne, sw, se
	wt           [4]float32
	fx, fy       float32 // fractional offsets ix - floor(ix), iy - floor(iy)
	gxMul, gyMul float32 // d(pixel)/d(grid)
}

func makeTap(gx, gy float32, h, w int, o GridSampleOptions) tap {
	ix, mx := o.unnormalize(gx, w)
	iy, my := o.unnormalize(gy, h)
	x0f, y0f := float32(math.Floor(float64(ix))), float32(math.Floor(float64(iy)))
	x0, y0 := int(x0f), int(y0f)
	fx, fy := ix-x0f, iy-y0f
	t := tap{fx: fx, fy: fy, gxMul: mx, gyMul: my}
	t.wt = [4]float32{(1 - fx) * (1 - fy), fx * (1 - fy), (1 - fx) * fy, fx * fy}
	for k := 0; k < 4; k++ {
		x, y := x0+k&1, y0+k>>1
		if x >= 0 && x < w && y >= 0 && y < h {
			t.idx[k] = int32(y*w + x)
		} else {
			t.idx[k] = -1
		}
	}
	if math.IsNaN(float64(ix)) || math.IsNaN(float64(iy)) {
		t.idx = [4]int32{-1, -1, -1, -1}
	}
	return t
}

func (t *tap) sample(plane []float32) float32 {
	var v float32
	for k, i := range t.idx {
		if i >= 0 {
			v += t.wt[k] * plane[i]
		}
	}
	return v
}

// GridSampleForward is F.grid_sample(x, grid, mode="bilinear") in 2-D:
//
//	x    [N, C, H, W]
//	grid [N, Ho, Wo, 2]  normalised (x, y) sampling positions
//	out  [N, C, Ho, Wo]
//
// Nothing needs caching beyond x and grid. Work is split over (image, point
// chunk); each point's bilinear taps are computed once for all channels.
func GridSampleForward(out, x, grid []float32, n, c, h, w, ho, wo int, o GridSampleOptions) {
	hw, p := h*w, ho*wo
	checkLen("GridSampleForward", "x", x, n*c*hw)
	checkLen("GridSampleForward", "grid", grid, n*p*2)
	checkLen("GridSampleForward", "out", out, n*c*p)
	// Taps once per output position, then plane by plane: each input plane
	// stays in cache while all its outputs are read from it (a loop over
	// channels per position would stride across every plane).
	taps := makeTaps(grid, n, p, h, w, o)
	parallel.For(n*c, 1, func(lo, hi int) {
		for pl := lo; pl < hi; pl++ {
			b := pl / c
			plane := x[pl*hw : (pl+1)*hw]
			dst := out[pl*p : (pl+1)*p]
			for j := range dst {
				dst[j] = taps[b*p+j].sample(plane)
			}
		}
	})
}

// makeTaps computes the tap of every output position of every image.
func makeTaps(grid []float32, n, p, h, w int, o GridSampleOptions) []tap {
	taps := make([]tap, n*p)
	parallel.For(n*p, 4096, func(lo, hi int) {
		for q := lo; q < hi; q++ {
			taps[q] = makeTap(grid[2*q], grid[2*q+1], h, w, o)
		}
	})
	return taps
}

// GridSampleBackward accumulates the gradients of GridSampleForward given
// dout [N, C, Ho, Wo]: dx [N, C, H, W] += ∂L/∂x and dgrid [N, Ho, Wo, 2] +=
// ∂L/∂grid (PyTorch's formula, including zero gradient where border
// clamping is active). Either may be nil; DINO-Tracker needs only dx (its
// grids are data: query positions and the fixed CNN-to-ViT alignment).
func GridSampleBackward(dx, dgrid, dout, x, grid []float32, n, c, h, w, ho, wo int, o GridSampleOptions) {
	hw, p := h*w, ho*wo
	checkLen("GridSampleBackward", "dout", dout, n*c*p)
	checkLen("GridSampleBackward", "grid", grid, n*p*2)
	checkOpt("GridSampleBackward", "dx", dx, n*c*hw)
	checkOpt("GridSampleBackward", "dgrid", dgrid, n*p*2)
	if dx != nil {
		// Parallel over (image, channel) planes: every goroutine owns whole
		// dx planes, and each plane takes its positions' contributions in
		// position order.
		taps := makeTaps(grid, n, p, h, w, o)
		parallel.For(n*c, 1, func(lo, hi int) {
			for pl := lo; pl < hi; pl++ {
				b := pl / c
				plane := dx[pl*hw : (pl+1)*hw]
				for j, g := range dout[pl*p : (pl+1)*p] {
					t := &taps[b*p+j]
					for k, i := range t.idx {
						if i >= 0 {
							plane[i] += t.wt[k] * g
						}
					}
				}
			}
		})
	}
	if dgrid != nil {
		checkLen("GridSampleBackward", "x", x, n*c*hw)
		parallel.For(n*p, max(16, 4096/max(1, c)), func(lo, hi int) {
			for q := lo; q < hi; q++ {
				b, j := q/p, q%p
				t := makeTap(grid[2*q], grid[2*q+1], h, w, o)
				var gx, gy float64
				for ch := 0; ch < c; ch++ {
					g := float64(dout[(b*c+ch)*p+j])
					plane := x[(b*c+ch)*hw : (b*c+ch+1)*hw]
					var v [4]float64
					for k, i := range t.idx {
						if i >= 0 {
							v[k] = float64(plane[i])
						}
					}
					fx, fy := float64(t.fx), float64(t.fy)
					// ∂/∂ix and ∂/∂iy of Σ wt·v with wt as in makeTap.
					gx += g * ((v[1]-v[0])*(1-fy) + (v[3]-v[2])*fy)
					gy += g * ((v[2]-v[0])*(1-fx) + (v[3]-v[1])*fx)
				}
				dgrid[2*q] += float32(gx) * t.gxMul
				dgrid[2*q+1] += float32(gy) * t.gyMul
			}
		})
	}
}

// AlignGrid returns the sampling grid [gh, gw, 2] of DINO-Tracker's
// align_cnn_vit_features (models/utils.py): the CNN map [h8, w8] (cell j
// centred at pixel cnnStride·j) is sampled at the ViT token centres
// vitStride·j + patch/2, with
//
//	g = -1 - 1/c_br + 2·pos/c_br,  c_br = (size-1)·cnnStride,
//
// to be used with align_corners=true and border padding. The arithmetic
// follows the reference's float32 tensor ops (the scalar -1-1/c_br rounded
// to float32 first).
func AlignGrid(gh, gw, h8, w8, cnnStride, vitStride, patch int) []float32 {
	brY, brX := float32((h8-1)*cnnStride), float32((w8-1)*cnnStride)
	offY, offX := float32(-1-1/float64(brY)), float32(-1-1/float64(brX))
	half := float32(patch) / 2
	g := make([]float32, gh*gw*2)
	for i := 0; i < gh; i++ {
		py := float32(i)*float32(vitStride) + half
		gy := offY + 2*py/brY
		for j := 0; j < gw; j++ {
			px := float32(j)*float32(vitStride) + half
			g[(i*gw+j)*2] = offX + 2*px/brX
			g[(i*gw+j)*2+1] = gy
		}
	}
	return g
}
