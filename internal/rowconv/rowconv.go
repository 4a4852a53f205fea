// Package rowconv holds the inner loop of the tracker head's 3×3
// convolutions (the refiner): one output row accumulates three taps of one
// input row. It has an AVX2 kernel on amd64 and a Go loop elsewhere (or
// with -tags noasm); both give bit-identical results, since the kernel
// performs the Go expression's multiplies and adds, unfused, in its order.
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
