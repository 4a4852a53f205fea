package flow

import (
	"math"

	"dinotracker/internal/parallel"
)

// disParams configures the patch search of one pyramid level.
type disParams struct {
	patch, stride, iters int
	propagate            bool // spatial propagation between neighbouring patches
	globalCands          bool // also try zero and the median motion
	radius               int  // exhaustive integer search radius around the first candidate
}

// disSolver holds the buffers of the dense inverse search.
type disSolver struct {
	xs, ys       []int     // patch top-left corners
	colLo, colHi []int32   // for each x, the patch columns covering it
	rowLo, rowHi []int32   // for each y, the patch rows covering it
	sx, sy       []float32 // patch displacements
	gx, gy       plane     // gradients of I0
	med          []float32 // scratch for medianFlow
}

// medianFlow returns the component-wise median of a subsample of (U, V).
func medianFlow(U, V []float32, buf *[]float32) (float32, float32) {
	step := max(1, len(U)/4096)
	b := (*buf)[:0]
	for i := 0; i < len(U); i += step {
		b = append(b, U[i])
	}
	mu := selectMedian(b)
	b = b[:0]
	for i := 0; i < len(V); i += step {
		b = append(b, V[i])
	}
	mv := selectMedian(b)
	*buf = b
	return mu, mv
}

// patchPositions returns the top-left corners of patches of size p placed
// every stride pixels along an axis of length n, the last one flush with
// the end so that every pixel is covered.
func patchPositions(dst []int, n, p, stride int) []int {
	dst = dst[:0]
	for x := 0; x+p <= n; x += stride {
		dst = append(dst, x)
	}
	if last := dst[len(dst)-1]; last+p < n {
		dst = append(dst, n-p)
	}
	return dst
}

// coverage fills lo[x], hi[x] with the first and last patch index whose
// span [pos, pos+p) holds x.
func coverage(lo, hi []int32, pos []int, n, p int) ([]int32, []int32) {
	if cap(lo) < n {
		lo, hi = make([]int32, n), make([]int32, n)
	}
	lo, hi = lo[:n], hi[:n]
	k0 := 0
	for x := 0; x < n; x++ {
		for k0 < len(pos) && pos[k0]+p <= x {
			k0++
		}
		k1 := k0
		for k1+1 < len(pos) && pos[k1+1] <= x {
			k1++
		}
		lo[x], hi[x] = int32(k0), int32(k1)
	}
	return lo, hi
}

// patchCtx is the per-patch template of the inverse search: the zero-mean
// gradients of I0 over the patch and the inverse of their Gauss-Newton
// Hessian.
type patchCtx struct {
	x0, y0, p     int
	tpl, gx, gy   []float32
	h11, h12, h22 float32 // inverse Hessian
}

// load prepares the template of the patch at (x0, y0).
func (pc *patchCtx) load(I0 *plane, gx, gy *plane, x0, y0 int) {
	p, w := pc.p, I0.w
	pc.x0, pc.y0 = x0, y0
	var mx, my float32
	for dy := 0; dy < p; dy++ {
		r := (y0+dy)*w + x0
		copy(pc.tpl[dy*p:dy*p+p], I0.p[r:r+p])
		copy(pc.gx[dy*p:dy*p+p], gx.p[r:r+p])
		copy(pc.gy[dy*p:dy*p+p], gy.p[r:r+p])
	}
	for i := range pc.gx {
		mx += pc.gx[i]
		my += pc.gy[i]
	}
	inv := 1 / float32(p*p)
	mx *= inv
	my *= inv
	var a, b, c float32
	for i := range pc.gx {
		x, y := pc.gx[i]-mx, pc.gy[i]-my
		pc.gx[i], pc.gy[i] = x, y
		a += x * x
		b += x * y
		c += y * y
	}
	// Tikhonov regularisation: a gradient floor of 0.1 grey level.
	reg := 0.01 * float32(p*p)
	a += reg
	c += reg
	det := a*c - b*b
	pc.h11, pc.h12, pc.h22 = c/det, -b/det, a/det
}

