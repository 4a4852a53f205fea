#!/usr/bin/env bash
# Runs the whole test suite on a fresh Debian machine with Go installed:
# installs the system packages the tests use (ffmpeg for movie input,
# libopenblas-dev for the -tags openblas build), then checks formatting,
# vets, and runs the tests of the pure-Go build and of the openblas build.
set -euo pipefail
cd "$(dirname "$0")/.."

need=()
command -v ffmpeg >/dev/null 2>&1 || need+=(ffmpeg)
has_openblas() { for f in /usr/lib/*/libopenblas.so /usr/lib/libopenblas.so; do [ -e "$f" ] && return 0; done; return 1; }
has_openblas || need+=(libopenblas-dev)
if [ ${#need[@]} -gt 0 ]; then
  if [ "$(id -u)" = 0 ] && command -v apt-get >/dev/null 2>&1; then
    echo "installing: ${need[*]}"
    apt-get update -qq >/dev/null
    DEBIAN_FRONTEND=noninteractive apt-get install -y -qq "${need[@]}" >/dev/null
  else
    echo "note: ${need[*]} missing and cannot be installed here (not root with apt-get); the tests that need them skip" >&2
  fi
fi

unformatted=$(gofmt -l . | grep -v '^testdata/' || true)
if [ -n "$unformatted" ]; then
  echo "gofmt would change:"; echo "$unformatted"; exit 1
fi
go vet ./...
CGO_ENABLED=0 go build ./...
# Every assembly kernel has a Go fallback: the project builds for other architectures.
GOARCH=arm64 CGO_ENABLED=0 go build ./...
go test -count=1 ./...
# The pure-Go fallbacks of the assembly kernels must give the same results.
go test -count=1 -tags noasm ./gemm ./vit ./nn ./internal/rowconv ./corr ./softargmax .
if has_openblas; then
  # The OpenBLAS build must give the same results: rerun the numeric packages with it.
  CGO_LDFLAGS=-lopenblas go test -count=1 -tags openblas ./gemm ./vit ./nn ./corr .
fi
# The cuda build needs no CUDA SDK (the driver is loaded at run time): it must
# build and vet everywhere. With a C++ compiler, its tests also run against
# a CPU stand-in for libcuda.so.1 (cuda/testdata/emu), GPU-vs-CPU included.
go vet -tags cuda ./cuda/ .
go build -tags cuda ./...
if command -v c++ >/dev/null 2>&1; then
  emu=$(mktemp -d)
  c++ -std=c++17 -O2 -fPIC -shared -o "$emu/libcuda.so.1" cuda/testdata/emu/emu.cc
  DINOTRACKER_LIBCUDA="$emu/libcuda.so.1" go test -count=1 -short -tags cuda ./cuda/
  DINOTRACKER_LIBCUDA="$emu/libcuda.so.1" go test -count=1 -tags cuda -run 'GPUMatchesCPU' .
  rm -rf "$emu"
fi
