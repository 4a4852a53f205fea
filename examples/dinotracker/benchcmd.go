package main

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"math"
	"math/rand/v2"
	"os"
	"os/exec"
	"runtime"
	"slices"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"time"

	"dinotracker"
	"dinotracker/corr"
	"dinotracker/gemm"
	"dinotracker/internal/synth"
	"dinotracker/nn"
	"dinotracker/vit"
)

// The bench command times the tracker's workloads at their real sizes with
// seeded random weights and data, each in a child process of this binary
// (so that every workload has its own peak RSS), and prints seconds, FLOP
// count, GFLOP/s and peak RSS per workload. bench/pytorch_bench.py times
// the same workloads with PyTorch; bench/README.md compares the two.
//
// FLOP counts are analytic (2 FLOP per multiply-add; elementwise work,
// normalisations, softmax and bias are not counted):
//
//   - sgemm: 2n³.
//   - ViT (vitFLOP): patch embedding 2·N·(3·14·14)·D for N patch tokens,
//     then per block 2·T·(12·D²) for the linear layers (qkv 3D², proj D²,
//     fc1 4D², fc2 4D² weights, T = N + 1 tokens) plus attention
//     4·heads·T²·head_dim = 4·T²·D (q·kᵀ and p·v).
//   - Delta-DINO (deltaConvFLOP): the four convolutions,
//     2·Cin·Cout·k²·Hout·Wout each per frame (BlurPool, BatchNorm and the
//     grid alignment are not counted). Training counts the forward once and
//     the backward twice (weight and input gradients), less the first
//     convolution's input gradient, which neither Go nor PyTorch computes:
//     3·ΣF − F₀.
//   - head: per query and frame, the cost volume 2·C·P and the refiner's
//     two 3×3 convolutions 2·2·16·9·P, P = 67·121 tokens.
//   - iter: Delta-DINO training on the iteration's frames plus the loss
//     terms' dense products (iterFLOP): every head evaluation counts
//     2·C·P forward and 4·C·P backward; each InfoNCE pair 2·(2·n·C·P)
//     forward and twice that backward; each refined best-buddy pair adds
//     its 2·P²·C affinity. It is an estimate (the cycle loss is counted as
//     if every point were kept).

// benchChildEnv marks a child process started by the bench command; the
// command's tests use it to make the test binary act as the command.
const benchChildEnv = "DINOTRACKER_BENCH_CHILD"

// benchResult is one workload's measurement.
type benchResult struct {
	Name    string    `json:"name"`
	What    string    `json:"what"`
	Unit    string    `json:"unit"`              // what Seconds and FLOP are per: "run" or "query·frame"
	Seconds float64   `json:"seconds"`           // median of Runs
	Runs    []float64 `json:"runs"`              // seconds of every timed run, per Unit
	CPU     float64   `json:"cpu_seconds"`       // median of CPURuns
	CPURuns []float64 `json:"cpu_runs"`          // CPU seconds (user + system, all threads) of every timed run, per Unit
	FLOP    float64   `json:"flop"`              // per Unit
	GFLOPS  float64   `json:"gflops"`            // FLOP / Seconds / 1e9
	PeakRSS int64     `json:"peak_rss_bytes"`    // VmHWM of the child process (setup included)
	Wall    float64   `json:"wall_seconds"`      // the child's whole life, setup included
	Note    string    `json:"note,omitempty"`    // what is special about this row
	Skipped string    `json:"skipped,omitempty"` // why the workload has no numbers
}

// benchReport is what -json writes.
type benchReport struct {
	Command    string        `json:"command"`
	CPU        string        `json:"cpu"`
	CPUs       int           `json:"cpus"`
	GOMAXPROCS int           `json:"gomaxprocs"`
	Backend    string        `json:"gemm_backend"`
	GoVersion  string        `json:"go_version"`
	Env        []string      `json:"env,omitempty"` // OPENBLAS_*, GOGC, GOMAXPROCS when set
	LoadBefore string        `json:"load_before"`   // /proc/loadavg
	LoadAfter  string        `json:"load_after"`
	Small      bool          `json:"small,omitempty"`
	Results    []benchResult `json:"results"`
}

// benchOpts are the command's settings as a child sees them.
type benchOpts struct {
	frames, repeat int
	sz             benchSizes
}

// benchSizes are the workload sizes: the real ones, or tiny ones (-small)
// for tests.
type benchSizes struct {
	H, W         int // model resolution (476×854)
	C            int // feature channels (1024, ViT-L/14)
	gemmN        int // SGEMM side (2048)
	vitSDepth    int // ViT-S blocks run (12)
	vitLDepth    int // ViT-L blocks run (16: blocks 0–15)
	videoT       int // frames of the synthetic video of iter (24)
	points       int // flow points per iteration (512)
	lossPoints   int // points per pair of the contrastive and cycle losses (256)
	headQueries  int // queries of the per-query head (64)
	batchQueries int // queries of the batched head (256)
	headFrames   int // target frames of the head workloads (8)
	occFrames    int // frames of the occlusion workload (50)
	occQueries   int // queries of the occlusion workload (4)
}

var realSizes = benchSizes{H: 476, W: 854, C: 1024, gemmN: 2048, vitSDepth: 12, vitLDepth: 16, videoT: 24,
	points: 512, lossPoints: 256, headQueries: 64, batchQueries: 256, headFrames: 8, occFrames: 50, occQueries: 4}

var smallSizes = benchSizes{H: 56, W: 98, C: 1024, gemmN: 192, vitSDepth: 2, vitLDepth: 2, videoT: 6,
	points: 64, lossPoints: 32, headQueries: 8, batchQueries: 16, headFrames: 2, occFrames: 4, occQueries: 2}

