//go:build amd64 && !noasm

package corr

import "golang.org/x/sys/cpu"

var hasAVX2 = cpu.X86.HasAVX2

//go:noescape
func scaleAVX2(r, fn *float32, n int, qn float32, relu int)

// scaleAsm runs the AVX2 kernel on the largest multiple of 8 values and
// returns how many it did.
func scaleAsm(r, fn []float32, qn float32, relu bool) int {
	n := len(r) &^ 7
	if !hasAVX2 || n == 0 {
		return 0
	}
	rl := 0
	if relu {
		rl = 1
	}
	scaleAVX2(&r[0], &fn[0], n, qn, rl)
	return n
}

//go:noescape
func sumSq4AVX2(acc *float64, r *float32, p, n, groups int)

// sumSq4Asm adds the groups-of-four squares of channels [0, 4·groups) for
// the first len(acc)&^7 tokens of r (row stride p) into acc, and returns
// how many tokens it did.
func sumSq4Asm(acc []float64, r []float32, p, groups int) int {
	n := len(acc) &^ 7
	if !hasAVX2 || n == 0 || groups == 0 {
		return 0
	}
	_ = r[(4*groups-1)*p+n-1]
	sumSq4AVX2(&acc[0], &r[0], p, n, groups)
	return n
}

//go:noescape
func colMaxAVX2(colMax *float32, colArg *int32, row *float32, n int, idx int32)

// colMaxAsm runs ColumnMax's kernel on the leading multiple of 8 columns
// and returns how many it did.
func colMaxAsm(colMax []float32, colArg []int32, row []float32, idx int32) int {
	n := len(row) &^ 7
	if !hasAVX2 || n == 0 {
		return 0
	}
	_, _ = colMax[n-1], colArg[n-1]
	colMaxAVX2(&colMax[0], &colArg[0], &row[0], n, idx)
	return n
}
