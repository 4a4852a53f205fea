//go:build amd64 && !noasm

package nn

import "golang.org/x/sys/cpu"

// reluAVX512 selects the AVX-512 ReLU-mask kernels (relu_amd64.s): a
// compare into a mask register gives sixteen mask bits per instruction. A
// variable so that tests can run the Go loops too.
var reluAVX512 = cpu.X86.HasAVX512F

//go:noescape
func reluMaskWordsAVX512(act *float32, mask *uint64, words int)

//go:noescape
func applyMaskWordsAVX512(grad *float32, mask *uint64, words int)

// reluMaskWordsAsm runs reluForwardMask's word loop on whole 64-value
// words and returns how many it did.
func reluMaskWordsAsm(act []float32, mask []uint64) int {
	words := len(act) / 64
	if !reluAVX512 || words == 0 {
		return 0
	}
	reluMaskWordsAVX512(&act[0], &mask[0], words)
	return words
}

// applyMaskWordsAsm runs reluMaskBits' word loop on whole words and
// returns how many it did.
func applyMaskWordsAsm(g []float32, mask []uint64) int {
	words := len(g) / 64
	if !reluAVX512 || words == 0 {
		return 0
	}
	applyMaskWordsAVX512(&g[0], &mask[0], words)
	return words
}
