// Device kernels of package dinotracker/cuda: the per-query tracking loop of
// DINO-Tracker's tracker head on one target frame.
//
//   dt_token_norms  ‖F[:, j]‖ of every token of a channel-major map [C, P]
//   dt_query_norms  ‖q_i‖ of every query row [n, C]
//   dt_cosine       S = ReLU(⟨q_i, F_j⟩ / max(‖q_i‖·‖F_j‖, 1e-8))   [n, P]
//   dt_argmax       first index of the largest S[i, :] (NaN wins)
//   dt_refine       NormalizedConv2d(1→16) → ReLU → NormalizedConv2d(16→1)
//   dt_softmax      softmax over each row of logits, in place
//   dt_window       windowed soft-argmax around the argmax token
//
// The Go package documents the semantics (they are those of packages corr
// and softargmax); each kernel here names its specification.
//
// Plain CUDA C++ compiled by clang without the CUDA SDK headers and without
// libdevice (see the Makefile's ptx target), so the few builtins we need are
// declared below and exp is computed here. Every kernel runs with 256
// threads per block (NT). Defining DT_HOST_EMU compiles the same source as
// host C++ for the CPU emulator in testdata/emu (no GPU needed to test the
// kernels' logic).

#define NT 256 // threads per block, every kernel

#ifdef DT_HOST_EMU
// Host emulation: the harness provides the thread and block indices and a
// barrier that switches between the block's threads (fibers).
extern "C" int dt_emu_tid_x(void);
extern "C" int dt_emu_ctaid_x(void);
extern "C" int dt_emu_ctaid_y(void);
extern "C" int dt_emu_ctaid_z(void);
extern "C" void dt_emu_sync(void);
#define __global__
#define __device__
#define __shared__ static
#define DT_BOUNDS
#define DT_INL static inline
DT_INL int tid_x(void) { return dt_emu_tid_x(); }
DT_INL int ctaid_x(void) { return dt_emu_ctaid_x(); }
DT_INL int ctaid_y(void) { return dt_emu_ctaid_y(); }
DT_INL int ctaid_z(void) { return dt_emu_ctaid_z(); }
DT_INL void sync_block(void) { dt_emu_sync(); }
#else
#define __global__ __attribute__((global))
#define __device__ __attribute__((device))
#define __shared__ __attribute__((shared))
#define DT_BOUNDS __attribute__((launch_bounds(NT)))
#define DT_INL static __attribute__((device)) __attribute__((always_inline)) inline
DT_INL int tid_x(void) { return __nvvm_read_ptx_sreg_tid_x(); }
DT_INL int ctaid_x(void) { return __nvvm_read_ptx_sreg_ctaid_x(); }
DT_INL int ctaid_y(void) { return __nvvm_read_ptx_sreg_ctaid_y(); }
DT_INL int ctaid_z(void) { return __nvvm_read_ptx_sreg_ctaid_z(); }
DT_INL void sync_block(void) { __syncthreads(); }
#endif

typedef long long i64;

// corr.Eps and softargmax.MassEps.
#define COS_EPS 1e-8f
#define MASS_EPS 1e-8

// dt_expf is e^x in float32 without libdevice: x = n·ln2 + r with
// |r| ≤ ln2/2 (Cody–Waite, two-part ln2), e^r by its Taylor series to r⁷
// (truncation < 6e-9 relative), then the exact scaling by 2ⁿ in two steps so
// that subnormal results come out right. The error is within ~2 ulp.
DT_INL float dt_expf(float x) {
	if (x != x) {
		return x;
	}
	if (x > 88.7228394f) {
		return __builtin_bit_cast(float, 0x7f800000); // +Inf
	}
	if (x < -103.972084f) {
		return 0.0f;
	}
	float n = __builtin_rintf(x * 1.44269504f);
	float r = __builtin_fmaf(n, -0.693145752f, x); // ln2 high part (exact product)
	r = __builtin_fmaf(n, -1.42860677e-6f, r);     // ln2 low part
	float p = 1.98412698e-4f;                      // 1/7!
	p = __builtin_fmaf(p, r, 1.38888889e-3f);      // 1/6!
	p = __builtin_fmaf(p, r, 8.33333333e-3f);      // 1/5!
	p = __builtin_fmaf(p, r, 4.16666667e-2f);      // 1/4!
	p = __builtin_fmaf(p, r, 1.66666667e-1f);      // 1/3!
	p = __builtin_fmaf(p, r, 0.5f);
	p = __builtin_fmaf(p, r, 1.0f);
	p = __builtin_fmaf(p, r, 1.0f);
	int ni = (int)n; // in [-150, 128]
	int a = ni / 2;
	int b = ni - a;
	float sa = __builtin_bit_cast(float, (a + 127) << 23);
	float sb = __builtin_bit_cast(float, (b + 127) << 23);
	return p * sa * sb;
}

