//go:build amd64 && !noasm

package rowconv

// kernelVariants runs f once per kernel this CPU can run (AVX-512 and
// AVX2), naming each.
func kernelVariants(f func(name string)) {
	saved := hasAVX512
	defer func() { hasAVX512 = saved }()
	if saved {
		f("avx512")
	}
	hasAVX512 = false
	f("avx2")
}
