//go:build amd64 && !noasm

package softargmax

import "golang.org/x/sys/cpu"

var hasAVX2 = cpu.X86.HasAVX2

//go:noescape
func maxAVX2(x *float32, n int) (m float32, unordered bool)

//go:noescape
func firstEqAVX2(x *float32, n int, v float32) int

// maxAsm returns the largest ordered value of the leading multiple of 8
// values of m, whether they hold a NaN, and how many values it read (0:
// no kernel; the caller does it all).
func maxAsm(m []float32) (mx float32, unordered bool, n int) {
	n = len(m) &^ 7
	if !hasAVX2 || n == 0 {
		return 0, false, 0
	}
	mx, unordered = maxAVX2(&m[0], n)
	return mx, unordered, n
}

// firstEqAsm returns the first index i < len(m)&^7 with m[i] == v, or
// len(m)&^7 (0 without a kernel).
func firstEqAsm(m []float32, v float32) int {
	n := len(m) &^ 7
	if !hasAVX2 || n == 0 {
		return 0
	}
	return firstEqAVX2(&m[0], n, v)
}
