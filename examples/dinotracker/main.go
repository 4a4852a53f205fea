// Command dinotracker is the example command-line front end of the
// dinotracker library: one binary with subcommands.
//
//	dinotracker demo [-out out] [-iters 60]
//	dinotracker features -weights FILE (-video DIR|FILE | -image FILE) [-model auto] [-size HxW] [-stride 7] [-layer 15] -out OUT.safetensors
//	dinotracker flow -a F1 -b F2 -out F.flo [-preset fast|default|accurate] [-gt GT.flo]
//	dinotracker preprocess -video DIR [-masks DIR] [-flow DIR] [-weights FILE|builtin] [-size HxW] -out DIR
//	dinotracker fit -video DIR [-masks DIR] [-weights FILE|builtin] [-config paper|fast] [-iters N] -out MODEL_DIR
//	dinotracker eval -dataset DIR|FILE.pkl -out results.csv [-videos 2,9,29] [-method dino|flow] [-config fast|paper] [-weights FILE|builtin] [-frames N] [-iters N] [-work DIR] [-tracks DIR]
//	dinotracker track -model MODEL_DIR (-queries Q.json | -grid STEP [-mask FILE] [-frame T]) -out tracks.json|.csv|.npy
//	dinotracker render -video DIR|FILE -tracks tracks.json -out out.gif|out.mp4|DIR [-trail 10] [-fps 10] [-max-points N]
//	dinotracker bench [-only vit-s,vit-l,delta-train,delta-eval,iter,head,occlusion,...] [-frames 8] [-repeat 1] [-json out.json]
//
// Run "dinotracker help" for the list of commands and "dinotracker CMD -h"
// for a command's flags. Ctrl-C cancels cleanly; progress goes to stderr.
package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"os"
	"os/signal"
	"sort"
	"strings"
	"syscall"
)

type command struct {
	summary string
	run     func(ctx context.Context, args []string, stdout, stderr io.Writer) error
}

var commands = map[string]command{
	"features":   {"DINOv2 features of a video or an image, as a safetensors file", runFeatures},
	"flow":       {"optical flow between two frames, as a .flo file (and its error against ground truth)", runFlow},
	"preprocess": {"flows, trajectories, masks and best-buddies of a video, into a folder", runPreprocess},
	"demo":       {"fit the bundled clip, track its foreground and write out/tracks.json and out/tracks.gif (no arguments needed)", runDemo},
	"fit":        {"train DINO-Tracker on a video (resumable; Ctrl-C saves a checkpoint)", runFit},
	"eval":       {"score DINO-Tracker or chained flow on TAP-Vid (AJ, δavg, OA per video and mean, as CSV)", runEval},
	"track":      {"track query points or a grid with a fitted model (positions, occlusion, confidence)", runTrack},
	"render":     {"draw tracks over a video as an animated GIF, an MP4 or PNG frames", runRender},
	"bench":      {"time the workloads at their real sizes (seconds, GFLOP/s, peak RSS), one child process each", runBench},
}

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	code := run(ctx, os.Args[1:], os.Stdout, os.Stderr)
	stop()
	os.Exit(code)
}

// run executes one command and returns the process exit code.
func run(ctx context.Context, args []string, stdout, stderr io.Writer) int {
	slog.SetDefault(slog.New(slog.NewTextHandler(stderr, &slog.HandlerOptions{Level: slog.LevelWarn})))
	if len(args) == 0 || args[0] == "help" || args[0] == "-h" || args[0] == "--help" {
		usage(stderr)
		if len(args) == 0 {
			return 2
		}
		return 0
	}
	cmd, ok := commands[args[0]]
	if !ok {
		fmt.Fprintf(stderr, "dinotracker: unknown command %q\n\n", args[0])
		usage(stderr)
		return 2
	}
	if err := cmd.run(ctx, args[1:], stdout, stderr); err != nil {
		if errors.Is(err, errUsage) {
			return 2
		}
		if errors.Is(err, context.Canceled) {
			fmt.Fprintln(stderr, "dinotracker: interrupted")
			return 130
		}
		fmt.Fprintf(stderr, "dinotracker %s: %v\n", args[0], err)
		return 1
	}
	return 0
}

var errUsage = errors.New("usage")

func usage(w io.Writer) {
	fmt.Fprintln(w, "usage: dinotracker <command> [flags]")
	fmt.Fprintln(w, "\ncommands:")
	names := make([]string, 0, len(commands))
	for n := range commands {
		names = append(names, n)
	}
	sort.Strings(names)
	for _, n := range names {
		fmt.Fprintf(w, "  %-10s %s\n", n, commands[n].summary)
	}
	fmt.Fprintln(w, "\nRun 'dinotracker <command> -h' for the flags of a command.")
}

// parseSize parses "HxW" (e.g. 476x854).
func parseSize(s string) (h, w int, err error) {
	if s == "" {
		return 0, 0, nil
	}
	parts := strings.Split(strings.ToLower(s), "x")
	if len(parts) != 2 {
		return 0, 0, fmt.Errorf("-size %q: want HxW, e.g. 476x854", s)
	}
	if _, err := fmt.Sscan(parts[0], &h); err != nil {
		return 0, 0, fmt.Errorf("-size %q: bad height", s)
	}
	if _, err := fmt.Sscan(parts[1], &w); err != nil {
		return 0, 0, fmt.Errorf("-size %q: bad width", s)
	}
	if h <= 0 || w <= 0 || h%14 != 0 || w%14 != 0 {
		return 0, 0, fmt.Errorf("-size %q: height and width must be positive multiples of 14 (e.g. 476x854)", s)
	}
	return h, w, nil
}