// Block-wide sum of one double per thread; every thread gets the total.
// sh must hold NT doubles; the block must not be inside divergent code.
DT_INL double block_sum(double v, double *sh) {
	int t = tid_x();
	sh[t] = v;
	sync_block();
	for (int s = NT / 2; s > 0; s >>= 1) {
		if (t < s) {
			sh[t] += sh[t + s];
		}
		sync_block();
	}
	double r = sh[0];
	sync_block();
	return r;
}

// dt_token_norms: norms[j] = ‖feat[:, j]‖₂ for the channel-major map feat
// [c, p], accumulated in float64 (corr.Norms). One thread per token.
extern "C" __global__ void DT_BOUNDS dt_token_norms(const float *__restrict__ feat, float *__restrict__ norms, int c, int p) {
	int j = ctaid_x() * NT + tid_x();
	if (j >= p) {
		return;
	}
	double s = 0;
	for (int ch = 0; ch < c; ch++) {
		double v = feat[(i64)ch * p + j];
		s += v * v;
	}
	norms[j] = (float)__builtin_sqrt(s);
}

// dt_query_norms: qn[i] = ‖q[i, :]‖₂ for the row-major queries q [n, c], in
// float64 (corr's vecNorm). One block per query.
extern "C" __global__ void DT_BOUNDS dt_query_norms(const float *__restrict__ q, float *__restrict__ qn, int c) {
	__shared__ double sh[NT];
	int i = ctaid_x();
	const float *row = q + (i64)i * c;
	double s = 0;
	for (int ch = tid_x(); ch < c; ch += NT) {
		double v = row[ch];
		s += v * v;
	}
	s = block_sum(s, sh);
	if (tid_x() == 0) {
		qn[i] = (float)__builtin_sqrt(s);
	}
}

// dt_cosine: the ReLU'd cosine cost volume (corr.Cosine with relu):
//
//	s[i*p + j] = max(Σ_ch q[i*c+ch]·feat[ch*p+j] / max(qn[i]·fn[j], 1e-8), 0)
//
// with the product of the norms formed and floored in float32 as corr does
// (a NaN passes the ReLU, as there). A tiled product: each block computes a
// 64×64 tile of s (queries × tokens) over 16-channel slices staged in shared
// memory, each thread a 4×4 sub-tile (rows ty*4…ty*4+3, columns tx + 16·k).
// Grid: (⌈p/64⌉, ⌈n/64⌉).
#define TM 64
#define TN 64
#define TK 16
extern "C" __global__ void DT_BOUNDS dt_cosine(const float *__restrict__ q, const float *__restrict__ feat,
                                               const float *__restrict__ qn, const float *__restrict__ fn,
                                               float *__restrict__ s, int n, int c, int p) {
	__shared__ float as[TK][TM + 4]; // as[k][i]: padded against bank conflicts on store
	__shared__ float bs[TK][TN];
	int t = tid_x();
	int tx = t & 15, ty = t >> 4;
	int i0 = ctaid_y() * TM, j0 = ctaid_x() * TN;
	float acc[4][4];
	for (int a = 0; a < 4; a++) {
		for (int b = 0; b < 4; b++) {
			acc[a][b] = 0.0f;
		}
	}
	for (int k0 = 0; k0 < c; k0 += TK) {
		for (int r = 0; r < 4; r++) {
			int e = t + NT * r;
			int ii = e >> 4, ka = e & 15; // 64 query rows × 16 channels
			int i = i0 + ii, k = k0 + ka;
			as[ka][ii] = (i < n && k < c) ? q[(i64)i * c + k] : 0.0f;
			int kb = e >> 6, jj = e & 63; // 16 channels × 64 tokens, coalesced
			int j = j0 + jj, k2 = k0 + kb;
			bs[kb][jj] = (j < p && k2 < c) ? feat[(i64)k2 * p + j] : 0.0f;
		}
		sync_block();
		for (int kk = 0; kk < TK; kk++) {
			float av[4], bv[4];
			for (int a = 0; a < 4; a++) {
				av[a] = as[kk][ty * 4 + a];
			}
			for (int b = 0; b < 4; b++) {
				bv[b] = bs[kk][tx + 16 * b];
			}
			for (int a = 0; a < 4; a++) {
				for (int b = 0; b < 4; b++) {
					acc[a][b] = __builtin_fmaf(av[a], bv[b], acc[a][b]);
				}
			}
		}
		sync_block();
	}
	for (int a = 0; a < 4; a++) {
		int i = i0 + ty * 4 + a;
		if (i >= n) {
			continue;
		}
		float qi = qn[i];
		for (int b = 0; b < 4; b++) {
			int j = j0 + tx + 16 * b;
			if (j >= p) {
				continue;
			}
			float den = qi * fn[j];
			if (den < COS_EPS) {
				den = COS_EPS;
			}
			float v = acc[a][b] / den;
			if (v < 0.0f) {
				v = 0.0f;
			}
			s[(i64)i * p + j] = v;
		}
	}
}

