//go:build race

package nn

// raceEnabled: the race detector makes sync.Pool drop items, so allocation
// tests are skipped.
const raceEnabled = true
