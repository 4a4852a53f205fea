// Package prefault maps in the pages of a freshly allocated buffer before
// kernels write it.
//
// A large make([]float32, n) comes from the OS unbacked: every 4 KiB page
// then costs a page fault at its first write, in the middle of a kernel's
// inner loop. On a virtual machine each such fault is an exit to the host
// and can cost microseconds; a cold Delta-DINO training step touches
// gigabytes of fresh activations. On Linux (5.14 and later) Floats asks the
// kernel to populate the whole range in a few madvise calls, one per
// worker, instead. Elsewhere, or when the kernel refuses, it does nothing:
// the pages then fault in as usual. The contents are unchanged either way.
package prefault

// MinBytes is the smallest buffer Floats populates; smaller ones are left
// to fault in.
const MinBytes = 8 << 20

// Floats populates the pages of b (see the package comment).
func Floats(b []float32) {
	if 4*len(b) < MinBytes {
		return
	}
	populate(b)
}
