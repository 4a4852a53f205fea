package flow

import (
	"context"
	"math"

	"dinotracker/internal/parallel"
)

// varParams configures one call of the variational refinement.
type varParams struct {
	alpha, gamma, delta float32 // smoothness, gradient- and brightness-constancy weights
	edgeKappa           float32 // edge-aware smoothness: α(x) = α·exp(-κ|∇I0(x)|); 0 = uniform
	warps               int     // outer iterations: warp, linearise, solve
	fixedPoint          int     // lagged-nonlinearity iterations per warp
	sor                 int     // red-black SOR sweeps per fixed-point iteration
	omega               float32 // SOR relaxation
	median              bool    // 5×5 median filter of the flow after each warp
}

// Robust-penalty and normalisation constants, as OpenCV's variational
// refinement (zeta normalises the data terms, epsilon is the Charbonnier
// constant).
const (
	varZeta2 = 0.1 * 0.1
	varEps2  = 0.001 * 0.001
)

// varSolver holds the buffers of the variational refinement; they are
// reused across pyramid levels and calls.
type varSolver struct {
	w, h                               int
	i1w, avg, ix, iy, iz               plane
	ixx, ixy, iyy, ixz, iyz, tmp, tmp2 plane
	mask, alphaMap                     []float32
	a12, cu, cv, d1, d2                []float32
	a11, a22, b1, b2                   []float32
	rdn, rn1, rn2                      []float32 // data-term normalisations × mask
	duP, dvP, wHP, wVP                 []float32 // padded by w+1 on both ends
	medU, medV                         []float32
}

// pad returns the padding of the padded buffers.
func (s *varSolver) pad() int { return s.w + 1 }

func (s *varSolver) setup(w, h int) {
	s.w, s.h = w, h
	n := w * h
	np := n + 2*(w+1)
	for _, b := range []*[]float32{&s.mask, &s.alphaMap, &s.a12, &s.cu, &s.cv, &s.d1, &s.d2, &s.a11, &s.a22, &s.b1, &s.b2} {
		*b = grow(*b, n)
	}
	for _, b := range []*[]float32{&s.duP, &s.dvP, &s.wHP, &s.wVP} {
		*b = grow(*b, np)
		clear(*b)
	}
}

// refine improves the flow (U, V) from I0 to I1 in place by minimising
//
//	Σ δ·Ψ(brightness) + γ·Ψ(gradient) + α(x)·Ψ(|∇u|² + |∇v|²)
//
// with Ψ(s²) = sqrt(s² + ε²) (Charbonnier), the data terms normalised by
// the local gradient magnitude as in Zimmer et al. and OpenCV's
// VariationalRefinement. Each warp linearises the data terms around the
// current flow and solves for the increment with lagged-diffusivity
// fixed-point iterations and red-black SOR.
func (s *varSolver) refine(ctx context.Context, I0, I1 *plane, U, V []float32, p varParams) error {
	w, h := I0.w, I0.h
	s.setup(w, h)
	n := w * h
	// Local smoothness weight.
	if p.edgeKappa > 0 {
		gradient(&s.tmp, &s.tmp2, I0, false)
		parallel.For(h, rowGrain(w), func(lo, hi int) {
			for i := lo * w; i < hi*w; i++ {
				g := float32(math.Sqrt(float64(s.tmp.p[i]*s.tmp.p[i] + s.tmp2.p[i]*s.tmp2.p[i])))
				s.alphaMap[i] = p.alpha * float32(math.Exp(-float64(p.edgeKappa*g)))
			}
		})
	} else {
		for i := range n {
			s.alphaMap[i] = p.alpha
		}
	}
	for k := 0; k < p.warps; k++ {
		if err := ctx.Err(); err != nil {
			return err
		}
		s.linearise(I0, I1, U, V)
		clear(s.duP)
		clear(s.dvP)
		for it := 0; it < p.fixedPoint; it++ {
			s.assemble(U, V, p)
			for j := 0; j < p.sor; j++ {
				s.sorPass(0, p.omega)
				s.sorPass(1, p.omega)
			}
		}
		off := s.pad()
		du, dv := s.duP[off:off+n], s.dvP[off:off+n]
		for i := range n {
			U[i] += du[i]
			V[i] += dv[i]
		}
		if p.median {
			s.medU = grow(s.medU, n)
			s.medV = grow(s.medV, n)
			median5(s.medU, U, w, h)
			median5(s.medV, V, w, h)
			copy(U, s.medU)
			copy(V, s.medV)
		}
	}
	return nil
}

