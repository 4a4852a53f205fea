//go:build linux

package prefault

import (
	"os"
	"unsafe"

	"golang.org/x/sys/unix"

	"dinotracker/internal/parallel"
)

var pageSize = uintptr(os.Getpagesize())

func populate(b []float32) {
	base := unsafe.Pointer(unsafe.SliceData(b))
	p := uintptr(base)
	start := (p + pageSize - 1) &^ (pageSize - 1)
	end := (p + 4*uintptr(len(b))) &^ (pageSize - 1)
	if end <= start {
		return
	}
	pages := int((end - start) / pageSize)
	parallel.For(pages, 256, func(lo, hi int) {
		off := start - p + uintptr(lo)*pageSize
		mem := unsafe.Slice((*byte)(unsafe.Add(base, off)), uintptr(hi-lo)*pageSize)
		_ = unix.Madvise(mem, unix.MADV_POPULATE_WRITE) // advice: an old kernel's EINVAL changes nothing
	})
}
