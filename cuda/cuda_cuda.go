//go:build cuda

package cuda

/*
#cgo LDFLAGS: -ldl
#include <dlfcn.h>
#include <stdlib.h>
#include <stdio.h>

// The few CUDA driver API types and entry points this package uses,
// declared here so that the build needs no CUDA SDK: the library is opened
// with dlopen at run time. Handles are opaque pointers, device pointers
// 64-bit integers, results ints (CUDA_SUCCESS = 0).
typedef int dt_CUresult;
typedef int dt_CUdevice;
typedef void *dt_CUcontext;
typedef void *dt_CUmodule;
typedef void *dt_CUfunction;
typedef void *dt_CUstream;
typedef unsigned long long dt_CUdeviceptr;

static void *dt_lib;
static dt_CUresult (*p_cuInit)(unsigned int);
static dt_CUresult (*p_cuDeviceGetCount)(int *);
static dt_CUresult (*p_cuDeviceGet)(dt_CUdevice *, int);
static dt_CUresult (*p_cuCtxCreate)(dt_CUcontext *, unsigned int, dt_CUdevice);
static dt_CUresult (*p_cuCtxDestroy)(dt_CUcontext);
static dt_CUresult (*p_cuCtxSetCurrent)(dt_CUcontext);
static dt_CUresult (*p_cuCtxSynchronize)(void);
static dt_CUresult (*p_cuModuleLoadData)(dt_CUmodule *, const void *);
static dt_CUresult (*p_cuModuleUnload)(dt_CUmodule);
static dt_CUresult (*p_cuModuleGetFunction)(dt_CUfunction *, dt_CUmodule, const char *);
static dt_CUresult (*p_cuMemAlloc)(dt_CUdeviceptr *, size_t);
static dt_CUresult (*p_cuMemFree)(dt_CUdeviceptr);
static dt_CUresult (*p_cuMemcpyHtoD)(dt_CUdeviceptr, const void *, size_t);
static dt_CUresult (*p_cuMemcpyDtoH)(void *, dt_CUdeviceptr, size_t);
static dt_CUresult (*p_cuLaunchKernel)(dt_CUfunction, unsigned int, unsigned int, unsigned int,
	unsigned int, unsigned int, unsigned int, unsigned int, dt_CUstream, void **, void **);
static dt_CUresult (*p_cuGetErrorString)(dt_CUresult, const char **);
static dt_CUresult (*p_cuGetErrorName)(dt_CUresult, const char **);

// dt_load opens the driver library at path and resolves every entry point.
// It returns 0, or -1 with a message in err.
static int dt_load(const char *path, char *err, size_t n) {
	void *h = dlopen(path, RTLD_NOW | RTLD_LOCAL);
	if (h == NULL) {
		const char *e = dlerror();
		snprintf(err, n, "%s not found (%s); is the NVIDIA driver installed?", path, e ? e : "dlopen failed");
		return -1;
	}
#define DT_SYM(var, name) \
	do { \
		*(void **)(&var) = dlsym(h, name); \
		if (var == NULL) { \
			snprintf(err, n, "%s lacks %s (driver too old?)", path, name); \
			dlclose(h); \
			return -1; \
		} \
	} while (0)
	DT_SYM(p_cuInit, "cuInit");
	DT_SYM(p_cuDeviceGetCount, "cuDeviceGetCount");
	DT_SYM(p_cuDeviceGet, "cuDeviceGet");
	DT_SYM(p_cuCtxCreate, "cuCtxCreate_v2");
	DT_SYM(p_cuCtxDestroy, "cuCtxDestroy_v2");
	DT_SYM(p_cuCtxSetCurrent, "cuCtxSetCurrent");
	DT_SYM(p_cuCtxSynchronize, "cuCtxSynchronize");
	DT_SYM(p_cuModuleLoadData, "cuModuleLoadData");
	DT_SYM(p_cuModuleUnload, "cuModuleUnload");
	DT_SYM(p_cuModuleGetFunction, "cuModuleGetFunction");
	DT_SYM(p_cuMemAlloc, "cuMemAlloc_v2");
	DT_SYM(p_cuMemFree, "cuMemFree_v2");
	DT_SYM(p_cuMemcpyHtoD, "cuMemcpyHtoD_v2");
	DT_SYM(p_cuMemcpyDtoH, "cuMemcpyDtoH_v2");
	DT_SYM(p_cuLaunchKernel, "cuLaunchKernel");
	DT_SYM(p_cuGetErrorString, "cuGetErrorString");
	DT_SYM(p_cuGetErrorName, "cuGetErrorName");
#undef DT_SYM
	dt_lib = h;
	return 0;
}

static dt_CUresult dt_cuInit(void) { return p_cuInit(0); }
static dt_CUresult dt_cuDeviceGetCount(int *n) { return p_cuDeviceGetCount(n); }
static dt_CUresult dt_cuDeviceGet(dt_CUdevice *d, int ordinal) { return p_cuDeviceGet(d, ordinal); }
static dt_CUresult dt_cuCtxCreate(dt_CUcontext *c, dt_CUdevice d) { return p_cuCtxCreate(c, 0, d); }
static dt_CUresult dt_cuCtxDestroy(dt_CUcontext c) { return p_cuCtxDestroy(c); }
static dt_CUresult dt_cuCtxSetCurrent(dt_CUcontext c) { return p_cuCtxSetCurrent(c); }
static dt_CUresult dt_cuCtxSynchronize(void) { return p_cuCtxSynchronize(); }
static dt_CUresult dt_cuModuleLoadData(dt_CUmodule *m, const char *image) { return p_cuModuleLoadData(m, image); }
static dt_CUresult dt_cuModuleUnload(dt_CUmodule m) { return p_cuModuleUnload(m); }
static dt_CUresult dt_cuModuleGetFunction(dt_CUfunction *f, dt_CUmodule m, const char *name) {
	return p_cuModuleGetFunction(f, m, name);
}
static dt_CUresult dt_cuMemAlloc(dt_CUdeviceptr *p, size_t n) { return p_cuMemAlloc(p, n); }
static dt_CUresult dt_cuMemFree(dt_CUdeviceptr p) { return p_cuMemFree(p); }
static dt_CUresult dt_cuMemcpyHtoD(dt_CUdeviceptr dst, const void *src, size_t n) { return p_cuMemcpyHtoD(dst, src, n); }
static dt_CUresult dt_cuMemcpyDtoH(void *dst, dt_CUdeviceptr src, size_t n) { return p_cuMemcpyDtoH(dst, src, n); }

// dt_error describes r as "CUDA_ERROR_NAME: description".
static void dt_error(dt_CUresult r, char *buf, size_t n) {
	const char *name = NULL, *desc = NULL;
	if (p_cuGetErrorName != NULL) {
		p_cuGetErrorName(r, &name);
	}
	if (p_cuGetErrorString != NULL) {
		p_cuGetErrorString(r, &desc);
	}
	snprintf(buf, n, "%s: %s", name ? name : "CUDA error", desc ? desc : "unknown");
}

// dt_args holds one launch's parameters: slot[i] is the value of parameter
// i (an 8-byte pointer or double, or a 4-byte int in its low bytes), ptr[i]
// points at it, as cuLaunchKernel's kernelParams wants.
#define DT_MAXARGS 16
typedef struct {
	unsigned long long slot[DT_MAXARGS];
	void *ptr[DT_MAXARGS];
} dt_args;

// dt_launch launches f on a gx×gy×gz grid of 256-thread blocks on the
// default stream.
static dt_CUresult dt_launch(dt_CUfunction f, unsigned int gx, unsigned int gy, unsigned int gz, dt_args *a, int nargs) {
	for (int i = 0; i < nargs; i++) {
		a->ptr[i] = &a->slot[i];
	}
	return p_cuLaunchKernel(f, gx, gy, gz, 256, 1, 1, 0, NULL, a->ptr, NULL);
}
*/
import "C"

