//go:build !amd64 || noasm

package rowconv

func kernelVariants(f func(name string)) { f("go") }
