// A CPU stand-in for libcuda.so.1 that runs ../../kernels.cu on the host,
// so that package dinotracker/cuda's -tags cuda tests can run end to end
// on a machine without a GPU (make cuda-emu). It implements exactly the
// driver entry points the package resolves, with these checks:
//
//   - the current context is per OS thread, as in the driver, so a call
//     made on a thread where the session's context is not current fails
//     with CUDA_ERROR_INVALID_CONTEXT;
//   - cuModuleGetFunction finds a kernel only if the loaded PTX image has
//     its .entry;
//   - launches must use 256×1×1 blocks, no dynamic shared memory and
//     parameters whose pointers lie inside live allocations;
//   - every allocation has guard zones that are checked after each launch
//     (out-of-bounds writes) and is filled with 0xFF bytes (NaNs) on
//     allocation, so reads of unwritten memory show up as NaNs;
//   - each block's 256 threads run as fibers switched at __syncthreads;
//     a block in which some threads exit while others wait at a barrier is
//     reported as a failed launch.
//
// Device pointers are host pointers. Launches are synchronous. Build:
//
//	c++ -std=c++17 -O2 -fPIC -shared -o libcuda.so.1 emu.cc

#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <map>
#include <mutex>
#include <string>
#include <ucontext.h>

#define DT_HOST_EMU 1
#include "../../kernels.cu"

typedef int CUresult;

enum {
	CUDA_SUCCESS = 0,
	CUDA_ERROR_INVALID_VALUE = 1,
	CUDA_ERROR_OUT_OF_MEMORY = 2,
	CUDA_ERROR_NOT_INITIALIZED = 3,
	CUDA_ERROR_INVALID_DEVICE = 101,
	CUDA_ERROR_INVALID_IMAGE = 200,
	CUDA_ERROR_INVALID_CONTEXT = 201,
	CUDA_ERROR_INVALID_HANDLE = 400,
	CUDA_ERROR_NOT_FOUND = 500,
	CUDA_ERROR_LAUNCH_FAILED = 719,
};

static std::mutex mu;
static bool initialized;
static thread_local void *current; // per OS thread, as the driver's
static std::map<void *, int> contexts;

static const size_t guard = 256;
static const unsigned char guardByte = 0xA5;
struct Alloc {
	size_t size;
	unsigned char *base; // guard, then size bytes, then guard
};
static std::map<uintptr_t, Alloc> allocs; // keyed by the device pointer

static void fail(const char *what) { fprintf(stderr, "libcuda emu: %s\n", what); }

// live reports whether [p, p+n) lies inside one allocation.
static bool live(uintptr_t p, size_t n) {
	auto it = allocs.upper_bound(p);
	if (it == allocs.begin()) {
		return false;
	}
	--it;
	return p >= it->first && p + n <= it->first + it->second.size;
}

static bool guardsIntact(const Alloc &a) {
	for (size_t i = 0; i < guard; i++) {
		if (a.base[i] != guardByte || a.base[guard + a.size + i] != guardByte) {
			return false;
		}
	}
	return true;
}

#define NEED_INIT()                                \
	do {                                           \
		if (!initialized)                          \
			return CUDA_ERROR_NOT_INITIALIZED;     \
	} while (0)
#define NEED_CTX()                                 \
	do {                                           \
		NEED_INIT();                               \
		if (current == nullptr || !contexts.count(current)) \
			return CUDA_ERROR_INVALID_CONTEXT;     \
	} while (0)

// Kernels by name, with a parameter signature: p pointer, i int, d double.
struct Kernel {
	const char *name;
	const char *sig;
	void (*run)(void **a);
};