import (
	_ "embed"
	"errors"
	"fmt"
	"math"
	"os"
	"runtime"
	"sync"
	"unsafe"

	"dinotracker/softargmax"
)

// kernelsPTX is kernels.cu compiled for sm_70 (make ptx).
//
//go:embed kernels.ptx
var kernelsPTX string

// threads is the block size of every kernel (NT in kernels.cu).
const threads = 256

// Indices into Session.fn, in kernelNames order.
const (
	kTokenNorms = iota
	kQueryNorms
	kCosine
	kArgmax
	kRefine
	kSoftmax
	kWindow
	nKernels
)

// Tile sizes of dt_cosine (TM, TN) and dt_refine (RT) in kernels.cu.
const (
	cosineTileQ = 64
	cosineTileP = 64
	refineTile  = 16
)

// resStride is the number of float64 values dt_window writes per query.
const resStride = 8

// refinerLen is the length of the packed refiner weights w1, b1, w2, b2.
const refinerLen = RefinerHidden*9 + RefinerHidden + RefinerHidden*9 + 1

var driver struct {
	once sync.Once
	err  error
}

// Available reports nil when a CUDA device can be used, or an error saying
// why not: the driver library (libcuda.so.1, or $DINOTRACKER_LIBCUDA) is
// missing, cuInit fails, or there is no device. The probe runs once per
// process.
func Available() error {
	driver.once.Do(func() { driver.err = probe() })
	return driver.err
}

