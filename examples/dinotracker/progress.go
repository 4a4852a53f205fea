package main

import (
	"fmt"
	"io"
	"strings"
	"time"

	"dinotracker"
)

// progressBar renders dinotracker.Progress reports as a one-line bar with an
// ETA on a terminal (carriage return), or as occasional plain lines
// otherwise.
type progressBar struct {
	w     io.Writer
	last  time.Time
	width int
}

func newProgressBar(w io.Writer) *progressBar { return &progressBar{w: w, width: 30} }

// Report draws the bar for one progress report.
func (p *progressBar) Report(pr dinotracker.Progress) {
	done := pr.Done >= pr.Total
	if !done && time.Since(p.last) < 200*time.Millisecond {
		return
	}
	p.last = time.Now()
	frac := 0.0
	if pr.Total > 0 {
		frac = float64(pr.Done) / float64(pr.Total)
	}
	n := int(frac * float64(p.width))
	bar := strings.Repeat("=", n)
	if n < p.width {
		bar += ">" + strings.Repeat(" ", p.width-n-1)
	}
	eta := "--"
	if pr.Done > 0 && !done {
		rem := time.Duration(float64(pr.Elapsed) / float64(pr.Done) * float64(pr.Total-pr.Done))
		eta = rem.Round(time.Second).String()
	}
	fmt.Fprintf(p.w, "\r%-9s %5d/%-5d [%s] %3.0f%%  elapsed %s  ETA %s ", pr.Stage, pr.Done, pr.Total, bar, 100*frac,
		pr.Elapsed.Round(time.Second), eta)
	if done {
		fmt.Fprintln(p.w)
	}
}

// fitProgressOptions renders Fit's progress on w: the stage bar for the
// preprocessing stages and the training bar (iteration, losses, ETA).
func fitProgressOptions(w io.Writer) []dinotracker.Option {
	bar := newProgressBar(w)
	fb := &fitBar{w: w, width: 24}
	return []dinotracker.Option{
		dinotracker.WithProgress(func(p dinotracker.Progress) {
			if p.Stage != "fit" {
				bar.Report(p)
			}
		}),
		dinotracker.WithFitProgress(fb.Report),
	}
}
