//go:build !amd64 || noasm

package softargmax

func maxAsm(m []float32) (mx float32, unordered bool, n int) { return 0, false, 0 }

func firstEqAsm(m []float32, v float32) int { return 0 }