// dt_argmax: idx[i] = softargmax.Argmax(s[i, :]): the first index of the
// largest value, or the first NaN if there is one. One block per query.
extern "C" __global__ void DT_BOUNDS dt_argmax(const float *__restrict__ s, int *__restrict__ idx, int p) {
	__shared__ float sv[NT];
	__shared__ int si[NT];
	__shared__ int sn[NT]; // 1 when the candidate is a NaN
	int t = tid_x();
	int i = ctaid_x();
	const float *row = s + (i64)i * p;
	float best = 0.0f;
	int bi = -1, bn = 0;
	// Each thread scans its strided indices in increasing order, so a later
	// equal value never replaces an earlier one.
	for (int j = t; j < p; j += NT) {
		float v = row[j];
		if (v != v) {
			if (!bn) {
				bn = 1;
				best = v;
				bi = j;
			}
			continue;
		}
		if (!bn && (bi < 0 || v > best)) {
			best = v;
			bi = j;
		}
	}
	sv[t] = best;
	si[t] = bi;
	sn[t] = bn;
	sync_block();
	for (int w = NT / 2; w > 0; w >>= 1) {
		if (t < w) {
			float v2 = sv[t + w];
			int i2 = si[t + w], n2 = sn[t + w];
			float v1 = sv[t];
			int i1 = si[t], n1 = sn[t];
			int take;
			if (i2 < 0) {
				take = 0;
			} else if (i1 < 0) {
				take = 1;
			} else if (n1 || n2) {
				take = n2 && (!n1 || i2 < i1);
			} else {
				take = v2 > v1 || (v2 == v1 && i2 < i1);
			}
			if (take) {
				sv[t] = v2;
				si[t] = i2;
				sn[t] = n2;
			}
		}
		sync_block();
	}
	if (t == 0) {
		idx[i] = si[0];
	}
}

// dt_refine: the refiner CNN on each cost map (Refiner.Forward with
// already normalised kernels): for o < 16
//
//	h_o = ReLU(b1[o] + w1[o] ⋆ in)          (a NaN passes the ReLU)
//	out = b2 + Σ_o w2[o] ⋆ h_o
//
// where ⋆ is the zero-padded 3×3 cross-correlation (k[u*3+v] multiplies
// the neighbour at row offset u−1, column offset v−1). w holds w1 [16·9],
// b1 [16], w2 [16·9], b2 [1] (305 floats). Each block computes a 16×16
// output tile of one map: it stages the input with a 2-token halo and the
// 16 hidden maps with a 1-token halo (zero outside the map) in shared
// memory. Grid: (⌈gw/16⌉, ⌈gh/16⌉, maps).
#define RT 16
#define RH 16 // hidden channels
#define WLEN (RH * 9 + RH + RH * 9 + 1)
extern "C" __global__ void DT_BOUNDS dt_refine(const float *__restrict__ in, float *__restrict__ out,
                                               const float *__restrict__ w, int gh, int gw) {
	__shared__ float sw[WLEN];
	__shared__ float sin[RT + 4][RT + 4];
	__shared__ float sh[RH][RT + 2][RT + 2];
	int t = tid_x();
	i64 off = (i64)ctaid_z() * gh * gw;
	const float *src = in + off;
	int r0 = ctaid_y() * RT, c0 = ctaid_x() * RT;
	for (int e = t; e < WLEN; e += NT) {
		sw[e] = w[e];
	}
	for (int e = t; e < (RT + 4) * (RT + 4); e += NT) {
		int rr = e / (RT + 4), cc = e % (RT + 4);
		int r = r0 - 2 + rr, c = c0 - 2 + cc;
		sin[rr][cc] = (r >= 0 && r < gh && c >= 0 && c < gw) ? src[r * gw + c] : 0.0f;
	}
	sync_block();
	const float *w1 = sw, *b1 = sw + RH * 9, *w2 = sw + RH * 10, b2 = sw[RH * 19];
	for (int e = t; e < RH * (RT + 2) * (RT + 2); e += NT) {
		int o = e / ((RT + 2) * (RT + 2));
		int rem = e % ((RT + 2) * (RT + 2));
		int rr = rem / (RT + 2), cc = rem % (RT + 2);
		int r = r0 - 1 + rr, c = c0 - 1 + cc;
		float v = 0.0f; // the second convolution's zero padding
		if (r >= 0 && r < gh && c >= 0 && c < gw) {
			const float *k = w1 + o * 9;
			float a = b1[o];
			for (int u = 0; u < 3; u++) {
				a += k[u * 3] * sin[rr + u][cc] + k[u * 3 + 1] * sin[rr + u][cc + 1] + k[u * 3 + 2] * sin[rr + u][cc + 2];
			}
			v = (a > 0.0f || a != a) ? a : 0.0f;
		}
		sh[o][rr][cc] = v;
	}
	sync_block();
	int ty = t / RT, tx = t % RT;
	int r = r0 + ty, c = c0 + tx;
	if (r < gh && c < gw) {
		float a = b2;
		for (int o = 0; o < RH; o++) {
			const float *k = w2 + o * 9;
			for (int u = 0; u < 3; u++) {
				a += k[u * 3] * sh[o][ty + u][tx] + k[u * 3 + 1] * sh[o][ty + u][tx + 1] + k[u * 3 + 2] * sh[o][ty + u][tx + 2];
			}
		}
		out[off + r * gw + c] = a;
	}
}

