// Package parallel runs loops over index ranges on a bounded number of
// goroutines.
package parallel

import (
	"runtime"
	"sync"
)

// Workers returns the worker count used by For: GOMAXPROCS.
func Workers() int { return runtime.GOMAXPROCS(0) }

// For splits [0,n) into at most Workers() contiguous chunks of at least
// grain items each and calls fn(lo, hi) on each chunk concurrently. It
// returns when every chunk is done. With one chunk it runs on the caller's
// goroutine.
func For(n, grain int, fn func(lo, hi int)) {
	if n <= 0 {
		return
	}
	grain = max(grain, 1)
	chunks := min(Workers(), (n+grain-1)/grain)
	if chunks <= 1 {
		fn(0, n)
		return
	}
	var wg sync.WaitGroup
	step := (n + chunks - 1) / chunks
	for lo := 0; lo < n; lo += step {
		hi := min(lo+step, n)
		wg.Add(1)
		go func() {
			defer wg.Done()
			fn(lo, hi)
		}()
	}
	wg.Wait()
}
