//go:build !amd64 || noasm

package nn

func reluMaskWordsAsm(act []float32, mask []uint64) int { return 0 }

func applyMaskWordsAsm(g []float32, mask []uint64) int { return 0 }