// linearise warps I1 by the current flow and computes the derivatives of
// the data terms: spatial ones on the average of I0 and the warped I1,
// temporal ones as their difference. It also stores the reciprocal
// normalisations of the data terms, with the out-of-image mask folded in.
func (s *varSolver) linearise(I0, I1 *plane, U, V []float32) {
	w, h := I0.w, I0.h
	warpImage(&s.i1w, I1, U, V, s.mask)
	s.avg.resize(w, h)
	s.iz.resize(w, h)
	parallel.For(h, rowGrain(w), func(lo, hi int) {
		for i := lo * w; i < hi*w; i++ {
			a, b := I0.p[i], s.i1w.p[i]
			s.avg.p[i] = 0.5 * (a + b)
			s.iz.p[i] = b - a
		}
	})
	gradient(&s.ix, &s.iy, &s.avg, false)
	gradient(&s.ixx, &s.ixy, &s.ix, false)
	gradient(&s.tmp, &s.iyy, &s.iy, false)
	gradient(&s.ixz, &s.iyz, &s.iz, false)
	n := w * h
	s.rdn, s.rn1, s.rn2 = grow(s.rdn, n), grow(s.rn1, n), grow(s.rn2, n)
	parallel.For(h, rowGrain(w), func(lo, hi int) {
		for i := lo * w; i < hi*w; i++ {
			m := s.mask[i]
			ix, iy := s.ix.p[i], s.iy.p[i]
			ixx, ixy, iyy := s.ixx.p[i], s.ixy.p[i], s.iyy.p[i]
			s.rdn[i] = m / (ix*ix + iy*iy + varZeta2)
			s.rn1[i] = m / (ixx*ixx + ixy*ixy + varZeta2)
			s.rn2[i] = m / (iyy*iyy + ixy*ixy + varZeta2)
		}
	})
}

