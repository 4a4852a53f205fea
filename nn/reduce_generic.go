//go:build !amd64 || noasm

package nn

func sum16Asm(acc *[16]float64, x []float32) bool { return false }

func sqDev16Asm(acc *[16]float64, x []float32, mu float64) bool { return false }

func dyDev16Asm(a, b *[16]float64, dy, x []float32, mu float64) bool { return false }

func bnNormAsm(o, x []float32, mu, scale, beta float32) int { return 0 }

func bnGradAsm(dx, dy, x []float32, k, mdy, mu, cx float32, accumulate bool) int { return 0 }