// dt_softmax: x[i, :] ← softmax(x[i, :]) in place (softargmax.Softmax):
// e_j = exp(x_j − max x) in float32, Σ e_j in float64, x_j = e_j·(1/Σ).
// One block per row.
extern "C" __global__ void DT_BOUNDS dt_softmax(float *__restrict__ x, int p) {
	__shared__ float sm[NT];
	__shared__ double sh[NT];
	int t = tid_x();
	float *row = x + (i64)ctaid_x() * p;
	float m = row[0];
	for (int j = t; j < p; j += NT) {
		float v = row[j];
		if (v > m) {
			m = v;
		}
	}
	sm[t] = m;
	sync_block();
	for (int w = NT / 2; w > 0; w >>= 1) {
		if (t < w && sm[t + w] > sm[t]) {
			sm[t] = sm[t + w];
		}
		sync_block();
	}
	m = sm[0];
	double s = 0;
	for (int j = t; j < p; j += NT) {
		s += (double)dt_expf(row[j] - m);
	}
	s = block_sum(s, sh);
	double inv = 1.0 / s;
	for (int j = t; j < p; j += NT) {
		row[j] = (float)((double)dt_expf(row[j] - m) * inv);
	}
}

// dt_window: the windowed soft-argmax of each probability map around its
// argmax token (softargmax.Window). Token (r, col) is in the window of
// (r0, c0) when (stride·(col−c0))² + (stride·(r−r0))² ≤ radius²; the
// estimate is Σ p·centre / Σ p over the window, with the uniform weight
// 1/count added to every window token when the mass is below 1e-8. Sums
// in float64. res[i*8 + k] receives X, Y, Mass, Sum, Fallback (0/1), Count
// and Center. One block per map.
extern "C" __global__ void DT_BOUNDS dt_window(const float *__restrict__ prob, const int *__restrict__ argmax,
                                               double *__restrict__ res, int gh, int gw, double stride,
                                               double offset, double radius) {
	__shared__ double sh[NT];
	int t = tid_x();
	int i = ctaid_x();
	const float *row = prob + (i64)i * gh * gw;
	int center = argmax[i];
	int r0 = center / gw, c0 = center % gw;
	int k = (int)__builtin_floor(radius / stride) + 1;
	int rlo = r0 - k > 0 ? r0 - k : 0, rhi = r0 + k + 1 < gh ? r0 + k + 1 : gh;
	int clo = c0 - k > 0 ? c0 - k : 0, chi = c0 + k + 1 < gw ? c0 + k + 1 : gw;
	int bw = chi - clo, nb = (rhi - rlo) * bw;
	double m = 0, sx = 0, sy = 0, cx = 0, cy = 0, cnt = 0;
	for (int e = t; e < nb; e += NT) {
		int r = rlo + e / bw, c = clo + e % bw;
		double dx = stride * (double)(c - c0), dy = stride * (double)(r - r0);
		if (dx * dx + dy * dy <= radius * radius) {
			double x = offset + stride * (double)c, y = offset + stride * (double)r;
			double pv = row[r * gw + c];
			m += pv;
			sx += pv * x;
			sy += pv * y;
			cx += x;
			cy += y;
			cnt += 1;
		}
	}
	m = block_sum(m, sh);
	sx = block_sum(sx, sh);
	sy = block_sum(sy, sh);
	cx = block_sum(cx, sh);
	cy = block_sum(cy, sh);
	cnt = block_sum(cnt, sh);
	if (t == 0) {
		double sum = m, fb = 0;
		if (m < MASS_EPS) {
			double u = 1.0 / cnt;
			fb = 1;
			sum = m + u * cnt;
			sx += u * cx;
			sy += u * cy;
		}
		double *o = res + (i64)i * 8;
		o[0] = sx / sum;
		o[1] = sy / sum;
		o[2] = m;
		o[3] = sum;
		o[4] = fb;
		o[5] = cnt;
		o[6] = center;
		o[7] = 0;
	}
}