// eval compares the template with I1 at displacement (u, v): it returns the
// mean-normalised SSD and the Gauss-Newton step (Δu, Δv) to subtract.
func (pc *patchCtx) eval(I1 *plane, u, v float32, step bool) (ssd, du, dv float32) {
	p, w, h := pc.p, I1.w, I1.h
	tx, ty := float32(pc.x0)+u, float32(pc.y0)+v
	if !(math.Abs(float64(tx)) < 1e7 && math.Abs(float64(ty)) < 1e7) { // NaN, Inf or absurd
		return float32(math.Inf(1)), 0, 0
	}
	fx, fy := float32(math.Floor(float64(tx))), float32(math.Floor(float64(ty)))
	ix, iy := int(fx), int(fy)
	ax, ay := tx-fx, ty-fy
	var sd, sd2, bx, by float32
	if ix >= 0 && iy >= 0 && ix+p < w && iy+p < h {
		w00, w01, w10, w11 := (1-ax)*(1-ay), ax*(1-ay), (1-ax)*ay, ax*ay
		for dy := 0; dy < p; dy++ {
			r0 := I1.p[(iy+dy)*w+ix:][:p+1]
			r1 := I1.p[(iy+dy+1)*w+ix:][:p+1]
			t := pc.tpl[dy*p:][:p]
			gxr := pc.gx[dy*p:][:p]
			gyr := pc.gy[dy*p:][:p]
			for dx := 0; dx < p; dx++ {
				d := w00*r0[dx] + w01*r0[dx+1] + w10*r1[dx] + w11*r1[dx+1] - t[dx]
				sd += d
				sd2 += d * d
				bx += gxr[dx] * d
				by += gyr[dx] * d
			}
		}
	} else {
		// The patch reaches outside I1: compare only the pixels whose
		// target is inside, and rescale the SSD to the full patch. With
		// under 1/16 of the patch inside there is no information (+Inf).
		fw, fh := float32(w-1), float32(h-1)
		var a, b, c float32
		nin := 0
		for dy := 0; dy < p; dy++ {
			yy := ty + float32(dy)
			if yy < 0 || yy > fh {
				continue
			}
			for dx := 0; dx < p; dx++ {
				xx := tx + float32(dx)
				if xx < 0 || xx > fw {
					continue
				}
				k := dy*p + dx
				d := bilinear(I1.p, w, h, xx, yy) - pc.tpl[k]
				gxk, gyk := pc.gx[k], pc.gy[k]
				sd += d
				sd2 += d * d
				bx += gxk * d
				by += gyk * d
				a += gxk * gxk
				b += gxk * gyk
				c += gyk * gyk
				nin++
			}
		}
		if 16*nin < p*p {
			return float32(math.Inf(1)), 0, 0
		}
		n := float32(nin)
		ssd = (sd2 - sd*sd/n) * float32(p*p) / n
		if step {
			reg := 0.01 * n
			a += reg
			c += reg
			det := a*c - b*b
			du = (c*bx - b*by) / det
			dv = (a*by - b*bx) / det
		}
		return
	}
	ssd = sd2 - sd*sd/float32(p*p)
	if step {
		du = pc.h11*bx + pc.h12*by
		dv = pc.h12*bx + pc.h22*by
	}
	return
}

// search runs the inverse-compositional Gauss-Newton iterations from the
// best of the candidate displacements (lowest SSD). The descent stops when
// the SSD stops decreasing, and a result further than a patch size from
// its start is rejected (a jump to a distant, spurious minimum).
func (pc *patchCtx) search(I1 *plane, cu, cv []float32, iters int) (float32, float32) {
	bu, bv := cu[0], cv[0]
	best := float32(math.Inf(1))
	for k := range cu {
		if k > 0 && cu[k] == cu[0] && cv[k] == cv[0] {
			continue
		}
		if s, _, _ := pc.eval(I1, cu[k], cv[k], false); s < best {
			best, bu, bv = s, cu[k], cv[k]
		}
	}
	u, v := bu, bv
	prev := float32(math.Inf(1))
	pu, pv := u, v
	for it := 0; it < iters; it++ {
		s, du, dv := pc.eval(I1, u, v, true)
		if !(s < prev) {
			u, v = pu, pv
			break
		}
		prev, pu, pv = s, u, v
		u -= du
		v -= dv
		if du*du+dv*dv < 1e-6 {
			break
		}
	}
	lim := float32(pc.p)
	if du, dv := u-bu, v-bv; !(du*du+dv*dv <= lim*lim) {
		return bu, bv
	}
	return u, v
}

// exhaustive returns the integer offset of (u0, v0) within ±r with the
// lowest SSD; it keeps (u0, v0) unless the best offset at least halves
// its SSD, so that flat patches do not jump to arbitrary matches.
func (pc *patchCtx) exhaustive(I1 *plane, u0, v0 float32, r int) (float32, float32) {
	s0, _, _ := pc.eval(I1, u0, v0, false)
	bu, bv, best := u0, v0, s0
	cu, cv := float32(math.Round(float64(u0))), float32(math.Round(float64(v0)))
	for dy := -r; dy <= r; dy++ {
		for dx := -r; dx <= r; dx++ {
			u, v := cu+float32(dx), cv+float32(dy)
			if s, _, _ := pc.eval(I1, u, v, false); s < best {
				best, bu, bv = s, u, v
			}
		}
	}
	if best < 0.5*s0 {
		return bu, bv
	}
	return u0, v0
}

