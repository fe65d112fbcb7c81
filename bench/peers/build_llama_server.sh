#!/usr/bin/env bash
# Builds llama.cpp's llama-server from the tarball llama_cpp_source.sh packs: with the CUDA backend
# for the GPU it finds (nvcc on PATH or in /usr/local/cuda), else for this CPU.
#   bash bench/peers/build_llama_server.sh [SRC_TARBALL] [BUILD_ROOT]
#      defaults: .carry/peers/llama.cpp-src.tar.xz, /tmp/vibeserve-peers/llama.cpp
# The binary lands in BUILD_ROOT/build/bin/llama-server. Re-running resumes an unfinished build
# (BUDGET_S, default 540 s, bounds one run's compile so that a host's per-command limit is kept).
set -euo pipefail
TARBALL=${1:-.carry/peers/llama.cpp-src.tar.xz}
ROOT=${2:-/tmp/vibeserve-peers/llama.cpp}
B="$ROOT/build"
export PATH="$PATH:/usr/local/cuda/bin"
if [ -x "$B/bin/llama-server" ] && [ ! -f "$B/.unfinished" ]; then echo "llama-server: built at $B/bin"; exit 0; fi
if [ ! -f "$ROOT/CMakeLists.txt" ]; then
  [ -f "$TARBALL" ] || { echo "no llama.cpp source at $TARBALL: run bench/peers/llama_cpp_source.sh where PyPI is reachable" >&2; exit 2; }
  mkdir -p "$(dirname "$ROOT")"
  tar xJf "$TARBALL" -C "$(dirname "$ROOT")"
  [ "$(dirname "$ROOT")/llama.cpp" = "$ROOT" ] || mv "$(dirname "$ROOT")/llama.cpp" "$ROOT"
fi
backend=(-DGGML_CUDA=OFF)
if command -v nvcc >/dev/null; then
  # sm_90 for Hopper unless told otherwise; llama.cpp's defaults, flash attention included
  backend=(-DGGML_CUDA=ON "-DCMAKE_CUDA_ARCHITECTURES=${CUDA_ARCHS:-90}" "-DCMAKE_CUDA_COMPILER=$(command -v nvcc)")
fi
if [ ! -f "$B/build.ninja" ]; then
  cmake -S "$ROOT" -B "$B" -G Ninja -DCMAKE_BUILD_TYPE=Release "${backend[@]}" -DBUILD_SHARED_LIBS=OFF \
    -DGGML_NATIVE=ON -DLLAMA_BUILD_TESTS=OFF -DLLAMA_BUILD_EXAMPLES=OFF -DLLAMA_BUILD_SERVER=ON \
    -DLLAMA_BUILD_UI=OFF -DLLAMA_USE_PREBUILT_UI=OFF -DLLAMA_OPENSSL=OFF -DLLAMA_CURL=OFF >"$ROOT/configure.log" 2>&1 \
    || { tail -30 "$ROOT/configure.log" >&2; exit 1; }
fi
touch "$B/.unfinished"
set +e
timeout "${BUDGET_S:-540}" cmake --build "$B" --target llama-server -j"$(nproc)" >"$ROOT/build.log" 2>&1
rc=$?
set -e
if [ "$rc" = 124 ]; then echo "llama-server: time budget spent; run this again to resume" >&2; exit 124; fi
[ "$rc" = 0 ] || { tail -30 "$ROOT/build.log" >&2; exit "$rc"; }
rm -f "$B/.unfinished"
"$B/bin/llama-server" --version 2>&1 | tail -2
echo "llama-server: built at $B/bin ($( [ "${backend[0]}" = -DGGML_CUDA=ON ] && echo CUDA || echo CPU ))"