func probe() error {
	path := os.Getenv("DINOTRACKER_LIBCUDA")
	if path == "" {
		path = "libcuda.so.1"
	}
	cpath := C.CString(path)
	defer C.free(unsafe.Pointer(cpath))
	var buf [512]C.char
	if C.dt_load(cpath, &buf[0], C.size_t(len(buf))) != 0 {
		return errors.New("dinotracker/cuda: " + C.GoString(&buf[0]))
	}
	if err := check("cuInit", C.dt_cuInit()); err != nil {
		return err
	}
	var n C.int
	if err := check("cuDeviceGetCount", C.dt_cuDeviceGetCount(&n)); err != nil {
		return err
	}
	if n < 1 {
		return errors.New("dinotracker/cuda: no CUDA device")
	}
	return nil
}

// check turns a driver result into an error naming op.
func check(op string, r C.dt_CUresult) error {
	if r == 0 {
		return nil
	}
	var buf [256]C.char
	C.dt_error(r, &buf[0], C.size_t(len(buf)))
	return fmt.Errorf("dinotracker/cuda: %s: %s (CUresult %d)", op, C.GoString(&buf[0]), int(r))
}

// Session keeps the device buffers of one tracking pass: the uploaded
// frames, their token norms, the refiner kernels and the per-batch work
// buffers. Create it with NewSession and release it with Close.
type Session struct {
	mu     sync.Mutex
	ctx    C.dt_CUcontext
	mod    C.dt_CUmodule
	fn     [nKernels]C.dt_CUfunction
	args   *C.dt_args // C memory: launch parameters
	c      int
	p      int
	grid   softargmax.Grid
	frames []C.dt_CUdeviceptr // one [c, p] map per frame
	norms  C.dt_CUdeviceptr   // [T, p] token norms
	wts    C.dt_CUdeviceptr   // [refinerLen] refiner weights
	hasRef bool

	// Work buffers for up to capN queries.
	capN   int
	q      C.dt_CUdeviceptr // [capN, c] queries
	qn     C.dt_CUdeviceptr // [capN] query norms
	cost   C.dt_CUdeviceptr // [capN, p] ReLU'd cost volumes
	logits C.dt_CUdeviceptr // [capN, p] refiner output, then probabilities
	amax   C.dt_CUdeviceptr // [capN] int32 coarse argmax
	res    C.dt_CUdeviceptr // [capN, resStride] float64 window results
	resH   []float64        // host copy of res
	closed bool
}

// NewSession uploads frames (each [c, gh, gw], channel-major) and their
// token norms to the device once. grid places the tokens and sets the
// soft-argmax window; its GH and GW must equal gh and gw. It fails with
// Available's error when no device can be used. Call SetRefiner before
// Heads, and Close when done.
func NewSession(frames [][]float32, c, gh, gw int, grid softargmax.Grid) (*Session, error) {
	if err := checkSessionArgs(frames, c, gh, gw, grid); err != nil {
		return nil, err
	}
	if err := Available(); err != nil {
		return nil, err
	}
	runtime.LockOSThread()
	defer runtime.UnlockOSThread()
	s := &Session{c: c, p: gh * gw, grid: grid}
	if err := s.open(frames); err != nil {
		s.release()
		return nil, err
	}
	return s, nil
}

