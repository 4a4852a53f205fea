package dinotracker

import (
	"context"
	"errors"
)

// Track returns the trajectory, occlusion flag and confidence of every
// query through every frame of the fitted video (spec §5), in input-frame
// pixels. Queries may start at any frame; tracks run forward and backward
// in time. Fit (or LoadTracker) must have succeeded first.
func (t *Tracker) Track(ctx context.Context, queries []Query) (*Tracks, error) {
	return nil, errors.New("dinotracker: track: not implemented yet")
}
