//go:build !amd64 || noasm

package corr

func scaleAsm(r, fn []float32, qn float32, relu bool) int { return 0 }

func sumSq4Asm(acc []float64, r []float32, p, groups int) int { return 0 }

func colMaxAsm(colMax []float32, colArg []int32, row []float32, idx int32) int { return 0 }