// benchWorkload is one row of the bench command.
type benchWorkload struct {
	name string
	run  func(ctx context.Context, o benchOpts) (*benchResult, error) // nil: placeholder
	why  string                                                       // placeholder's reason
}

var benchWorkloads = []benchWorkload{
	{name: "sgemm", run: benchSGEMM},
	{name: "vit-s", run: benchViT("vit-s", 384, 6, func(s benchSizes) int { return s.vitSDepth })},
	{name: "vit-l", run: benchViT("vit-l", 1024, 16, func(s benchSizes) int { return s.vitLDepth })},
	{name: "delta-train", run: benchDelta(true)},
	{name: "delta-eval", run: benchDelta(false)},
	{name: "iter", run: benchIter(false)},
	{name: "iter-late", run: benchIter(true)},
	{name: "head", run: benchHead},
	{name: "head-batched", run: benchHeadBatched},
	{name: "occlusion", run: benchOcclusion},
}

func benchNames() []string {
	var ns []string
	for _, w := range benchWorkloads {
		ns = append(ns, w.name)
	}
	return ns
}

// benchHidden are the flags the usage text leaves out: -child runs one
// workload in this process (the parent starts it), -small shrinks every
// size for tests.
var benchHidden = map[string]bool{"child": true, "small": true}

// runBench times the workloads.
func runBench(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	fs := flag.NewFlagSet("bench", flag.ContinueOnError)
	fs.SetOutput(stderr)
	only := fs.String("only", "", "comma-separated workloads (default: all): "+strings.Join(benchNames(), ","))
	frames := fs.Int("frames", 8, "frames through Delta-DINO in delta-train and delta-eval")
	repeat := fs.Int("repeat", 1, "timed runs of each workload; the median is reported (sgemm runs at least 3)")
	jsonOut := fs.String("json", "", "also write the results and the machine description to this JSON file")
	timeout := fs.Duration("timeout", 10*time.Minute, "give up on a workload (and record that) after this long")
	child := fs.String("child", "", "run this one workload in this process and print its result as JSON")
	small := fs.Bool("small", false, "tiny sizes, for tests")
	fs.Usage = func() {
		fmt.Fprintln(stderr, "usage: dinotracker bench [-only "+strings.Join(benchNames(), ",")+"] [-frames 8] [-repeat 1] [-json out.json]")
		fmt.Fprintln(stderr, "\nTimes each workload at its real size with random weights, in its own child process, and prints")
		fmt.Fprintln(stderr, "seconds, FLOP, GFLOP/s and peak RSS. Flags:")
		fs.VisitAll(func(f *flag.Flag) {
			if benchHidden[f.Name] {
				return
			}
			fmt.Fprintf(stderr, "  -%s\n    \t%s", f.Name, f.Usage)
			if f.DefValue != "" && f.DefValue != "0" && f.DefValue != "false" {
				fmt.Fprintf(stderr, " (default %s)", f.DefValue)
			}
			fmt.Fprintln(stderr)
		})
	}
	if err := fs.Parse(args); err != nil {
		return errUsage
	}
	if fs.NArg() > 0 {
		fmt.Fprintf(stderr, "bench: unexpected arguments %q\n", fs.Args())
		return errUsage
	}
	if *frames < 1 || *repeat < 1 || *timeout <= 0 {
		fmt.Fprintln(stderr, "bench: -frames and -repeat must be ≥ 1 and -timeout > 0")
		return errUsage
	}
	o := benchOpts{frames: *frames, repeat: *repeat, sz: realSizes}
	if *small {
		o.sz = smallSizes
	}
	if *child != "" {
		return benchChild(ctx, *child, o, stdout)
	}

	sel := benchWorkloads
	if *only != "" {
		sel = nil
		for _, n := range strings.Split(*only, ",") {
			n = strings.TrimSpace(n)
			i := slices.IndexFunc(benchWorkloads, func(w benchWorkload) bool { return w.name == n })
			if i < 0 {
				fmt.Fprintf(stderr, "bench: unknown workload %q; known: %s\n", n, strings.Join(benchNames(), ","))
				return errUsage
			}
			sel = append(sel, benchWorkloads[i])
		}
	}
	exe, err := os.Executable()
	if err != nil {
		return fmt.Errorf("cannot find this binary to run the workloads in child processes: %w", err)
	}
	rep := benchReport{Command: "dinotracker bench " + strings.Join(args, " "), CPU: cpuModel(), CPUs: runtime.NumCPU(),
		GOMAXPROCS: runtime.GOMAXPROCS(0), Backend: gemm.Backend() + "/" + gemm.Kernel(), GoVersion: runtime.Version(), LoadBefore: loadAvg(), Small: *small}
	for _, kv := range os.Environ() {
		if strings.HasPrefix(kv, "OPENBLAS_") || strings.HasPrefix(kv, "GOGC=") || strings.HasPrefix(kv, "GOMAXPROCS=") || strings.HasPrefix(kv, "GOMEMLIMIT=") {
			rep.Env = append(rep.Env, kv)
		}
	}
	fmt.Fprintf(stdout, "dinotracker bench: %s, %d CPUs, GOMAXPROCS %d, gemm backend %s, %s", rep.CPU, rep.CPUs, rep.GOMAXPROCS, rep.Backend, rep.GoVersion)
	if len(rep.Env) > 0 {
		fmt.Fprintf(stdout, ", %s", strings.Join(rep.Env, " "))
	}
	fmt.Fprintf(stdout, "\nload average before: %s\n", rep.LoadBefore)
	fmt.Fprintf(stdout, "%-13s %10s %10s %10s %9s %10s  %s\n", "workload", "seconds", "CPU s", "GFLOP", "GFLOP/s", "peak RSS", "what")
	for _, w := range sel {
		var r *benchResult
		if w.run == nil {
			r = &benchResult{Name: w.name, Skipped: w.why}
		} else {
			r, err = benchSpawn(ctx, exe, w.name, o, *small, *timeout, stderr)
			if err != nil {
				if ctx.Err() != nil {
					return ctx.Err()
				}
				r = &benchResult{Name: w.name, Skipped: err.Error()}
			}
		}
		rep.Results = append(rep.Results, *r)
		printBenchRow(stdout, r)
	}
	rep.LoadAfter = loadAvg()
	fmt.Fprintf(stdout, "load average after: %s\n", rep.LoadAfter)
	if *jsonOut != "" {
		b, err := json.MarshalIndent(rep, "", "  ")
		if err != nil {
			return err
		}
		if err := writeFileAtomic(*jsonOut, append(b, '\n')); err != nil {
			return err
		}
	}
	return nil
}

