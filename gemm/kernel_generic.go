//go:build !amd64 || noasm || openblas

package gemm

const hasFMA = false

// kernel6x16 adds the 6×16 product of packed slivers into c; see
// kernel6x16Generic for the definition.
func kernel6x16(kc int, a, b, c []float32, ldc int) { kernel6x16Generic(kc, a, b, c, ldc) }