// open creates the context, loads the module and uploads the frames. On
// error the caller releases what was made.
func (s *Session) open(frames [][]float32) error {
	var dev C.dt_CUdevice
	if err := check("cuDeviceGet", C.dt_cuDeviceGet(&dev, 0)); err != nil {
		return err
	}
	if err := check("cuCtxCreate", C.dt_cuCtxCreate(&s.ctx, dev)); err != nil {
		return err
	}
	image := C.CString(kernelsPTX)
	defer C.free(unsafe.Pointer(image))
	if err := check("cuModuleLoadData (JIT of kernels.ptx)", C.dt_cuModuleLoadData(&s.mod, image)); err != nil {
		return err
	}
	for k, name := range kernelNames {
		cname := C.CString(name)
		err := check("cuModuleGetFunction "+name, C.dt_cuModuleGetFunction(&s.fn[k], s.mod, cname))
		C.free(unsafe.Pointer(cname))
		if err != nil {
			return err
		}
	}
	s.args = (*C.dt_args)(C.calloc(1, C.size_t(unsafe.Sizeof(C.dt_args{}))))
	if s.args == nil {
		return errors.New("dinotracker/cuda: out of host memory")
	}
	var err error
	if s.norms, err = alloc(len(frames) * s.p * 4); err != nil {
		return err
	}
	if s.wts, err = alloc(refinerLen * 4); err != nil {
		return err
	}
	for t, f := range frames {
		d, err := alloc(s.c * s.p * 4)
		if err != nil {
			return fmt.Errorf("%w (frame %d of %d)", err, t, len(frames))
		}
		s.frames = append(s.frames, d)
		if err := upload(d, f[:s.c*s.p]); err != nil {
			return err
		}
		a := s.arg()
		a.ptr(d)
		a.ptr(s.norms + C.dt_CUdeviceptr(t*s.p*4))
		a.i32(s.c)
		a.i32(s.p)
		if err := s.launch(kTokenNorms, blocks(s.p, threads), 1, 1, a); err != nil {
			return err
		}
	}
	return check("cuCtxSynchronize (token norms)", C.dt_cuCtxSynchronize())
}

// SetRefiner uploads the refiner's normalised kernels: w1 [16·9] and b1
// [16] of the first NormalizedConv2d, w2 [16·9] and b2 of the second (the
// layout of dinotracker's RefinerKernels.W0 and W2 and Refiner.B0 and B2).
// Call it again whenever the parameters change.
func (s *Session) SetRefiner(w1, b1, w2 []float32, b2 float32) error {
	if err := checkRefinerArgs(w1, b1, w2); err != nil {
		return err
	}
	unlock, err := s.enter()
	if err != nil {
		return err
	}
	defer unlock()
	w := make([]float32, 0, refinerLen)
	w = append(append(append(append(w, w1...), b1...), w2...), b2)
	if err := upload(s.wts, w); err != nil {
		return err
	}
	s.hasRef = true
	return nil
}

// Heads runs the tracker head for n queries (row-major [n, c]) against
// frame and writes one result per query into out[:n]: X, Y in pixels,
// Mass, Sum, Fallback and Count of the window, and Center, the coarse
// argmax. Batches larger than the work buffers are split. SetRefiner must
// have been called.
func (s *Session) Heads(out []softargmax.Result, queries []float32, n int, frame int) error {
	unlock, err := s.enter()
	if err != nil {
		return err
	}
	defer unlock()
	if err := checkHeadsArgs(out, queries, n, frame, len(s.frames), s.c); err != nil {
		return err
	}
	if !s.hasRef {
		return errors.New("dinotracker/cuda: Heads before SetRefiner")
	}
	for lo := 0; lo < n; lo += maxBatch {
		hi := min(n, lo+maxBatch)
		if err := s.heads(out[lo:hi], queries[lo*s.c:hi*s.c], hi-lo, frame); err != nil {
			return err
		}
	}
	return nil
}