func printBenchRow(w io.Writer, r *benchResult) {
	if r.Skipped != "" {
		fmt.Fprintf(w, "%-13s %10s %10s %10s %9s %10s  %s\n", r.Name, "–", "–", "–", "–", "–", r.Skipped)
		return
	}
	sec := func(v float64) string {
		if v < 0.01 {
			return fmt.Sprintf("%.3g", v)
		}
		return fmt.Sprintf("%.3f", v)
	}
	what := r.What
	if r.Unit != "run" {
		what = "per " + r.Unit + ": " + what
	}
	if r.Note != "" {
		what += "; " + r.Note
	}
	fmt.Fprintf(w, "%-13s %10s %10s %10.4g %9.1f %10s  %s\n", r.Name, sec(r.Seconds), sec(r.CPU), r.FLOP/1e9, r.GFLOPS, fmtBytes(r.PeakRSS), what)
}

func fmtBytes(b int64) string {
	switch {
	case b >= 1<<30:
		return fmt.Sprintf("%.2f GB", float64(b)/(1<<30))
	case b > 0:
		return fmt.Sprintf("%.0f MB", float64(b)/(1<<20))
	}
	return "?"
}

// benchSpawn runs one workload in a child process and returns its result.
func benchSpawn(ctx context.Context, exe, name string, o benchOpts, small bool, timeout time.Duration, stderr io.Writer) (*benchResult, error) {
	cctx, cancel := context.WithTimeout(ctx, timeout)
	defer cancel()
	args := []string{"bench", "-child", name, "-frames", strconv.Itoa(o.frames), "-repeat", strconv.Itoa(o.repeat)}
	if small {
		args = append(args, "-small")
	}
	cmd := exec.CommandContext(cctx, exe, args...)
	cmd.Env = append(os.Environ(), benchChildEnv+"=1")
	var out bytes.Buffer
	cmd.Stdout = &out
	cmd.Stderr = stderr
	start := time.Now()
	err := cmd.Run()
	wall := time.Since(start).Seconds()
	if cctx.Err() == context.DeadlineExceeded && ctx.Err() == nil {
		return nil, fmt.Errorf("did not finish within %v (killed)", timeout)
	}
	if err != nil {
		return nil, fmt.Errorf("child process failed: %w", err)
	}
	var r benchResult
	sc := bufio.NewScanner(&out)
	sc.Buffer(make([]byte, 1<<16), 1<<20)
	found := false
	for sc.Scan() {
		line := sc.Bytes()
		if len(line) > 0 && line[0] == '{' {
			if err := json.Unmarshal(line, &r); err == nil {
				found = true
			}
		}
	}
	if !found {
		return nil, fmt.Errorf("child process printed no result")
	}
	r.Wall = wall
	if r.PeakRSS == 0 && cmd.ProcessState != nil {
		if ru, ok := cmd.ProcessState.SysUsage().(*syscall.Rusage); ok {
			r.PeakRSS = ru.Maxrss * 1024 // kB on Linux
		}
	}
	return &r, nil
}

// benchChild runs one workload in this process and prints its result as
// one JSON line.
func benchChild(ctx context.Context, name string, o benchOpts, stdout io.Writer) error {
	i := slices.IndexFunc(benchWorkloads, func(w benchWorkload) bool { return w.name == name })
	if i < 0 || benchWorkloads[i].run == nil {
		return fmt.Errorf("no runnable workload %q", name)
	}
	r, err := benchWorkloads[i].run(ctx, o)
	if err != nil {
		return err
	}
	r.Name = name
	if r.Unit == "" {
		r.Unit = "run"
	}
	r.Seconds, r.CPU = median(r.Runs), median(r.CPURuns)
	if r.Seconds > 0 {
		r.GFLOPS = r.FLOP / r.Seconds / 1e9
	}
	r.PeakRSS = peakRSS()
	b, err := json.Marshal(r)
	if err != nil {
		return err
	}
	_, err = fmt.Fprintf(stdout, "%s\n", b)
	return err
}

// benchTimes are the wall-clock and CPU (user + system, all threads)
// seconds of each timed run.
type benchTimes struct{ wall, cpu []float64 }

// per divides every time by k (to report per query·frame).
func (t benchTimes) per(k int) benchTimes {
	for i := range t.wall {
		t.wall[i] /= float64(k)
		t.cpu[i] /= float64(k)
	}
	return t
}

// timeRuns calls fn n times and returns the seconds of each call.
func timeRuns(ctx context.Context, n int, fn func() error) (benchTimes, error) {
	var t benchTimes
	for i := 0; i < n; i++ {
		if err := ctx.Err(); err != nil {
			return t, err
		}
		c0 := cpuSeconds()
		start := time.Now()
		if err := fn(); err != nil {
			return t, err
		}
		t.wall = append(t.wall, time.Since(start).Seconds())
		t.cpu = append(t.cpu, cpuSeconds()-c0)
	}
	return t, nil
}

