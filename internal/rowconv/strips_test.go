package rowconv

import (
	"math"
	"math/big"
	"math/rand/v2"
	"testing"
)

// fma32Exact rounds a·b + c once to float32 through big.Float.
func fma32Exact(a, b, c float32) float32 {
	for _, v := range []float32{a, b, c} {
		if math.IsInf(float64(v), 0) || v != v {
			return float32(float64(a)*float64(b) + float64(c)) // no rounding issue
		}
	}
	x := new(big.Float).SetPrec(200).SetFloat64(float64(a))
	x.Mul(x, new(big.Float).SetPrec(200).SetFloat64(float64(b)))
	x.Add(x, new(big.Float).SetPrec(200).SetFloat64(float64(c)))
	f, _ := x.Float32()
	return f
}

// TestFMA32 checks FMA32 against exact rounding on random operands and on
// operands built so that a·b + c rounded to float64 lands exactly halfway
// between two float32 values (where float32(math.FMA(…)) is wrong).
func TestFMA32(t *testing.T) {
	r := rand.New(rand.NewPCG(3, 4))
	check := func(a, b, c float32) {
		t.Helper()
		got, want := FMA32(a, b, c), fma32Exact(a, b, c)
		if math.Float32bits(got) != math.Float32bits(want) && !(got != got && want != want) {
			t.Fatalf("FMA32(%g, %g, %g) = %g, want %g", a, b, c, got, want)
		}
	}
	for i := 0; i < 200000; i++ {
		a := float32(r.NormFloat64() * math.Exp(r.NormFloat64()*4))
		b := float32(r.NormFloat64() * math.Exp(r.NormFloat64()*4))
		c := float32(r.NormFloat64() * math.Exp(r.NormFloat64()*4))
		check(a, b, c)
	}
	hard := 0
	for i := 0; i < 20000; i++ {
		// c = 2^e·(1 + k·2^-23) and a·b = 2^(e−24)·(1 − 2^-46): the sum
		// is a float32 midpoint minus a term that float64 rounding drops.
		e := r.IntN(40) - 20
		c := float32(math.Ldexp(1+float64(r.IntN(1<<20))*0x1p-23, e))
		a := float32(1 + 0x1p-23)
		b := float32(math.Ldexp(1-0x1p-23, e-24))
		if i%2 == 1 {
			a, b = float32(1+float64(r.IntN(1<<10))*0x1p-23), float32(math.Ldexp(1, e-24))
		}
		if s := float64(a)*float64(b) + float64(c); float32(s) != fma32Exact(a, b, c) {
			hard++
		}
		check(a, b, c)
		check(-a, b, -c)
	}
	if hard == 0 {
		t.Fatal("no double-rounding case was generated: the test does not exercise FMA32's correction")
	}
	for _, v := range [][3]float32{{0, 0, 0}, {float32(math.Inf(1)), 1, 1}, {float32(math.Inf(1)), 0, 1}, {1, 1, float32(math.NaN())}, {3e38, 3e38, 0}, {1e-30, 1e-30, 0}, {-0.0, 1, 0}} {
		check(v[0], v[1], v[2])
	}
	t.Logf("%d double-rounding cases", hard)
}

// TestConv3StripsMatchesGo checks the kernel bit for bit against the Go
// loop (one and sixteen channels, with and without ReLU, NaN and infinity
// in the input) and the Go loop against float64 sums.
func TestConv3StripsMatchesGo(t *testing.T) {
	kernelVariants(func(kernel string) { testConv3Strips(t, kernel) })
}

