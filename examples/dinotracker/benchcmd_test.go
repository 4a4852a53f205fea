package main

import (
	"context"
	"encoding/json"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// TestMain lets the test binary stand in for the command when the bench
// command starts it as a workload's child process.
func TestMain(m *testing.M) {
	if os.Getenv(benchChildEnv) != "" {
		os.Exit(run(context.Background(), os.Args[1:], os.Stdout, os.Stderr))
	}
	os.Exit(m.Run())
}

func TestBenchCommand(t *testing.T) {
	out := filepath.Join(t.TempDir(), "bench.json")
	code, stdout, stderr := cli(t, "bench", "-small", "-frames", "2", "-only", "sgemm,vit-s,delta-train,iter-late,head,head-batched,occlusion", "-json", out)
	if code != 0 {
		t.Fatalf("exit %d: %s %s", code, stdout, stderr)
	}
	for _, want := range []string{"load average before:", "gemm backend", "sgemm", "vit-s", "ViT-S/14 blocks 0–1", "delta-train",
		"2 frames of 56×98, aligned to 7×13", "iter-late", "after the switch-on", "per query·frame", "occlusion", "TrackFeatures with occlusion", "occlusion run / tracking"} {
		if !strings.Contains(stdout, want) {
			t.Errorf("output lacks %q:\n%s", want, stdout)
		}
	}
	b, err := os.ReadFile(out)
	if err != nil {
		t.Fatal(err)
	}
	var rep benchReport
	if err := json.Unmarshal(b, &rep); err != nil {
		t.Fatal(err)
	}
	if len(rep.Results) != 7 || !rep.Small || rep.LoadAfter == "" {
		t.Fatalf("report %+v", rep)
	}
	for _, r := range rep.Results {
		if r.Name == "occlusion" {
			// Timed per query; the engine's FLOP are not counted.
			if r.Skipped != "" || !(r.Seconds > 0) || r.Unit != "query" || r.PeakRSS < 1<<20 || len(r.Runs) == 0 {
				t.Errorf("%s: %+v", r.Name, r)
			}
			continue
		}
		if r.Skipped != "" || !(r.Seconds > 0) || !(r.FLOP > 0) || !(r.GFLOPS > 0) || r.PeakRSS < 1<<20 || len(r.Runs) == 0 {
			t.Errorf("%s: %+v", r.Name, r)
		}
	}

	for _, args := range [][]string{
		{"bench", "-only", "nope"},
		{"bench", "-repeat", "0"},
		{"bench", "extra"},
	} {
		if code, _, _ := cli(t, args...); code != 2 {
			t.Errorf("%v: exit %d, want 2", args, code)
		}
	}
	if code, _, stderr := cli(t, "bench", "-h"); code != 2 || strings.Contains(stderr, "-child") || !strings.Contains(stderr, "-only") {
		t.Errorf("-h: exit %d, %s", code, stderr)
	}
}

// TestBenchFLOP checks the analytic counts against the numbers quoted in
// BENCHMARKS.md.
func TestBenchFLOP(t *testing.T) {
	near := func(what string, got, want float64) {
		t.Helper()
		if got < want*0.995 || got > want*1.005 {
			t.Errorf("%s: %.4g FLOP, want %.4g", what, got, want)
		}
	}
	near("ViT-S/14 stride 7", vitFLOP(384, 12, 67*121), 1.5597e12)
	var f float64
	for _, v := range deltaConvFLOP(476, 854) {
		f += v
	}
	near("Delta-DINO forward per frame", f, 171.4e9)
	near("Delta-DINO train, 8 frames", deltaTrainFLOP(476, 854, 8), 8*(3*171.4e9-3.9e9))
}