// cpuSeconds is the user + system CPU time of this process so far.
func cpuSeconds() float64 {
	var ru syscall.Rusage
	if err := syscall.Getrusage(syscall.RUSAGE_SELF, &ru); err != nil {
		return 0
	}
	return float64(ru.Utime.Sec+ru.Stime.Sec) + float64(ru.Utime.Usec+ru.Stime.Usec)/1e6
}

func median(v []float64) float64 {
	if len(v) == 0 {
		return 0
	}
	s := slices.Clone(v)
	slices.Sort(s)
	if len(s)%2 == 1 {
		return s[len(s)/2]
	}
	return (s[len(s)/2-1] + s[len(s)/2]) / 2
}

// peakRSS returns this process's peak resident set size (VmHWM), or 0.
func peakRSS() int64 {
	b, err := os.ReadFile("/proc/self/status")
	if err != nil {
		return 0
	}
	for _, line := range strings.Split(string(b), "\n") {
		if rest, ok := strings.CutPrefix(line, "VmHWM:"); ok {
			f := strings.Fields(rest)
			if len(f) >= 1 {
				kb, _ := strconv.ParseInt(f[0], 10, 64)
				return kb * 1024
			}
		}
	}
	return 0
}

func cpuModel() string {
	b, err := os.ReadFile("/proc/cpuinfo")
	if err != nil {
		return runtime.GOARCH
	}
	for _, line := range strings.Split(string(b), "\n") {
		if k, v, ok := strings.Cut(line, ":"); ok && strings.TrimSpace(k) == "model name" {
			return strings.TrimSpace(v)
		}
	}
	return runtime.GOARCH
}

func loadAvg() string {
	b, err := os.ReadFile("/proc/loadavg")
	if err != nil {
		return "?"
	}
	f := strings.Fields(string(b))
	if len(f) < 3 {
		return "?"
	}
	return strings.Join(f[:3], " ")
}

func writeFileAtomic(path string, b []byte) error {
	tmp := path + ".tmp"
	if err := os.WriteFile(tmp, b, 0o644); err != nil {
		return err
	}
	return os.Rename(tmp, path)
}

// benchRand fills a new slice with n values: normal with standard
// deviation std, or uniform in [0, 1) when std is 0.
func benchRand(r *rand.Rand, n int, std float64) []float32 {
	x := make([]float32, n)
	for i := range x {
		if std == 0 {
			x[i] = r.Float32()
		} else {
			x[i] = float32(r.NormFloat64() * std)
		}
	}
	return x
}

// ---- workloads ----

func benchSGEMM(ctx context.Context, o benchOpts) (*benchResult, error) {
	n := o.sz.gemmN
	r := rand.New(rand.NewPCG(1, 1))
	a, b, c := benchRand(r, n*n, 1), benchRand(r, n*n, 1), make([]float32, n*n)
	tm, err := timeRuns(ctx, max(o.repeat, 3), func() error {
		gemm.MatMul(false, false, n, n, n, 1, a, n, b, n, 0, c, n)
		return nil
	})
	if err != nil {
		return nil, err
	}
	return &benchResult{What: fmt.Sprintf("SGEMM %d³ through gemm.MatMul (%s)", n, gemm.Backend()), Runs: tm.wall, CPURuns: tm.cpu,
		FLOP: 2 * float64(n) * float64(n) * float64(n)}, nil
}

// vitFLOP counts a ViT forward through depth blocks of width dim on npatch
// patch tokens plus CLS (see the file comment).
func vitFLOP(dim, depth, npatch int) float64 {
	d, t := float64(dim), float64(npatch+1)
	perBlock := 2*t*12*d*d + 4*t*t*d
	return 2*float64(npatch)*3*14*14*d + float64(depth)*perBlock
}

func benchViT(name string, dim, heads int, depth func(benchSizes) int) func(context.Context, benchOpts) (*benchResult, error) {
	return func(ctx context.Context, o benchOpts) (*benchResult, error) {
		dp := depth(o.sz)
		m, err := vit.NewRandom(vit.Config{Dim: dim, Depth: dp, Heads: heads}, 1)
		if err != nil {
			return nil, err
		}
		h, w := o.sz.H, o.sz.W
		img := benchRand(rand.New(rand.NewPCG(2, 2)), 3*h*w, 1)
		gh, gw := m.GridSize(h, w, 7)
		req := vit.Request{Stride: 7, Blocks: []int{dp - 1}}
		tm, err := timeRuns(ctx, o.repeat, func() error {
			_, err := m.Run(ctx, img, h, w, req)
			return err
		})
		if err != nil {
			return nil, err
		}
		return &benchResult{What: fmt.Sprintf("%s blocks 0–%d, one %d×%d frame at stride 7 (%d×%d = %d tokens + CLS)",
			m.Name(), dp-1, h, w, gh, gw, gh*gw), Runs: tm.wall, CPURuns: tm.cpu, FLOP: vitFLOP(dim, dp, gh*gw)}, nil
	}
}

// deltaConvFLOP returns the forward FLOP of Delta-DINO's four convolutions
// on one h×w frame, per convolution.
func deltaConvFLOP(h, w int) []float64 {
	chans := []int{3, 64, 128, 256, 1024}
	var f []float64
	for i := 0; i < 4; i++ {
		f = append(f, 2*float64(chans[i])*float64(chans[i+1])*25*float64(h)*float64(w))
		if i < 3 {
			bs := nn.BlurPoolShape(1, chans[i+1], h, w)
			h, w = bs.OutH(), bs.OutW()
		}
	}
	return f
}

