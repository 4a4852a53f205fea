// Package rowconv holds the inner loops of the tracker head's 3×3
// convolutions (the refiner).
//
// Acc3 accumulates three taps of one input row into one output row, with
// the Go expression's multiplies and adds, unfused, in its order: the
// training head's Refiner.Forward/Backward use it. Conv3Strips computes
// whole padded rows of a multi-channel 3×3 convolution with fused
// multiply-adds: the tracking engine's logits. Each has AVX2 (and, for
// Conv3Strips, AVX-512) kernels on amd64 and a Go loop elsewhere (or with
// -tags noasm) giving bit-identical results.
package rowconv

// Acc3 adds k0·a[j] + k1·b[j] + k2·c[j] to d[j] for j < len(d), evaluated as
// d[j] + ((k0·a[j] + k1·b[j]) + k2·c[j]) in float32. a, b and c must hold at
// least len(d) values.
func Acc3(d, a, b, c []float32, k0, k1, k2 float32) {
	n := len(d)
	if n == 0 {
		return
	}
	a, b, c = a[:n], b[:n], c[:n]
	done := acc3Asm(d, a, b, c, k0, k1, k2)
	acc3Go(d[done:], a[done:], b[done:], c[done:], k0, k1, k2)
}

// acc3Go is the specification of Acc3.
func acc3Go(d, a, b, c []float32, k0, k1, k2 float32) {
	a, b, c = a[:len(d)], b[:len(d)], c[:len(d)]
	for j := range d {
		d[j] += k0*a[j] + k1*b[j] + k2*c[j]
	}
}
