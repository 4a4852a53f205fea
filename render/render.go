// Package render draws point tracks over video frames and writes the result
// as an animated GIF, an MP4 (through ffmpeg) or a folder of PNG frames.
//
// # Drawing
//
// Frames draws, on a copy of every frame:
//   - a fading trail of the last Options.Trail frames of each track (10 by
//     default), one anti-aliased line segment per frame step whose opacity
//     falls with age; a step is drawn only when the point is visible at both
//     ends, so trails never cross occlusions;
//   - each visible point as a filled disc with a thin dark rim, and each
//     occluded point as a hollow circle (unless Options.HideOccluded).
//
// A track keeps one colour through the video, picked by Color from where
// the point is in the first frame it is visible in (its query frame if it
// is never visible): hue follows x (red at the left edge through yellow,
// green and blue to magenta at the right) and lightness and saturation
// follow y, so neighbouring points have neighbouring colours and points on
// one column still differ.
//
// # Coordinates
//
// Tracks are in input-frame pixels (Tracks.Width×Tracks.Height, integer
// values at pixel centres, as package dinotracker documents). Frames may
// have another size: a point (x, y) is drawn at ((x+0.5)·fw/W − 0.5,
// (y+0.5)·fh/H − 0.5) in a fw×fh frame, which maps pixel centres onto pixel
// centres.
//
// # Concurrency
//
// Every function is safe for concurrent use; Frames and the writers use all
// CPUs (GOMAXPROCS) over frames.
package render

import (
	"errors"
	"fmt"
	"image"
	"image/color"
	"image/draw"
	"math"
	"runtime"
	"sync"

	"dinotracker"
	"dinotracker/imgproc"
)

// DefaultTrail is the trail length, in frames, when Options.Trail is 0.
const DefaultTrail = 10

// Options control Frames. The zero value is usable: 10-frame trails, a
// radius scaled to the frame size, occluded points as hollow circles, every
// track drawn.
type Options struct {
	// Trail is how many past frames of each track are drawn as a fading
	// line: 0 means DefaultTrail and a negative value no trail.
	Trail int
	// Radius is the point radius in output pixels; 0 picks
	// max(1.5, min(width, height)/100) of each frame.
	Radius float64
	// LineWidth is the trail width in output pixels; 0 picks
	// max(1, 0.4·radius).
	LineWidth float64
	// HideOccluded skips occluded points instead of drawing them as hollow
	// circles.
	HideOccluded bool
	// MaxPoints, when positive and smaller than the number of tracks, draws
	// only MaxPoints tracks evenly spread over the query order.
	MaxPoints int
	// Colors, when not nil, gives the colour of every track ([N], alpha
	// ignored) instead of TrackColors.
	Colors []color.RGBA
}

// Color returns the colour of a point at (x, y) in a w×h frame: hue from x
// (red at the left, through yellow, green, cyan and blue, to magenta at the
// right), with saturation rising and value falling from the top row to the
// bottom one. Coordinates outside the frame are clamped.
func Color(x, y, w, h float64) color.RGBA {
	u := clamp01(x / math.Max(w-1, 1))
	v := clamp01(y / math.Max(h-1, 1))
	return hsv(300*u, 0.55+0.45*v, 1-0.3*v)
}

// TrackColors returns the colour of every track of tr: Color of its point in
// the first frame where it is visible, or of its query point when it is
// never visible.
func TrackColors(tr *dinotracker.Tracks) []color.RGBA {
	cs := make([]color.RGBA, len(tr.Queries))
	w, h := float64(tr.Width), float64(tr.Height)
	for i, q := range tr.Queries {
		x, y := q.X, q.Y
		for t, occ := range tr.Occluded[i] {
			p := tr.Points[i][t]
			if !occ && finite(p) {
				x, y = float64(p[0]), float64(p[1])
				break
			}
		}
		cs[i] = Color(x, y, w, h)
	}
	return cs
}