func testConv3Strips(t *testing.T, kernel string) {
	r := rand.New(rand.NewPCG(5, 6))
	for _, nch := range []int{1, 3, 16} {
		for nstrips := 1; nstrips <= 3; nstrips++ {
			for _, relu := range []bool{false, true} {
				n := StripWidth * nstrips
				rowStride := n + 2 + r.IntN(5)
				chStride := 3*rowStride + r.IntN(7)
				src := make([]float32, nch*chStride+1)
				for i := range src {
					src[i] = float32(r.NormFloat64())
				}
				w := make([]float32, nch*9)
				for i := range w {
					w[i] = float32(r.NormFloat64() * 3)
				}
				if nch == 3 {
					src[rowStride+5] = float32(math.NaN())
					src[chStride+7] = float32(math.Inf(-1))
				}
				want := make([]float32, n)
				conv3StripsGo(want, src, chStride, rowStride, nch, w, 0.25, n, relu)
				got := make([]float32, n)
				Conv3Strips(got, src, chStride, rowStride, nch, w, 0.25, nstrips, relu)
				for j := range want {
					if math.Float32bits(got[j]) != math.Float32bits(want[j]) {
						t.Fatalf("%s: nch=%d nstrips=%d relu=%v j=%d: %v, want %v", kernel, nch, nstrips, relu, j, got[j], want[j])
					}
					ref := 0.25
					abs := 0.25
					for ch := 0; ch < nch; ch++ {
						for u := 0; u < 3; u++ {
							for v := 0; v < 3; v++ {
								p := float64(w[ch*9+u*3+v]) * float64(src[ch*chStride+u*rowStride+j+v])
								ref += p
								abs += math.Abs(p)
							}
						}
					}
					if relu && ref < 0 {
						ref = 0
					}
					if ref == ref && !math.IsInf(ref, 0) && math.Abs(float64(want[j])-ref) > 1e-6*abs {
						t.Fatalf("nch=%d j=%d: %v, float64 sum %v", nch, j, want[j], ref)
					}
				}
			}
		}
	}
}

func BenchmarkConv3Strips(b *testing.B) {
	// The tracker head's refiner output layer on one 121-wide row.
	const rowStride = 136
	src := make([]float32, 16*3*rowStride)
	w := make([]float32, 16*9)
	dst := make([]float32, 128)
	r := rand.New(rand.NewPCG(1, 1))
	for i := range src {
		src[i] = r.Float32()
	}
	for i := range w {
		w[i] = float32(r.NormFloat64())
	}
	kernelVariants(func(kernel string) {
		b.Run(kernel, func(b *testing.B) {
			for i := 0; i < b.N; i++ {
				Conv3Strips(dst, src, rowStride, 16*rowStride, 16, w, 0, 2, false)
			}
		})
	})
	b.Run("go", func(b *testing.B) {
		for i := 0; i < b.N; i++ {
			conv3StripsGo(dst, src, rowStride, 16*rowStride, 16, w, 0, 2*StripWidth, false)
		}
	})
}

// TestConv3StripsMultiMatchesSingle checks the many-output kernel bit for
// bit against one-output Conv3Strips calls, with and without ReLU.
func TestConv3StripsMultiMatchesSingle(t *testing.T) {
	kernelVariants(func(kernel string) {
		r := rand.New(rand.NewPCG(11, 12))
		for _, relu := range []bool{false, true} {
			for nstrips := 1; nstrips <= 2; nstrips++ {
				for _, nout := range []int{5, 16, 21} { // the AVX-512 kernel takes groups of 16
					n := StripWidth * nstrips
					rowStride := n + 3
					dstStride := n + 7
					src := make([]float32, 3*rowStride)
					for i := range src {
						src[i] = float32(r.NormFloat64())
					}
					src[rowStride+9] = float32(math.NaN())
					src[2*rowStride+20] = float32(math.Inf(1))
					w := make([]float32, nout*9)
					bias := make([]float32, nout)
					for i := range w {
						w[i] = float32(r.NormFloat64() * 4)
					}
					for i := range bias {
						bias[i] = float32(r.NormFloat64())
					}
					got := make([]float32, nout*dstStride)
					Conv3StripsMulti(got, dstStride, src, rowStride, w, bias, nout, nstrips, relu)
					for o := 0; o < nout; o++ {
						want := make([]float32, n)
						Conv3Strips(want, src, 0, rowStride, 1, w[o*9:], bias[o], nstrips, relu)
						for j := range want {
							if math.Float32bits(got[o*dstStride+j]) != math.Float32bits(want[j]) {
								t.Fatalf("%s relu=%v output %d j=%d: %v, want %v", kernel, relu, o, j, got[o*dstStride+j], want[j])
							}
						}
						for j := n; j < dstStride && o < nout-1; j++ {
							if got[o*dstStride+j] != 0 {
								t.Fatalf("%s: output %d wrote past its row", kernel, o)
							}
						}
					}
				}
			}
		}
	})
}

