# Developer targets. The Go build itself needs no make: `go build ./...`
# (pure Go) or `go build -tags cuda ./...` (GPU tracker head; see the doc
# comment of package dinotracker/cuda).

CLANG ?= clang-14
CXX ?= c++
# Flags that turn cuda/kernels.cu into cuda/kernels.ptx without the CUDA SDK
# or libdevice. TestPTXRegenerates (cuda/ptx_test.go) reads this line and
# checks that the checked-in PTX is what it produces.
PTXFLAGS = -x cuda --cuda-device-only -nocudainc -nocudalib --cuda-gpu-arch=sm_70 -O3 -S
# Where cuda-emu builds its CPU stand-in for libcuda.so.1.
EMU_DIR ?= /tmp/dinotracker-cuda-emu

.PHONY: ptx cuda-emu

# ptx regenerates the embedded GPU kernels (needs clang-14: apt-get install clang-14).
ptx:
	cd cuda && $(CLANG) $(PTXFLAGS) -o kernels.ptx kernels.cu

# cuda-emu runs the -tags cuda tests without a GPU: cuda/testdata/emu
# builds a libcuda.so.1 stand-in that runs kernels.cu on the CPU (one
# fiber per GPU thread), and the package loads it via $DINOTRACKER_LIBCUDA.
cuda-emu:
	mkdir -p $(EMU_DIR)
	$(CXX) -std=c++17 -O2 -fPIC -shared -o $(EMU_DIR)/libcuda.so.1 cuda/testdata/emu/emu.cc
	DINOTRACKER_LIBCUDA=$(EMU_DIR)/libcuda.so.1 go test -tags cuda -short -count=1 ./cuda/