// Frames draws the tracks over the frames (one per track frame, in order,
// any size; see the package documentation) and returns new RGBA images of
// the frames' sizes. The frames are not modified. Points that are NaN or
// infinite are skipped.
func Frames(frames []image.Image, tr *dinotracker.Tracks, opt Options) ([]*image.RGBA, error) {
	if tr == nil {
		return nil, errors.New("render: no tracks")
	}
	if err := tr.Validate(); err != nil {
		return nil, fmt.Errorf("render: %w", err)
	}
	if len(frames) != tr.Frames {
		return nil, fmt.Errorf("render: %d frames but the tracks cover %d; use the video the tracks were computed on", len(frames), tr.Frames)
	}
	for t, f := range frames {
		if f == nil {
			return nil, fmt.Errorf("render: frame %d is nil", t)
		}
		if b := f.Bounds(); b.Empty() {
			return nil, fmt.Errorf("render: frame %d is empty (%v)", t, b)
		}
	}
	if opt.Colors != nil && len(opt.Colors) != tr.Len() {
		return nil, fmt.Errorf("render: %d colours for %d tracks", len(opt.Colors), tr.Len())
	}
	if opt.Radius < 0 || opt.LineWidth < 0 || math.IsNaN(opt.Radius) || math.IsNaN(opt.LineWidth) {
		return nil, fmt.Errorf("render: radius %v and line width %v must not be negative", opt.Radius, opt.LineWidth)
	}
	colors := opt.Colors
	if colors == nil {
		colors = TrackColors(tr)
	}
	sel := selectTracks(tr.Len(), opt.MaxPoints)
	trail := opt.Trail
	if trail == 0 {
		trail = DefaultTrail
	}
	out := make([]*image.RGBA, len(frames))
	parallel(len(frames), func(t int) error {
		img := toRGBA(frames[t])
		drawFrame(img, tr, t, sel, colors, trail, opt)
		out[t] = img
		return nil
	})
	return out, nil
}

// selectTracks returns the indices of the tracks to draw: all of them, or
// max evenly spread ones.
func selectTracks(n, max int) []int {
	if max <= 0 || max >= n {
		max = n
	}
	sel := make([]int, max)
	for k := range sel {
		sel[k] = k * n / max
	}
	return sel
}

// drawFrame draws frame t's trails and points on img.
func drawFrame(img *image.RGBA, tr *dinotracker.Tracks, t int, sel []int, colors []color.RGBA, trail int, opt Options) {
	b := img.Bounds()
	fw, fh := float64(b.Dx()), float64(b.Dy())
	sx, sy := fw/float64(tr.Width), fh/float64(tr.Height)
	// Continuous coordinates: pixel (i, j) covers [i, i+1)×[j, j+1).
	pos := func(i, t int) (float64, float64, bool) {
		p := tr.Points[i][t]
		if !finite(p) {
			return 0, 0, false
		}
		return (float64(p[0])+0.5)*sx + float64(b.Min.X), (float64(p[1])+0.5)*sy + float64(b.Min.Y), true
	}
	r := opt.Radius
	if r == 0 {
		r = math.Max(1.5, math.Min(fw, fh)/100)
	}
	lw := opt.LineWidth
	if lw == 0 {
		lw = math.Max(1, 0.4*r)
	}
	if trail > 0 {
		for age := min(trail, t) - 1; age >= 0; age-- { // oldest first, newest on top
			k := t - 1 - age // the step k → k+1
			alpha := 0.9 * (1 - float64(age)/float64(trail))
			for _, i := range sel {
				if tr.Occluded[i][k] || tr.Occluded[i][k+1] {
					continue
				}
				ax, ay, ok1 := pos(i, k)
				bx, by, ok2 := pos(i, k+1)
				if ok1 && ok2 {
					segment(img, ax, ay, bx, by, lw, colors[i], alpha)
				}
			}
		}
	}
	rim := color.RGBA{0, 0, 0, 255}
	for _, i := range sel {
		x, y, ok := pos(i, t)
		if !ok {
			continue
		}
		if tr.Occluded[i][t] {
			if !opt.HideOccluded {
				ring(img, x, y, r, math.Max(1, r/3), colors[i], 1)
			}
			continue
		}
		disc(img, x, y, r+1, rim, 0.6)
		disc(img, x, y, r, colors[i], 1)
	}
}

// toRGBA returns a copy of m as an *image.RGBA with the same bounds.
func toRGBA(m image.Image) *image.RGBA {
	b := m.Bounds()
	out := image.NewRGBA(b)
	switch src := m.(type) {
	case *imgproc.RGB8:
		n := src.W * src.H
		for i := 0; i < n; i++ {
			out.Pix[4*i], out.Pix[4*i+1], out.Pix[4*i+2], out.Pix[4*i+3] = src.Pix[3*i], src.Pix[3*i+1], src.Pix[3*i+2], 255
		}
	default:
		draw.Draw(out, b, m, b.Min, draw.Src)
	}
	return out
}

// blend mixes the opaque colour c into pixel (x, y) with opacity a in [0, 1].
func blend(img *image.RGBA, x, y int, c color.RGBA, a float64) {
	k := int32(a*255 + 0.5)
	if k <= 0 {
		return
	}
	i := img.PixOffset(x, y)
	p := img.Pix[i : i+4 : i+4]
	p[0] = uint8((int32(p[0])*(255-k) + int32(c.R)*k + 127) / 255)
	p[1] = uint8((int32(p[1])*(255-k) + int32(c.G)*k + 127) / 255)
	p[2] = uint8((int32(p[2])*(255-k) + int32(c.B)*k + 127) / 255)
	p[3] = uint8((int32(p[3])*(255-k) + 255*k + 127) / 255)
}

