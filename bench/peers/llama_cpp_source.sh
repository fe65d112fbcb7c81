#!/usr/bin/env bash
# Fetches llama.cpp's source for the llama.cpp peer: the PyPI sdist of llama-cpp-python vendors a
# pinned llama.cpp tree (with the CUDA backend and tools/server). Packs that tree, without its docs,
# media, web-UI sources and test vocabularies, as one tarball that fits a transfer to an offline host.
#   bash bench/peers/llama_cpp_source.sh [TARBALL]     # default .carry/peers/llama.cpp-src.tar.xz
# Needs PyPI (pip download). build_llama_server.sh builds llama-server from the tarball.
set -euo pipefail
VERSION=${LLAMA_CPP_PYTHON_VERSION:-0.3.36}
TARBALL=${1:-.carry/peers/llama.cpp-src.tar.xz}
if [ -f "$TARBALL" ]; then echo "llama-cpp-source: $TARBALL exists"; exit 0; fi
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
python3 -m pip download --quiet --no-deps --no-binary :all: "llama-cpp-python==$VERSION" -d "$work"
tar xzf "$work"/llama_cpp_python-"$VERSION".tar.gz -C "$work"
src="$work/llama_cpp_python-$VERSION/vendor/llama.cpp"
[ -f "$src/CMakeLists.txt" ] || { echo "llama-cpp-source: no vendored llama.cpp in the sdist" >&2; exit 1; }
# what the build and the GGUF tools need: no docs, media, web-UI sources, tests or benchmarks, and of
# the vocabulary GGUFs only GPT-2's and Llama-3's (real tokenizers for GGUFs written from our weights)
rm -rf "$src"/.git "$src"/docs "$src"/media "$src"/tools/server/webui "$src"/examples/*/assets "$src"/tests "$src"/benches
find "$src/models" -type f ! -name ggml-vocab-gpt-2.gguf ! -name ggml-vocab-llama-bpe.gguf -delete
echo "llama.cpp vendored by llama-cpp-python $VERSION (PyPI sdist)" > "$src/VIBESERVE_SOURCE"
mkdir -p "$(dirname "$TARBALL")"
XZ_OPT=-T0 tar cJf "$TARBALL" -C "$(dirname "$src")" llama.cpp
echo "llama-cpp-source: $TARBALL ($(du -h "$TARBALL" | cut -f1)), llama-cpp-python $VERSION"