// deltaTrainFLOP is forward + backward of n frames: 3·ΣF − F₀ per frame.
func deltaTrainFLOP(h, w, n int) float64 {
	f := deltaConvFLOP(h, w)
	var s float64
	for _, v := range f {
		s += 3 * v
	}
	return float64(n) * (s - f[0])
}

// newBenchDelta returns Delta-DINO with the reference initialisation,
// except that the last convolution gets random weights instead of zeros
// (the cost is the same; nothing can skip zeros).
func newBenchDelta(seed uint64) *nn.DeltaDINO {
	d := nn.NewDeltaDINO(seed)
	last := d.Stages[len(d.Stages)-1]
	nn.KaimingUniform(last.Weight.Data, last.Cin*last.Kernel*last.Kernel, rand.New(rand.NewPCG(seed, 3)).Float64)
	return d
}

func benchDelta(train bool) func(context.Context, benchOpts) (*benchResult, error) {
	return func(ctx context.Context, o benchOpts) (*benchResult, error) {
		n, h, w := o.frames, o.sz.H, o.sz.W
		d := newBenchDelta(2)
		r := rand.New(rand.NewPCG(3, 3))
		in := benchRand(r, n*3*h*w, 0)
		gh, gw := d.GridSize(h, w)
		var dout []float32
		if train {
			dout = benchRand(r, n*1024*gh*gw, 1e-3)
		}
		tm, err := timeRuns(ctx, o.repeat, func() error {
			d.Forward(in, n, h, w, train)
			if train {
				for _, p := range d.Params() {
					p.ZeroGrad()
				}
				d.Backward(dout)
			}
			return nil
		})
		if err != nil {
			return nil, err
		}
		res := &benchResult{Runs: tm.wall, CPURuns: tm.cpu}
		if train {
			res.What = fmt.Sprintf("Delta-DINO 3→64→128→256→1024 forward+backward, BatchNorm in training mode, %d frames of %d×%d, aligned to %d×%d", n, h, w, gh, gw)
			res.FLOP = deltaTrainFLOP(h, w, n)
		} else {
			res.What = fmt.Sprintf("Delta-DINO forward, eval mode, %d frames of %d×%d, aligned to %d×%d", n, h, w, gh, gw)
			for _, f := range deltaConvFLOP(h, w) {
				res.FLOP += float64(n) * f
			}
		}
		return res, nil
	}
}

// headEvalFLOP is one head forward (query against one frame): cost
// volume and refiner.
func headEvalFLOP(c, p int) float64 { return 2*float64(c)*float64(p) + 2*2*16*9*float64(p) }

// headData is the head workloads' synthetic input: F random feature maps
// with their token norms, and a head with the reference initialisation.
type headData struct {
	g     dinotracker.HeadGeometry
	c, p  int
	feats [][]float32
	norms [][]float32
	head  *dinotracker.Head
}

func newHeadData(sz benchSizes) *headData {
	g := dinotracker.NewHeadGeometry(sz.W, sz.H)
	hd := &headData{g: g, c: sz.C, p: g.Tokens(), head: dinotracker.NewHead(rand.New(rand.NewPCG(2, 0x4ead)))}
	r := rand.New(rand.NewPCG(4, 4))
	for f := 0; f < sz.headFrames; f++ {
		m := benchRand(r, hd.c*hd.p, 1)
		nm := make([]float32, hd.p)
		corr.Norms(nm, m, hd.c, hd.p)
		hd.feats, hd.norms = append(hd.feats, m), append(hd.norms, nm)
	}
	return hd
}

// forEachWorker runs fn(worker, i) for i in [0, n) on GOMAXPROCS
// goroutines, each with its own worker index.
func forEachWorker(n int, fn func(worker, i int)) {
	nw := min(runtime.GOMAXPROCS(0), n)
	var next atomic.Int64
	var wg sync.WaitGroup
	for k := 0; k < nw; k++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for {
				i := int(next.Add(1) - 1)
				if i >= n {
					return
				}
				fn(k, i)
			}
		}()
	}
	wg.Wait()
}

func benchHead(ctx context.Context, o benchOpts) (*benchResult, error) {
	hd := newHeadData(o.sz)
	nq, nf := o.sz.headQueries, len(hd.feats)
	r := rand.New(rand.NewPCG(5, 5))
	qx, qy := make([]float64, nq), make([]float64, nq)
	for i := range qx {
		qx[i], qy[i] = r.Float64()*float64(o.sz.W-1), r.Float64()*float64(o.sz.H-1)
	}
	ws := make([]*dinotracker.HeadWorkspace, runtime.GOMAXPROCS(0))
	for i := range ws {
		ws[i] = dinotracker.NewHeadWorkspace(hd.g, hd.c)
	}
	tm, err := timeRuns(ctx, o.repeat, func() error {
		forEachWorker(nq*nf, func(k, i int) {
			q, f := i/nf, i%nf
			hd.head.Forward(ws[k], hd.feats[0], hd.feats[f], hd.norms[f], qx[q], qy[q])
		})
		return nil
	})
	if err != nil {
		return nil, err
	}
	tm = tm.per(nq * nf)
	return &benchResult{Unit: "query·frame", Runs: tm.wall, CPURuns: tm.cpu, FLOP: headEvalFLOP(hd.c, hd.p),
		What: fmt.Sprintf("Head.Forward (one query at a time, token norms cached), %d×%d×%d features, %d queries × %d frames on %d goroutines",
			hd.g.GH, hd.g.GW, hd.c, nq, nf, len(ws)),
		Note: "Track batches the GEMM across queries and runs the head on the window only: go test -bench TrackPaperSize ."}, nil
}