// cover calls fn(x, y, px, py) for every pixel of img whose centre (px, py)
// lies within the box [x0, x1]×[y0, y1] widened by one pixel.
func cover(img *image.RGBA, x0, y0, x1, y1 float64, fn func(x, y int, px, py float64)) {
	b := img.Bounds()
	fx0 := math.Max(math.Floor(x0-1), float64(b.Min.X))
	fy0 := math.Max(math.Floor(y0-1), float64(b.Min.Y))
	fx1 := math.Min(math.Ceil(x1+1), float64(b.Max.X))
	fy1 := math.Min(math.Ceil(y1+1), float64(b.Max.Y))
	if !(fx0 < fx1 && fy0 < fy1) { // also false for NaN
		return
	}
	for y := int(fy0); y < int(fy1); y++ {
		for x := int(fx0); x < int(fx1); x++ {
			fn(x, y, float64(x)+0.5, float64(y)+0.5)
		}
	}
}

// disc draws a filled anti-aliased disc of radius r centred at (cx, cy).
func disc(img *image.RGBA, cx, cy, r float64, c color.RGBA, alpha float64) {
	cover(img, cx-r, cy-r, cx+r, cy+r, func(x, y int, px, py float64) {
		d := math.Hypot(px-cx, py-cy)
		if cov := clamp01(r + 0.5 - d); cov > 0 {
			blend(img, x, y, c, cov*alpha)
		}
	})
}

// ring draws an anti-aliased circle of radius r and line width w.
func ring(img *image.RGBA, cx, cy, r, w float64, c color.RGBA, alpha float64) {
	R := r + w/2
	cover(img, cx-R, cy-R, cx+R, cy+R, func(x, y int, px, py float64) {
		d := math.Hypot(px-cx, py-cy)
		if cov := clamp01(w/2 + 0.5 - math.Abs(d-r)); cov > 0 {
			blend(img, x, y, c, cov*alpha)
		}
	})
}

// segment draws an anti-aliased line of width w with round caps from (ax, ay)
// to (bx, by).
func segment(img *image.RGBA, ax, ay, bx, by, w float64, c color.RGBA, alpha float64) {
	h := w / 2
	dx, dy := bx-ax, by-ay
	l2 := dx*dx + dy*dy
	cover(img, math.Min(ax, bx)-h, math.Min(ay, by)-h, math.Max(ax, bx)+h, math.Max(ay, by)+h, func(x, y int, px, py float64) {
		s := 0.0
		if l2 > 0 {
			s = clamp01(((px-ax)*dx + (py-ay)*dy) / l2)
		}
		d := math.Hypot(px-ax-s*dx, py-ay-s*dy)
		if cov := clamp01(h + 0.5 - d); cov > 0 {
			blend(img, x, y, c, cov*alpha)
		}
	})
}

// hsv converts hue h in degrees and saturation s and value v in [0, 1] to
// an opaque RGBA colour.
func hsv(h, s, v float64) color.RGBA {
	h = math.Mod(h, 360) / 60
	c := v * s
	x := c * (1 - math.Abs(math.Mod(h, 2)-1))
	var r, g, b float64
	switch int(h) {
	case 0:
		r, g = c, x
	case 1:
		r, g = x, c
	case 2:
		g, b = c, x
	case 3:
		g, b = x, c
	case 4:
		r, b = x, c
	default:
		r, b = c, x
	}
	m := v - c
	u8 := func(f float64) uint8 { return uint8(math.Round(255 * clamp01(f+m))) }
	return color.RGBA{u8(r), u8(g), u8(b), 255}
}

func clamp01(v float64) float64 {
	if v < 0 || math.IsNaN(v) {
		return 0
	}
	if v > 1 {
		return 1
	}
	return v
}

func finite(p [2]float32) bool {
	return !math.IsNaN(float64(p[0])) && !math.IsNaN(float64(p[1])) &&
		!math.IsInf(float64(p[0]), 0) && !math.IsInf(float64(p[1]), 0)
}

// parallel runs fn(0..n-1) on GOMAXPROCS goroutines and returns the error of
// the lowest index that failed.
func parallel(n int, fn func(i int) error) error {
	errs := make([]error, n)
	workers := min(runtime.GOMAXPROCS(0), n)
	var next int
	var mu sync.Mutex
	var wg sync.WaitGroup
	for range workers {
		wg.Go(func() {
			for {
				mu.Lock()
				i := next
				next++
				mu.Unlock()
				if i >= n {
					return
				}
				errs[i] = fn(i)
			}
		})
	}
	wg.Wait()
	return firstError(errs)
}

func firstError(errs []error) error {
	for _, err := range errs {
		if err != nil {
			return err
		}
	}
	return nil
}