#define P(k, T) (*(T *)a[k])
static const Kernel kernels[] = {
	{"dt_token_norms", "ppii", [](void **a) { dt_token_norms(P(0, const float *), P(1, float *), P(2, int), P(3, int)); }},
	{"dt_query_norms", "ppi", [](void **a) { dt_query_norms(P(0, const float *), P(1, float *), P(2, int)); }},
	{"dt_cosine", "pppppiii", [](void **a) {
		 dt_cosine(P(0, const float *), P(1, const float *), P(2, const float *), P(3, const float *), P(4, float *),
		           P(5, int), P(6, int), P(7, int));
	 }},
	{"dt_argmax", "ppi", [](void **a) { dt_argmax(P(0, const float *), P(1, int *), P(2, int)); }},
	{"dt_refine", "pppii", [](void **a) { dt_refine(P(0, const float *), P(1, float *), P(2, const float *), P(3, int), P(4, int)); }},
	{"dt_softmax", "pi", [](void **a) { dt_softmax(P(0, float *), P(1, int)); }},
	{"dt_window", "pppiiddd", [](void **a) {
		 dt_window(P(0, const float *), P(1, const int *), P(2, double *), P(3, int), P(4, int), P(5, double), P(6, double),
		           P(7, double));
	 }},
};
#undef P

struct Module {
	std::string image;
};

// The fiber scheduler of one block.
static const int nThreads = NT;
static const size_t stackSize = 256 << 10;
static ucontext_t sched;
static ucontext_t fib[nThreads];
static char *stacks[nThreads];
static bool done[nThreads];
static int gTid, gBx, gBy, gBz;
static const Kernel *gKernel;
static void **gParams;

extern "C" int dt_emu_tid_x(void) { return gTid; }
extern "C" int dt_emu_ctaid_x(void) { return gBx; }
extern "C" int dt_emu_ctaid_y(void) { return gBy; }
extern "C" int dt_emu_ctaid_z(void) { return gBz; }
extern "C" void dt_emu_sync(void) { swapcontext(&fib[gTid], &sched); }

static void fiberMain(void) {
	gKernel->run(gParams);
	done[gTid] = true; // then return to sched through uc_link
}

// runBlock runs one block; false on barrier divergence.
static bool runBlock(void) {
	for (int t = 0; t < nThreads; t++) {
		if (stacks[t] == nullptr) {
			stacks[t] = (char *)malloc(stackSize);
		}
		getcontext(&fib[t]);
		fib[t].uc_stack.ss_sp = stacks[t];
		fib[t].uc_stack.ss_size = stackSize;
		fib[t].uc_link = &sched;
		makecontext(&fib[t], fiberMain, 0);
		done[t] = false;
	}
	for (;;) {
		int waiting = 0, exited = 0;
		for (int t = 0; t < nThreads; t++) {
			if (done[t]) {
				continue;
			}
			gTid = t;
			swapcontext(&sched, &fib[t]);
			if (done[t]) {
				exited++;
			} else {
				waiting++;
			}
		}
		if (waiting == 0) {
			return true;
		}
		if (exited > 0) {
			return false;
		}
	}
}

static const struct {
	CUresult code;
	const char *name, *desc;
} errorTable[] = {
	{CUDA_SUCCESS, "CUDA_SUCCESS", "no error"},
	{CUDA_ERROR_INVALID_VALUE, "CUDA_ERROR_INVALID_VALUE", "invalid argument"},
	{CUDA_ERROR_OUT_OF_MEMORY, "CUDA_ERROR_OUT_OF_MEMORY", "out of memory"},
	{CUDA_ERROR_NOT_INITIALIZED, "CUDA_ERROR_NOT_INITIALIZED", "initialization error"},
	{CUDA_ERROR_INVALID_DEVICE, "CUDA_ERROR_INVALID_DEVICE", "invalid device ordinal"},
	{CUDA_ERROR_INVALID_IMAGE, "CUDA_ERROR_INVALID_IMAGE", "device kernel image is invalid"},
	{CUDA_ERROR_INVALID_CONTEXT, "CUDA_ERROR_INVALID_CONTEXT", "invalid device context"},
	{CUDA_ERROR_INVALID_HANDLE, "CUDA_ERROR_INVALID_HANDLE", "invalid resource handle"},
	{CUDA_ERROR_NOT_FOUND, "CUDA_ERROR_NOT_FOUND", "named symbol not found"},
	{CUDA_ERROR_LAUNCH_FAILED, "CUDA_ERROR_LAUNCH_FAILED", "unspecified launch failure (emulator)"},
};