// heads runs one batch of n ≤ maxBatch queries.
func (s *Session) heads(out []softargmax.Result, queries []float32, n, frame int) error {
	if err := s.reserve(n); err != nil {
		return err
	}
	if err := upload(s.q, queries[:n*s.c]); err != nil {
		return err
	}
	g := s.grid
	a := s.arg()
	a.ptr(s.q)
	a.ptr(s.qn)
	a.i32(s.c)
	if err := s.launch(kQueryNorms, n, 1, 1, a); err != nil {
		return err
	}
	a = s.arg()
	a.ptr(s.q)
	a.ptr(s.frames[frame])
	a.ptr(s.qn)
	a.ptr(s.norms + C.dt_CUdeviceptr(frame*s.p*4))
	a.ptr(s.cost)
	a.i32(n)
	a.i32(s.c)
	a.i32(s.p)
	if err := s.launch(kCosine, blocks(s.p, cosineTileP), blocks(n, cosineTileQ), 1, a); err != nil {
		return err
	}
	a = s.arg()
	a.ptr(s.cost)
	a.ptr(s.amax)
	a.i32(s.p)
	if err := s.launch(kArgmax, n, 1, 1, a); err != nil {
		return err
	}
	a = s.arg()
	a.ptr(s.cost)
	a.ptr(s.logits)
	a.ptr(s.wts)
	a.i32(g.GH)
	a.i32(g.GW)
	if err := s.launch(kRefine, blocks(g.GW, refineTile), blocks(g.GH, refineTile), n, a); err != nil {
		return err
	}
	a = s.arg()
	a.ptr(s.logits)
	a.i32(s.p)
	if err := s.launch(kSoftmax, n, 1, 1, a); err != nil {
		return err
	}
	a = s.arg()
	a.ptr(s.logits)
	a.ptr(s.amax)
	a.ptr(s.res)
	a.i32(g.GH)
	a.i32(g.GW)
	a.f64(g.Stride)
	a.f64(g.Offset)
	a.f64(g.Radius)
	if err := s.launch(kWindow, n, 1, 1, a); err != nil {
		return err
	}
	// The copy on the default stream waits for the kernels; an error in any
	// of them surfaces here.
	r := s.resH[:n*resStride]
	if err := check("kernels or cuMemcpyDtoH (results)", C.dt_cuMemcpyDtoH(unsafe.Pointer(&r[0]), s.res, C.size_t(len(r)*8))); err != nil {
		return err
	}
	for i := range n {
		v := r[i*resStride : (i+1)*resStride]
		out[i] = softargmax.Result{
			X: v[0], Y: v[1], Mass: v[2], Sum: v[3],
			Fallback: v[4] != 0, Count: int(v[5]), Center: int(v[6]),
		}
	}
	return nil
}

// reserve makes the work buffers hold at least n queries.
func (s *Session) reserve(n int) error {
	if n <= s.capN {
		return nil
	}
	s.freeWork()
	capN := min(max(n, 64), maxBatch)
	capN = max(capN, n)
	var err error
	for _, b := range []struct {
		p     *C.dt_CUdeviceptr
		bytes int
	}{
		{&s.q, capN * s.c * 4},
		{&s.qn, capN * 4},
		{&s.cost, capN * s.p * 4},
		{&s.logits, capN * s.p * 4},
		{&s.amax, capN * 4},
		{&s.res, capN * resStride * 8},
	} {
		if *b.p, err = alloc(b.bytes); err != nil {
			s.freeWork()
			return fmt.Errorf("%w (work buffers for %d queries)", err, capN)
		}
	}
	s.resH = make([]float64, capN*resStride)
	s.capN = capN
	return nil
}

func (s *Session) freeWork() {
	for _, p := range []*C.dt_CUdeviceptr{&s.q, &s.qn, &s.cost, &s.logits, &s.amax, &s.res} {
		if *p != 0 {
			C.dt_cuMemFree(*p)
			*p = 0
		}
	}
	s.capN = 0
}

// lastMaps downloads the first n cost maps, probability maps and argmaxes
// of the last batch (for tests).
func (s *Session) lastMaps(n int) (cost, prob []float32, amax []int32, err error) {
	unlock, err := s.enter()
	if err != nil {
		return nil, nil, nil, err
	}
	defer unlock()
	if n < 1 || n > s.capN {
		return nil, nil, nil, fmt.Errorf("dinotracker/cuda: lastMaps(%d) with %d buffered", n, s.capN)
	}
	cost = make([]float32, n*s.p)
	prob = make([]float32, n*s.p)
	amax = make([]int32, n)
	if err := check("cuMemcpyDtoH", C.dt_cuMemcpyDtoH(unsafe.Pointer(&cost[0]), s.cost, C.size_t(len(cost)*4))); err != nil {
		return nil, nil, nil, err
	}
	if err := check("cuMemcpyDtoH", C.dt_cuMemcpyDtoH(unsafe.Pointer(&prob[0]), s.logits, C.size_t(len(prob)*4))); err != nil {
		return nil, nil, nil, err
	}
	if err := check("cuMemcpyDtoH", C.dt_cuMemcpyDtoH(unsafe.Pointer(&amax[0]), s.amax, C.size_t(len(amax)*4))); err != nil {
		return nil, nil, nil, err
	}
	return cost, prob, amax, nil
}

