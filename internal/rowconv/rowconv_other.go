//go:build !amd64 || noasm

package rowconv

func acc3Asm(d, a, b, c []float32, k0, k1, k2 float32) int { return 0 }