func benchHeadBatched(ctx context.Context, o benchOpts) (*benchResult, error) {
	hd := newHeadData(o.sz)
	nq, nf, c, p := o.sz.batchQueries, len(hd.feats), hd.c, hd.p
	r := rand.New(rand.NewPCG(6, 6))
	// Query features: the features of random tokens of frame 0 (the head
	// samples them bilinearly; that costs 4·C per query).
	q := make([]float32, nq*c)
	for i := 0; i < nq; i++ {
		tok := r.IntN(p)
		for ch := 0; ch < c; ch++ {
			q[i*c+ch] = hd.feats[0][ch*p+tok]
		}
	}
	cost := make([]float32, nq*p)
	ws := make([]*dinotracker.HeadWorkspace, runtime.GOMAXPROCS(0))
	for i := range ws {
		ws[i] = dinotracker.NewHeadWorkspace(hd.g, c)
	}
	tm, err := timeRuns(ctx, o.repeat, func() error {
		for f := 0; f < nf; f++ {
			corr.Cosine(cost, q, nq, c, hd.feats[f], hd.norms[f], p, true)
			forEachWorker(nq, func(k, i int) {
				copy(ws[k].Cost, cost[i*p:(i+1)*p])
				hd.head.ForwardCost(ws[k])
			})
		}
		return nil
	})
	if err != nil {
		return nil, err
	}
	tm = tm.per(nq * nf)
	return &benchResult{Unit: "query·frame", Runs: tm.wall, CPURuns: tm.cpu, FLOP: headEvalFLOP(c, p),
		What: fmt.Sprintf("corr.Cosine for %d queries at once + Head.ForwardCost per query, %d×%d×%d features, %d frames",
			nq, hd.g.GH, hd.g.GW, c, nf)}, nil
}

// benchOcclusion times dinotracker.TrackFeatures — the engine Track runs —
// with the occlusion step on T frames of refined features that all resemble
// one another (so nearly every frame is an anchor: the reference's costly
// case, ~49 anchors at T = 50), per query, and reports beside it the same
// queries tracked without occlusion.
func benchOcclusion(ctx context.Context, o benchOpts) (*benchResult, error) {
	g := dinotracker.NewHeadGeometry(o.sz.W, o.sz.H)
	c, p, T, nq := o.sz.C, g.Tokens(), o.sz.occFrames, o.sz.occQueries
	r := rand.New(rand.NewPCG(8, 8))
	base := benchRand(r, c*p, 1)
	feats := make(dinotracker.MemoryFeatures, T)
	for t := range feats {
		f := benchRand(r, c*p, 0.3)
		for i := range f {
			f[i] += base[i]
		}
		feats[t] = f
	}
	head := dinotracker.NewHead(rand.New(rand.NewPCG(2, 0x4ead)))
	qs := make([]dinotracker.Query, nq)
	for i := range qs {
		qs[i] = dinotracker.Query{X: 7 + r.Float64()*float64(o.sz.W-14), Y: 7 + r.Float64()*float64(o.sz.H-14), T: i * T / nq}
	}
	noOcc := dinotracker.DefaultTrackOptions()
	noOcc.Occlusion.Skip = true
	trackOnly, err := timeRuns(ctx, 1, func() error {
		_, err := dinotracker.TrackFeatures(ctx, o.sz.W, o.sz.H, c, T, head, feats, qs, noOcc)
		return err
	})
	if err != nil {
		return nil, err
	}
	var anchors int
	tm, err := timeRuns(ctx, o.repeat, func() error {
		tr, err := dinotracker.TrackFeatures(ctx, o.sz.W, o.sz.H, c, T, head, feats, qs, dinotracker.DefaultTrackOptions())
		if err != nil {
			return err
		}
		anchors = 0
		for i := range qs {
			for f := 0; f < T; f++ {
				if tr.Confidence[i][f] >= dinotracker.ConfidenceThreshold {
					anchors++
				}
			}
		}
		return nil
	})
	if err != nil {
		return nil, err
	}
	approx := dinotracker.DefaultTrackOptions()
	approx.Occlusion.MaxAnchors = 8
	approxRun, err := timeRuns(ctx, 1, func() error {
		_, err := dinotracker.TrackFeatures(ctx, o.sz.W, o.sz.H, c, T, head, feats, qs, approx)
		return err
	})
	if err != nil {
		return nil, err
	}
	tm = tm.per(nq)
	trackOnly = trackOnly.per(nq)
	approxRun = approxRun.per(nq)
	return &benchResult{Unit: "query", Runs: tm.wall, CPURuns: tm.cpu,
		What: fmt.Sprintf("TrackFeatures with occlusion, %d queries × %d frames of %d×%d×%d features, default (PyTorch-init) head",
			nq, T, g.GH, g.GW, c),
		Note: fmt.Sprintf("tracking alone (occlusion skipped): %.3g s per query = %.3g ms per query·frame; occlusion run / tracking = %.1f×; %.1f visible frames per query; with MaxAnchors 8 (approximate): %.3g s per query = %.1f× tracking",
			median(trackOnly.wall), 1000*median(trackOnly.wall)/float64(T), median(tm.wall)/median(trackOnly.wall), float64(anchors)/float64(nq),
			median(approxRun.wall), median(approxRun.wall)/median(trackOnly.wall))}, nil
}

// ---- one training iteration (PaperConfig sizes, synthetic data) ----