// TestConv3Strips4MatchesSingle checks the four-row kernel bit for bit
// against four Conv3Strips calls (one, three and sixteen channels, with and
// without ReLU, NaN and infinity in the input), and that it writes nothing
// between its rows.
func TestConv3Strips4MatchesSingle(t *testing.T) {
	kernelVariants(func(kernel string) {
		r := rand.New(rand.NewPCG(13, 14))
		for _, nch := range []int{1, 3, 16} {
			for nstrips := 1; nstrips <= 3; nstrips++ {
				for _, relu := range []bool{false, true} {
					n := StripWidth * nstrips
					rowStride := n + 2 + r.IntN(5)
					chStride := 6*rowStride + r.IntN(7)
					dstStride := n + 5
					src := make([]float32, nch*chStride+1)
					for i := range src {
						src[i] = float32(r.NormFloat64())
					}
					src[2*rowStride+5] = float32(math.NaN())
					src[(nch-1)*chStride+4*rowStride+33] = float32(math.Inf(-1))
					w := make([]float32, nch*9)
					for i := range w {
						w[i] = float32(r.NormFloat64() * 3)
					}
					got := make([]float32, 4*dstStride)
					Conv3Strips4(got, dstStride, src, chStride, rowStride, nch, w, -0.5, nstrips, relu)
					for row := 0; row < 4; row++ {
						want := make([]float32, n)
						Conv3Strips(want, src[row*rowStride:], chStride, rowStride, nch, w, -0.5, nstrips, relu)
						for j := range want {
							if g := got[row*dstStride+j]; math.Float32bits(g) != math.Float32bits(want[j]) {
								t.Fatalf("%s: nch=%d nstrips=%d relu=%v row %d j=%d: %v, want %v", kernel, nch, nstrips, relu, row, j, g, want[j])
							}
						}
						for j := n; j < dstStride && row < 3; j++ {
							if got[row*dstStride+j] != 0 {
								t.Fatalf("%s: row %d wrote past its end", kernel, row)
							}
						}
					}
				}
			}
		}
	})
}

// BenchmarkRefinerRows times the tracker head's refiner on one 67-row map
// (121 columns padded to two strips): the hidden layer with
// Conv3StripsMulti and the output layer with Conv3Strips4, and with
// Conv3Strips row by row.
func BenchmarkRefinerRows(b *testing.B) {
	const rows, nstrips, hid = 67, 2, 16
	s := StripWidth*nstrips + 2
	hs := hid * s
	r := rand.New(rand.NewPCG(2, 2))
	cost := make([]float32, (rows+2)*s)
	hidden := make([]float32, (rows+2)*hs)
	logit := make([]float32, rows*StripWidth*nstrips)
	w0, b0, w2 := make([]float32, hid*9), make([]float32, hid), make([]float32, hid*9)
	for _, v := range [][]float32{cost, w0, b0, w2} {
		for i := range v {
			v[i] = float32(r.NormFloat64())
		}
	}
	wpad := StripWidth * nstrips
	kernelVariants(func(kernel string) {
		b.Run(kernel+"/hidden", func(b *testing.B) {
			for i := 0; i < b.N; i++ {
				for y := 0; y < rows; y++ {
					Conv3StripsMulti(hidden[(y+1)*hs+1:], s, cost[y*s:], s, w0, b0, hid, nstrips, true)
				}
			}
		})
		b.Run(kernel+"/output4", func(b *testing.B) {
			for i := 0; i < b.N; i++ {
				y := 0
				for ; y+4 <= rows; y += 4 {
					Conv3Strips4(logit[y*wpad:], wpad, hidden[y*hs:], s, hs, hid, w2, 0.1, nstrips, false)
				}
				for ; y < rows; y++ {
					Conv3Strips(logit[y*wpad:], hidden[y*hs:], s, hs, hid, w2, 0.1, nstrips, false)
				}
			}
		})
		b.Run(kernel+"/output1", func(b *testing.B) {
			for i := 0; i < b.N; i++ {
				for y := 0; y < rows; y++ {
					Conv3Strips(logit[y*wpad:], hidden[y*hs:], s, hs, hid, w2, 0.1, nstrips, false)
				}
			}
		})
	})
}