// run performs the patch search at one pyramid level, initialised by the
// dense flow (U, V), and overwrites (U, V) with the densified result.
func (d *disSolver) run(I0, I1 *plane, U, V []float32, p disParams) {
	w, h := I0.w, I0.h
	ps := p.patch
	d.xs = patchPositions(d.xs, w, ps, p.stride)
	d.ys = patchPositions(d.ys, h, ps, p.stride)
	nx, ny := len(d.xs), len(d.ys)
	d.sx = grow(d.sx, nx*ny)
	d.sy = grow(d.sy, nx*ny)
	gradient(&d.gx, &d.gy, I0, true)

	// Initial displacement of each patch: the dense flow at its centre.
	c := ps / 2
	for j, y0 := range d.ys {
		for i, x0 := range d.xs {
			k := (y0+c)*w + x0 + c
			d.sx[j*nx+i], d.sy[j*nx+i] = U[k], V[k]
		}
	}

	// Global candidates: zero motion and the median motion of the
	// initialisation (the dominant, e.g. camera, motion).
	gu, gv := medianFlow(U, V, &d.med)

	// Stripes of patch rows are searched independently (in parallel);
	// propagation runs inside a stripe, forward then backward.
	stripe := 6
	nstripes := (ny + stripe - 1) / stripe
	parallel.For(nstripes, 1, func(lo, hi int) {
		pc := &patchCtx{p: ps, tpl: make([]float32, ps*ps), gx: make([]float32, ps*ps), gy: make([]float32, ps*ps)}
		var cu, cv [6]float32
		for st := lo; st < hi; st++ {
			j0, j1 := st*stripe, min(ny, st*stripe+stripe)
			passes := 1
			if p.propagate {
				passes = 2
			}
			iters := p.iters / passes
			for pass := 0; pass < passes; pass++ {
				for jj := j0; jj < j1; jj++ {
					j := jj
					if pass == 1 {
						j = j1 - 1 - (jj - j0)
					}
					for ii := 0; ii < nx; ii++ {
						i := ii
						if pass == 1 {
							i = nx - 1 - ii
						}
						k := j*nx + i
						pc.load(I0, &d.gx, &d.gy, d.xs[i], d.ys[j])
						cu[0], cv[0] = d.sx[k], d.sy[k]
						nc := 1
						if p.propagate {
							di := 1 - 2*pass // neighbour already visited in this pass
							if ni := i - di; ni >= 0 && ni < nx {
								cu[nc], cv[nc] = d.sx[j*nx+ni], d.sy[j*nx+ni]
								nc++
							}
							if nj := j - di; nj >= j0 && nj < j1 {
								cu[nc], cv[nc] = d.sx[nj*nx+i], d.sy[nj*nx+i]
								nc++
							}
						}
						if pass == 0 && p.globalCands {
							cu[nc], cv[nc] = 0, 0
							cu[nc+1], cv[nc+1] = gu, gv
							nc += 2
						}
						if pass == 0 && p.radius > 0 {
							cu[nc], cv[nc] = pc.exhaustive(I1, cu[0], cv[0], p.radius)
							nc++
						}
						d.sx[k], d.sy[k] = pc.search(I1, cu[:nc], cv[:nc], iters)
					}
				}
			}
		}
	})

	// Densification: each pixel averages the displacements of the patches
	// covering it, weighted by 1/max(1, (I1(x+u)-I0(x))²).
	d.colLo, d.colHi = coverage(d.colLo, d.colHi, d.xs, w, ps)
	d.rowLo, d.rowHi = coverage(d.rowLo, d.rowHi, d.ys, h, ps)
	parallel.For(h, rowGrain(w)/8+1, func(lo, hi int) {
		for y := lo; y < hi; y++ {
			j0, j1 := int(d.rowLo[y]), int(d.rowHi[y])
			for x := 0; x < w; x++ {
				i0, i1 := int(d.colLo[x]), int(d.colHi[x])
				ref := I0.p[y*w+x]
				var sw, su, sv float32
				for j := j0; j <= j1; j++ {
					for i := i0; i <= i1; i++ {
						k := j*nx + i
						u, v := d.sx[k], d.sy[k]
						diff := bilinear(I1.p, w, h, float32(x)+u, float32(y)+v) - ref
						wt := 1 / max(diff*diff, 1)
						sw += wt
						su += wt * u
						sv += wt * v
					}
				}
				U[y*w+x] = su / sw
				V[y*w+x] = sv / sw
			}
		}
	})
}