// assemble computes, for the current increment, the robust data-term
// weights, the smoothness diffusivities and the coefficients of the linear
// system that SOR solves.
func (s *varSolver) assemble(U, V []float32, p varParams) {
	w, h := s.w, s.h
	off := s.pad()
	delta2, gamma2 := p.delta*0.5, p.gamma*0.5
	// Data term and diffusivities (per pixel, forward differences).
	parallel.For(h, rowGrain(w)/4+1, func(lo, hi int) {
		for y := lo; y < hi; y++ {
			r := y * w
			ixr, iyr, izr := s.ix.p[r : r+w][:w], s.iy.p[r : r+w][:w], s.iz.p[r : r+w][:w]
			ixxr, ixyr, iyyr := s.ixx.p[r : r+w][:w], s.ixy.p[r : r+w][:w], s.iyy.p[r : r+w][:w]
			ixzr, iyzr := s.ixz.p[r : r+w][:w], s.iyz.p[r : r+w][:w]
			rdnr, rn1r, rn2r := s.rdn[r : r+w][:w], s.rn1[r : r+w][:w], s.rn2[r : r+w][:w]
			a11r, a12r, a22r, b1r, b2r := s.a11[r : r+w][:w], s.a12[r : r+w][:w], s.a22[r : r+w][:w], s.b1[r : r+w][:w], s.b2[r : r+w][:w]
			alr := s.alphaMap[r : r+w][:w]
			Ur, Vr := U[r : r+w][:w], V[r : r+w][:w]
			duC, dvC := s.duP[off+r : off+r+w][:w], s.dvP[off+r : off+r+w][:w]
			UD, VD, duD, dvD := Ur, Vr, duC, dvC
			hasDown := float32(0)
			if y+1 < h {
				UD, VD = U[r+w : r+2*w][:w], V[r+w : r+2*w][:w]
				duD, dvD = s.duP[off+r+w : off+r+2*w][:w], s.dvP[off+r+w : off+r+2*w][:w]
				hasDown = 1
			}
			wHr, wVr := s.wHP[off+r : off+r+w][:w], s.wVP[off+r : off+r+w][:w]
			for x := 0; x < w; x++ {
				dui, dvi := duC[x], dvC[x]
				ix, iy, iz := ixr[x], iyr[x], izr[x]
				// Brightness constancy.
				rdn := rdnr[x]
				e := iz + ix*dui + iy*dvi
				wt := delta2 * rdn / sqrt32(e*e*rdn+varEps2)
				a11 := wt*ix*ix + varZeta2
				a12 := wt * ix * iy
				a22 := wt*iy*iy + varZeta2
				b1 := -wt * iz * ix
				b2 := -wt * iz * iy
				// Gradient constancy.
				ixx, ixy, iyy := ixxr[x], ixyr[x], iyyr[x]
				ixz, iyz := ixzr[x], iyzr[x]
				n1, n2 := rn1r[x], rn2r[x]
				ex := ixz + ixx*dui + ixy*dvi
				ey := iyz + ixy*dui + iyy*dvi
				wg := gamma2 / sqrt32(ex*ex*n1+ey*ey*n2+varEps2)
				g1, g2 := wg*n1, wg*n2
				a11 += g1*ixx*ixx + g2*ixy*ixy
				a12 += g1*ixx*ixy + g2*ixy*iyy
				a22 += g1*ixy*ixy + g2*iyy*iyy
				b1 -= g1*ixx*ixz + g2*ixy*iyz
				b2 -= g1*ixy*ixz + g2*iyy*iyz
				a11r[x], a12r[x], a22r[x], b1r[x], b2r[x] = a11, a12, a22, b1, b2
				// Smoothness diffusivity from forward differences of u+du.
				u0, v0 := Ur[x]+dui, Vr[x]+dvi
				xr, hasRight := x+1, float32(1)
				if xr == w {
					xr, hasRight = x, 0
				}
				ux := Ur[xr] + duC[xr] - u0
				vx := Vr[xr] + dvC[xr] - v0
				uy := (UD[x] + duD[x] - u0) * hasDown
				vy := (VD[x] + dvD[x] - v0) * hasDown
				phi := 0.5 * alr[x] / sqrt32(ux*ux+vx*vx+uy*uy+vy*vy+varEps2)
				wHr[x] = phi * hasRight
				wVr[x] = phi * hasDown
			}
		}
	})
	// Linear system: (a11 + Σw) du + a12 dv = b1 + Σ w_n (u_n - u) + Σ w_n du_n.
	wHP, wVP := s.wHP, s.wVP
	parallel.For(h, rowGrain(w)/2+1, func(lo, hi int) {
		for y := lo; y < hi; y++ {
			r := y * w
			base := off + r
			wHC := wHP[base-1 : base+w][:w+1]
			wVU, wVC := wVP[base-w : base][:w], wVP[base : base+w][:w]
			Ur, Vr := U[r : r+w][:w], V[r : r+w][:w]
			UU, VU, UD, VD := Ur, Vr, Ur, Vr
			if y > 0 {
				UU, VU = U[r-w : r][:w], V[r-w : r][:w]
			}
			if y+1 < h {
				UD, VD = U[r+w : r+2*w][:w], V[r+w : r+2*w][:w]
			}
			a11r, a22r, b1r, b2r := s.a11[r : r+w][:w], s.a22[r : r+w][:w], s.b1[r : r+w][:w], s.b2[r : r+w][:w]
			cur, cvr, d1r, d2r := s.cu[r : r+w][:w], s.cv[r : r+w][:w], s.d1[r : r+w][:w], s.d2[r : r+w][:w]
			for x := 0; x < w; x++ {
				wl, wr, wu, wd := wHC[x], wHC[x+1], wVU[x], wVC[x]
				xl, xr := max(x-1, 0), min(x+1, w-1)
				u0, v0 := Ur[x], Vr[x]
				su := wl*(Ur[xl]-u0) + wr*(Ur[xr]-u0) + wu*(UU[x]-u0) + wd*(UD[x]-u0)
				sv := wl*(Vr[xl]-v0) + wr*(Vr[xr]-v0) + wu*(VU[x]-v0) + wd*(VD[x]-v0)
				sw := wl + wr + wu + wd
				cur[x] = b1r[x] + su
				cvr[x] = b2r[x] + sv
				d1r[x] = 1 / (a11r[x] + sw)
				d2r[x] = 1 / (a22r[x] + sw)
			}
		}
	})
}