extern "C" {

CUresult cuInit(unsigned int flags) {
	std::lock_guard<std::mutex> l(mu);
	if (flags != 0) {
		return CUDA_ERROR_INVALID_VALUE;
	}
	initialized = true;
	return CUDA_SUCCESS;
}

CUresult cuDeviceGetCount(int *n) {
	NEED_INIT();
	*n = 1;
	return CUDA_SUCCESS;
}

CUresult cuDeviceGet(int *dev, int ordinal) {
	NEED_INIT();
	if (ordinal != 0) {
		return CUDA_ERROR_INVALID_DEVICE;
	}
	*dev = 0;
	return CUDA_SUCCESS;
}

CUresult cuCtxCreate_v2(void **ctx, unsigned int flags, int dev) {
	std::lock_guard<std::mutex> l(mu);
	NEED_INIT();
	if (dev != 0) {
		return CUDA_ERROR_INVALID_DEVICE;
	}
	*ctx = malloc(1);
	contexts[*ctx] = 1;
	current = *ctx;
	return CUDA_SUCCESS;
}

CUresult cuCtxDestroy_v2(void *ctx) {
	std::lock_guard<std::mutex> l(mu);
	NEED_INIT();
	if (!contexts.erase(ctx)) {
		return CUDA_ERROR_INVALID_CONTEXT;
	}
	if (current == ctx) {
		current = nullptr;
	}
	free(ctx);
	return CUDA_SUCCESS;
}

CUresult cuCtxSetCurrent(void *ctx) {
	std::lock_guard<std::mutex> l(mu);
	NEED_INIT();
	if (ctx != nullptr && !contexts.count(ctx)) {
		return CUDA_ERROR_INVALID_CONTEXT;
	}
	current = ctx;
	return CUDA_SUCCESS;
}

CUresult cuCtxSynchronize(void) {
	std::lock_guard<std::mutex> l(mu);
	NEED_CTX();
	return CUDA_SUCCESS;
}

CUresult cuModuleLoadData(void **mod, const void *image) {
	std::lock_guard<std::mutex> l(mu);
	NEED_CTX();
	const char *s = (const char *)image;
	if (s == nullptr || strstr(s, ".target sm_") == nullptr || strstr(s, ".entry ") == nullptr) {
		return CUDA_ERROR_INVALID_IMAGE;
	}
	*mod = new Module{std::string(s)};
	return CUDA_SUCCESS;
}

CUresult cuModuleUnload(void *mod) {
	std::lock_guard<std::mutex> l(mu);
	NEED_CTX();
	delete (Module *)mod;
	return CUDA_SUCCESS;
}

CUresult cuModuleGetFunction(void **fn, void *mod, const char *name) {
	std::lock_guard<std::mutex> l(mu);
	NEED_CTX();
	std::string entry = std::string(".entry ") + name + "(";
	if (mod == nullptr || ((Module *)mod)->image.find(entry) == std::string::npos) {
		return CUDA_ERROR_NOT_FOUND;
	}
	for (const Kernel &k : kernels) {
		if (strcmp(k.name, name) == 0) {
			*fn = (void *)&k;
			return CUDA_SUCCESS;
		}
	}
	return CUDA_ERROR_NOT_FOUND;
}

CUresult cuMemAlloc_v2(unsigned long long *dptr, size_t n) {
	std::lock_guard<std::mutex> l(mu);
	NEED_CTX();
	if (n == 0) {
		return CUDA_ERROR_INVALID_VALUE;
	}
	unsigned char *base = (unsigned char *)malloc(n + 2 * guard);
	if (base == nullptr) {
		return CUDA_ERROR_OUT_OF_MEMORY;
	}
	memset(base, guardByte, guard);
	memset(base + guard, 0xFF, n);
	memset(base + guard + n, guardByte, guard);
	uintptr_t p = (uintptr_t)(base + guard);
	allocs[p] = Alloc{n, base};
	*dptr = p;
	return CUDA_SUCCESS;
}

CUresult cuMemFree_v2(unsigned long long dptr) {
	std::lock_guard<std::mutex> l(mu);
	NEED_CTX();
	auto it = allocs.find((uintptr_t)dptr);
	if (it == allocs.end()) {
		return CUDA_ERROR_INVALID_VALUE;
	}
	bool ok = guardsIntact(it->second);
	free(it->second.base);
	allocs.erase(it);
	if (!ok) {
		fail("guard zone overwritten (found at cuMemFree)");
		return CUDA_ERROR_LAUNCH_FAILED;
	}
	return CUDA_SUCCESS;
}

CUresult cuMemcpyHtoD_v2(unsigned long long dst, const void *src, size_t n) {
	std::lock_guard<std::mutex> l(mu);
	NEED_CTX();
	if (!live((uintptr_t)dst, n)) {
		fail("cuMemcpyHtoD outside an allocation");
		return CUDA_ERROR_INVALID_VALUE;
	}
	memcpy((void *)(uintptr_t)dst, src, n);
	return CUDA_SUCCESS;
}

CUresult cuMemcpyDtoH_v2(void *dst, unsigned long long src, size_t n) {
	std::lock_guard<std::mutex> l(mu);
	NEED_CTX();
	if (!live((uintptr_t)src, n)) {
		fail("cuMemcpyDtoH outside an allocation");
		return CUDA_ERROR_INVALID_VALUE;
	}
	memcpy(dst, (const void *)(uintptr_t)src, n);
	return CUDA_SUCCESS;
}

CUresult cuLaunchKernel(void *f, unsigned int gx, unsigned int gy, unsigned int gz, unsigned int bx, unsigned int by,
                        unsigned int bz, unsigned int shmem, void *stream, void **params, void **extra) {
	std::lock_guard<std::mutex> l(mu);
	NEED_CTX();
	const Kernel *k = (const Kernel *)f;
	bool known = false;
	for (const Kernel &kk : kernels) {
		known = known || &kk == k;
	}
	if (!known) {
		return CUDA_ERROR_INVALID_HANDLE;
	}
	if (bx != NT || by != 1 || bz != 1 || shmem != 0 || extra != nullptr || params == nullptr || gx == 0 || gy == 0 ||
	    gz == 0 || gy > 65535 || gz > 65535) {
		fail("bad launch configuration");
		return CUDA_ERROR_INVALID_VALUE;
	}
	(void)stream;
	for (int i = 0; k->sig[i]; i++) {
		if (k->sig[i] == 'p' && !live((uintptr_t) * (void **)params[i], 1)) {
			fprintf(stderr, "libcuda emu: %s parameter %d is not a device pointer\n", k->name, i);
			return CUDA_ERROR_INVALID_VALUE;
		}
	}
	gKernel = k;
	gParams = params;
	for (unsigned z = 0; z < gz; z++) {
		for (unsigned y = 0; y < gy; y++) {
			for (unsigned x = 0; x < gx; x++) {
				gBx = x, gBy = y, gBz = z;
				if (!runBlock()) {
					fprintf(stderr, "libcuda emu: %s: threads exited while others wait at a barrier\n", k->name);
					return CUDA_ERROR_LAUNCH_FAILED;
				}
			}
		}
	}
	for (auto &a : allocs) {
		if (!guardsIntact(a.second)) {
			fprintf(stderr, "libcuda emu: %s wrote outside an allocation\n", k->name);
			return CUDA_ERROR_LAUNCH_FAILED;
		}
	}
	return CUDA_SUCCESS;
}

CUresult cuGetErrorString(CUresult r, const char **s) {
	for (auto &e : errorTable) {
		if (e.code == r) {
			*s = e.desc;
			return CUDA_SUCCESS;
		}
	}
	*s = nullptr;
	return CUDA_ERROR_INVALID_VALUE;
}

CUresult cuGetErrorName(CUresult r, const char **s) {
	for (auto &e : errorTable) {
		if (e.code == r) {
			*s = e.name;
			return CUDA_SUCCESS;
		}
	}
	*s = nullptr;
	return CUDA_ERROR_INVALID_VALUE;
}

} // extern "C"