// Close frees the session's device memory and context. It may be called
// more than once.
func (s *Session) Close() error {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.closed {
		return nil
	}
	runtime.LockOSThread()
	defer runtime.UnlockOSThread()
	return s.release()
}

// release frees everything s holds; the OS thread must be locked.
func (s *Session) release() error {
	s.closed = true
	if s.ctx == nil {
		return nil
	}
	var errs []error
	errs = append(errs, check("cuCtxSetCurrent", C.dt_cuCtxSetCurrent(s.ctx)))
	s.freeWork()
	for _, d := range append(s.frames, s.norms, s.wts) {
		if d != 0 {
			errs = append(errs, check("cuMemFree", C.dt_cuMemFree(d)))
		}
	}
	s.frames, s.norms, s.wts = nil, 0, 0
	if s.mod != nil {
		errs = append(errs, check("cuModuleUnload", C.dt_cuModuleUnload(s.mod)))
		s.mod = nil
	}
	errs = append(errs, check("cuCtxDestroy", C.dt_cuCtxDestroy(s.ctx)))
	s.ctx = nil
	if s.args != nil {
		C.free(unsafe.Pointer(s.args))
		s.args = nil
	}
	return errors.Join(errs...)
}

// enter locks s and the OS thread and makes s's context current; the
// returned func undoes the locks.
func (s *Session) enter() (unlock func(), err error) {
	s.mu.Lock()
	if s.closed || s.ctx == nil {
		s.mu.Unlock()
		return nil, errors.New("dinotracker/cuda: session is closed (or was not made by NewSession)")
	}
	runtime.LockOSThread()
	unlock = func() {
		runtime.UnlockOSThread()
		s.mu.Unlock()
	}
	if err := check("cuCtxSetCurrent", C.dt_cuCtxSetCurrent(s.ctx)); err != nil {
		unlock()
		return nil, err
	}
	return unlock, nil
}

// argList fills a dt_args in C memory.
type argList struct {
	a *C.dt_args
	n int
}

func (s *Session) arg() *argList { return &argList{a: s.args} }

func (l *argList) put(v uint64) {
	if l.n >= C.DT_MAXARGS {
		panic("dinotracker/cuda: too many kernel arguments")
	}
	l.a.slot[l.n] = C.ulonglong(v)
	l.n++
}

func (l *argList) ptr(p C.dt_CUdeviceptr) { l.put(uint64(p)) }
func (l *argList) i32(v int)              { l.put(uint64(uint32(int32(v)))) }
func (l *argList) f64(v float64)          { l.put(math.Float64bits(v)) }

// launch runs kernel k on a gx×gy×gz grid of 256-thread blocks.
func (s *Session) launch(k, gx, gy, gz int, a *argList) error {
	if gx < 1 || gy < 1 || gz < 1 {
		return nil
	}
	if gy > 65535 || gz > 65535 {
		return fmt.Errorf("dinotracker/cuda: %s grid %d×%d×%d exceeds the device limits", kernelNames[k], gx, gy, gz)
	}
	return check("cuLaunchKernel "+kernelNames[k],
		C.dt_launch(s.fn[k], C.uint(gx), C.uint(gy), C.uint(gz), a.a, C.int(a.n)))
}

// blocks is ⌈n/b⌉.
func blocks(n, b int) int { return (n + b - 1) / b }

func alloc(bytes int) (C.dt_CUdeviceptr, error) {
	var d C.dt_CUdeviceptr
	if err := check(fmt.Sprintf("cuMemAlloc(%d bytes)", bytes), C.dt_cuMemAlloc(&d, C.size_t(bytes))); err != nil {
		return 0, err
	}
	return d, nil
}

func upload(dst C.dt_CUdeviceptr, src []float32) error {
	if len(src) == 0 {
		return nil
	}
	return check("cuMemcpyHtoD", C.dt_cuMemcpyHtoD(dst, unsafe.Pointer(&src[0]), C.size_t(len(src)*4)))
}