// sorPass runs one red (colour 0) or black (colour 1) half-sweep of SOR.
func (s *varSolver) sorPass(colour int, omega float32) {
	w, h := s.w, s.h
	off := s.pad()
	duP, dvP, wHP, wVP := s.duP, s.dvP, s.wHP, s.wVP
	parallel.For(h, rowGrain(w)/2+1, func(lo, hi int) {
		for y := lo; y < hi; y++ {
			base := off + y*w
			// Rows of the padded buffers: above, current (with one
			// element either side) and below.
			duU, duC, duD := duP[base-w : base][:w], duP[base-1 : base+w+1][:w+2], duP[base+w : base+2*w][:w]
			dvU, dvC, dvD := dvP[base-w : base][:w], dvP[base-1 : base+w+1][:w+2], dvP[base+w : base+2*w][:w]
			wHC := wHP[base-1 : base+w][:w+1]
			wVU, wVC := wVP[base-w : base][:w], wVP[base : base+w][:w]
			r := y * w
			a12r, cur, cvr, d1r, d2r := s.a12[r : r+w][:w], s.cu[r : r+w][:w], s.cv[r : r+w][:w], s.d1[r : r+w][:w], s.d2[r : r+w][:w]
			for x := (y + colour) & 1; x < w; x += 2 {
				wl, wr, wu, wd := wHC[x], wHC[x+1], wVU[x], wVC[x]
				// Left and right neighbours; at the row ends (zero weight)
				// the pixel itself, not the wrapped-around pixel of the
				// adjacent row, which may be updated concurrently.
				xl, xr := x, x+2
				if x == 0 {
					xl = 1
				}
				if x == w-1 {
					xr = x + 1
				}
				nu := wl*duC[xl] + wr*duC[xr] + wu*duU[x] + wd*duD[x]
				nv := wl*dvC[xl] + wr*dvC[xr] + wu*dvU[x] + wd*dvD[x]
				a12 := a12r[x]
				u := duC[x+1]
				u += omega * ((cur[x]+nu-a12*dvC[x+1])*d1r[x] - u)
				duC[x+1] = u
				v := dvC[x+1]
				v += omega * ((cvr[x]+nv-a12*u)*d2r[x] - v)
				dvC[x+1] = v
			}
		}
	})
}

func sqrt32(x float32) float32 { return float32(math.Sqrt(float64(x))) }

// median5 writes to dst the 5×5 median of src (window clipped at the
// borders).
func median5(dst, src []float32, w, h int) {
	parallel.For(h, rowGrain(w)/8+1, func(lo, hi int) {
		var buf [25]float32
		for y := lo; y < hi; y++ {
			y0, y1 := max(0, y-2), min(h-1, y+2)
			for x := 0; x < w; x++ {
				x0, x1 := max(0, x-2), min(w-1, x+2)
				k := 0
				for yy := y0; yy <= y1; yy++ {
					row := src[yy*w:]
					for xx := x0; xx <= x1; xx++ {
						buf[k] = row[xx]
						k++
					}
				}
				dst[y*w+x] = selectMedian(buf[:k])
			}
		}
	})
}

// selectMedian returns the element of rank len(a)/2 of a (reordering a).
func selectMedian(a []float32) float32 {
	k := len(a) / 2
	lo, hi := 0, len(a)-1
	for lo < hi {
		pivot := a[(lo+hi)/2]
		i, j := lo, hi
		for i <= j {
			for a[i] < pivot {
				i++
			}
			for a[j] > pivot {
				j--
			}
			if i <= j {
				a[i], a[j] = a[j], a[i]
				i++
				j--
			}
		}
		if k <= j {
			hi = j
		} else if k >= i {
			lo = i
		} else {
			break
		}
	}
	return a[k]
}