// benchTrainer repeats the training loop's step (tracker.go, trainer.step)
// through the exported API: sample a flow batch, refine its frames through
// Delta-DINO in training mode, evaluate Objective.Total with its gradients,
// backpropagate through Delta-DINO, one Adam step on both parameter groups.
// The data are synthetic: random frames and 1024-channel random features
// (a pool of 8, read by copying as from the feature cache), straight
// trajectories (foreground inside a central box mask, background outside)
// and best-buddy lists for every frame pair.
type benchTrainer struct {
	cfg      dinotracker.Config
	h, w     int
	c, p     int
	delta    *nn.DeltaDINO
	views    []*nn.DeltaDINO
	head     *dinotracker.Head
	headGrad *dinotracker.Refiner
	obj      *dinotracker.Objective
	sampler  *dinotracker.FlowSampler
	bb       dinotracker.BBLists
	images   [][]float32 // pool of frames [3·h·w] in [0, 1]
	feats    [][]float32 // pool of raw feature maps [c·p]
	adam     []benchAdam
	steps    int
	iter     int
	videoT   int

	// raw[k] and gradFeat[k] are frame k's slices of rawSlab and gradSlab,
	// sized once for the largest batch as trainer.reserve does; refined[k]
	// is raw + Δ in place of Δ in Delta-DINO's output.
	raw, refined, gradFeat [][]float32
	rawSlab, gradSlab      []float32
	in                     []float32
}

type benchAdam struct {
	data, grad, m, v []float32
	head             bool
}

const benchPool = 8

func newBenchTrainer(sz benchSizes) (*benchTrainer, error) {
	cfg := dinotracker.PaperConfig()
	cfg.Sampler.BatchSize = sz.points
	cfg.Loss.CLPointsPerPair, cfg.Loss.CycPointsPerPair = sz.lossPoints, sz.lossPoints
	T, h, w := sz.videoT, sz.H, sz.W
	g := dinotracker.NewHeadGeometry(w, h)
	bt := &benchTrainer{cfg: cfg, h: h, w: w, c: sz.C, p: g.Tokens(), videoT: T}
	bt.delta = nn.NewDeltaDINO(cfg.Seed)
	bt.head = dinotracker.NewHead(rand.New(rand.NewPCG(cfg.Seed, 0x4ead)))
	bt.headGrad = dinotracker.NewRefinerZero()

	r := rand.New(rand.NewPCG(7, 7))
	for i := 0; i < benchPool; i++ {
		bt.images = append(bt.images, benchRand(r, 3*h*w, 0))
		bt.feats = append(bt.feats, benchRand(r, bt.c*bt.p, 1))
	}
	masks, fg, bg := synth.Tracks(r, T, h, w, 4000, 8000)
	bt.bb = synthBestBuddies(r, T, h, w, 600)
	obj, err := dinotracker.NewObjective(g, bt.c, masks, bt.head, cfg.Loss)
	if err != nil {
		return nil, err
	}
	obj.Logger = slog.New(slog.NewTextHandler(io.Discard, nil))
	bt.obj = obj
	if bt.sampler, err = dinotracker.NewFlowSampler(fg, bg, w, h, cfg.Sampler, cfg.Seed); err != nil {
		return nil, err
	}
	for _, p := range bt.delta.Params() {
		bt.adam = append(bt.adam, benchAdam{data: p.Data, grad: p.Grad, m: make([]float32, len(p.Data)), v: make([]float32, len(p.Data))})
	}
	gs := bt.headGrad.Params()
	for i, p := range bt.head.Refiner.Params() {
		bt.adam = append(bt.adam, benchAdam{data: p.Data, grad: gs[i].Data, m: make([]float32, len(p.Data)), v: make([]float32, len(p.Data)), head: true})
	}
	return bt, nil
}

// synthBestBuddies returns n random best-buddy pairs for every ordered
// frame pair (synth.BestBuddies).
func synthBestBuddies(r *rand.Rand, T, h, w, n int) dinotracker.BBLists {
	bb := dinotracker.BBLists{}
	for s := 0; s < T; s++ {
		for t := 0; t < T; t++ {
			if s != t {
				src, tgt, cos, ratio := synth.BestBuddies(r, h, w, n)
				bb[[2]int{s, t}] = &dinotracker.BBList{Source: src, Target: tgt, Cos: cos, R: ratio}
			}
		}
	}
	return bb
}

// reserve sizes the iteration's buffers for the largest batch, as the
// library's trainer does: 2·NumFrames frames (or the video's), one chunk.
func (bt *benchTrainer) reserve(videoT int) {
	if bt.rawSlab != nil {
		return
	}
	maxN, chunk := min(2*bt.cfg.Sampler.NumFrames, videoT), bt.cfg.ChunkFrames
	cp := bt.c * bt.p
	bt.rawSlab, bt.gradSlab = make([]float32, maxN*cp), make([]float32, maxN*cp)
	bt.raw, bt.refined, bt.gradFeat = make([][]float32, maxN), make([][]float32, maxN), make([][]float32, maxN)
	for k := 0; k < maxN; k++ {
		bt.raw[k] = bt.rawSlab[k*cp : (k+1)*cp : (k+1)*cp]
		bt.gradFeat[k] = bt.gradSlab[k*cp : (k+1)*cp : (k+1)*cp]
	}
	for ci := 0; ci*chunk < maxN; ci++ {
		bt.view(ci).Reserve(min(chunk, maxN-ci*chunk), bt.h, bt.w, true)
	}
}

func (bt *benchTrainer) view(i int) *nn.DeltaDINO {
	for len(bt.views) <= i {
		if len(bt.views) == 0 {
			bt.views = append(bt.views, bt.delta)
			continue
		}
		d := bt.delta
		bt.views = append(bt.views, &nn.DeltaDINO{Stages: d.Stages, VitStride: d.VitStride, Patch: d.Patch, Momentum: d.Momentum, Eps: d.Eps})
	}
	return bt.views[i]
}

