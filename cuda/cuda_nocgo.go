//go:build cuda && !cgo

package cuda

// The cuda build loads the driver through cgo: build it with
// CGO_ENABLED=1 and a C compiler. This reference to an undefined name makes
// the compiler say so instead of reporting a package without its API.
var _ = cudaTagNeedsCgo_SetCGO_ENABLED_1