// step is trainer.step without the cancellation snapshot. It returns the
// iteration's losses and frame count.
func (bt *benchTrainer) step() (*dinotracker.LossValues, int, error) {
	batch, err := bt.sampler.Sample()
	if err != nil {
		return nil, 0, err
	}
	fs := batch.Frames
	n := len(fs)
	cp := bt.c * bt.p
	bt.reserve(bt.videoT)
	if n > len(bt.raw) {
		return nil, 0, fmt.Errorf("the sampler gave %d frames, more than the %d reserved", n, len(bt.raw))
	}
	for k, f := range fs {
		copy(bt.raw[k], bt.feats[f%benchPool]) // as Features.Frame reads the cache
	}
	chunk := bt.cfg.ChunkFrames
	hw3 := 3 * bt.h * bt.w
	nChunks := (n + chunk - 1) / chunk
	for ci := 0; ci < nChunks; ci++ {
		c0 := ci * chunk
		m := min(chunk, n-c0)
		if cap(bt.in) < m*hw3 {
			bt.in = make([]float32, m*hw3)
		}
		in := bt.in[:m*hw3]
		for j := 0; j < m; j++ {
			copy(in[j*hw3:(j+1)*hw3], bt.images[fs[c0+j]%benchPool])
		}
		out, _, _ := bt.view(ci).Forward(in, m, bt.h, bt.w, true)
		for j := 0; j < m; j++ {
			raw, d := bt.raw[c0+j], out[j*cp:(j+1)*cp:(j+1)*cp]
			raw = raw[:len(d)]
			for i, v := range raw {
				d[i] = v + d[i]
			}
			bt.refined[c0+j] = d
		}
	}
	if err := bt.obj.SetFrames(fs, bt.refined[:n], bt.raw[:n]); err != nil {
		return nil, 0, err
	}
	g := &dinotracker.LossGrads{Feat: bt.gradFeat[:n], Head: bt.headGrad}
	g.Zero()
	vals, err := bt.obj.Total(bt.iter, batch, bt.bb, bt.sampler.Rand(), g)
	if err != nil {
		return nil, 0, err
	}
	if math.IsNaN(float64(vals.Total)) {
		return nil, 0, errors.New("the loss is NaN")
	}
	for _, p := range bt.delta.Params() {
		p.ZeroGrad()
	}
	for ci := 0; ci < nChunks; ci++ {
		c0 := ci * chunk
		m := min(chunk, n-c0)
		bt.view(ci).Backward(bt.gradSlab[c0*cp : (c0+m)*cp])
	}
	lrD := bt.cfg.LRDelta * math.Pow(bt.cfg.SchedulerGamma, float64(bt.steps/bt.cfg.SchedulerEvery))
	bt.steps++
	for _, a := range bt.adam {
		lr := lrD
		if a.head {
			lr = bt.cfg.LRHead
		}
		nn.AdamUpdate(a.data, a.grad, a.m, a.v, bt.steps, float32(lr), float32(bt.cfg.Beta1), float32(bt.cfg.Beta2), float32(bt.cfg.Eps), 0)
	}
	bt.iter++
	return vals, n, nil
}

// iterFLOP estimates one iteration's FLOP (see the file comment): n frames
// through Delta-DINO, the flow points' head forward and backward, the
// DINO best-buddy InfoNCE on CLPairs pairs and, from the switch-on, the
// refined best-buddy loss and the cycle loss.
func iterFLOP(sz benchSizes, cfg dinotracker.Config, n int, late bool) float64 {
	c, p := float64(sz.C), float64(dinotracker.NewHeadGeometry(sz.W, sz.H).Tokens())
	head := 6 * c * p // 2CP forward, 4CP backward
	nce := 3 * 2 * 2 * float64(sz.lossPoints) * c * p
	f := deltaTrainFLOP(sz.H, sz.W, n) + float64(sz.points)*head + float64(cfg.Loss.CLPairs)*nce
	if late {
		f += float64(cfg.Loss.CLPairs) * (2*p*p*c + nce)
		// cycle: two forward head passes per drawn point to mine, then
		// forward and backward both ways on the kept ones (all, here).
		f += float64(cfg.Loss.CycPairs*sz.lossPoints) * (2*2*c*p + 2*head)
	}
	return f
}

func benchIter(late bool) func(context.Context, benchOpts) (*benchResult, error) {
	return func(ctx context.Context, o benchOpts) (*benchResult, error) {
		bt, err := newBenchTrainer(o.sz)
		if err != nil {
			return nil, err
		}
		if late {
			bt.iter = max(bt.cfg.Loss.CycAfter, bt.cfg.Loss.RefinedBBAfter)
		}
		var frames []int
		tm, err := timeRuns(ctx, o.repeat, func() error {
			v, n, err := bt.step()
			if err != nil {
				return err
			}
			if late != (v.CycleOn && v.RefinedBBOn) {
				return fmt.Errorf("loss switch-on is %v/%v, want %v", v.CycleOn, v.RefinedBBOn, late)
			}
			frames = append(frames, n)
			return nil
		})
		if err != nil {
			return nil, err
		}
		var flop float64
		for _, n := range frames {
			flop += iterFLOP(o.sz, bt.cfg, n, late)
		}
		flop /= float64(len(frames))
		when := "before the loss switch-on (flow, DINO best-buddy, norm and angle losses)"
		if late {
			when = "after the switch-on at iteration 5000 (plus cycle and refined best-buddy losses)"
		}
		return &benchResult{Runs: tm.wall, CPURuns: tm.cpu, FLOP: flop,
			What: fmt.Sprintf("one training iteration at PaperConfig sizes (%d×%d, %d points, %d-channel random features, Delta-DINO 3→64→128→256→1024), %s; %v frames refined",
				o.sz.H, o.sz.W, o.sz.points, o.sz.C, when, frames),
			Note: "the step re-assembled from the exported API; FLOP ≈ (dense terms only)"}, nil
	}
}
