#!/usr/bin/env bash
# Unpacks the parts made by pack.sh on the GPU host. Parts may arrive in separate transfers:
# each one found is unpacked; tools land in /tmp/vibeserve-tools (or $VIBESERVE_TOOLS_DIR),
# node_modules in the repo root. $VIBESERVE_PYTHON picks the interpreter (default python3).
#   source scripts/gpu/unpack.sh [parts-dir]
set -eo pipefail
repo=$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)
parts=${1:-${VIBESERVE_PARTS_DIR:-$repo/.carry/gpu}}
tools=${VIBESERVE_TOOLS_DIR:-/tmp/vibeserve-tools}
py=${VIBESERVE_PYTHON:-python3}
mkdir -p "$tools/bin" "$tools/site"
# xz may be missing on a minimal image; Python's lzma reads the same files.
unxz_to_stdout() {
  if command -v xz >/dev/null; then xz -dc "$1"
  else "$py" -c 'import lzma, shutil, sys; shutil.copyfileobj(lzma.open(sys.argv[1]), sys.stdout.buffer)' "$1"; fi
}
if [ -f "$parts/tools/node.xz" ] && [ ! -x "$tools/bin/node" ]; then
  unxz_to_stdout "$parts/tools/node.xz" > "$tools/bin/node.part" && chmod +x "$tools/bin/node.part" && mv "$tools/bin/node.part" "$tools/bin/node"
fi
if [ -f "$parts/tools/temporal.xz" ] && [ ! -x "$tools/bin/temporal" ]; then
  unxz_to_stdout "$parts/tools/temporal.xz" > "$tools/bin/temporal.part" && chmod +x "$tools/bin/temporal.part" && mv "$tools/bin/temporal.part" "$tools/bin/temporal"
fi
# A checkout's own node_modules is kept; an interrupted extraction (.unpacking left) is redone.
nm=$repo/node_modules
if [ -f "$parts/deps/node_modules.tar.xz" ] && { [ ! -d "$nm/@temporalio" ] || [ -f "$nm/.unpacking" ]; }; then
  mkdir -p "$nm" && touch "$nm/.unpacking"
  unxz_to_stdout "$parts/deps/node_modules.tar.xz" | tar -C "$repo" -xf - && rm -f "$nm/.unpacking"
fi
# The wheels carry the server's deps (and sentencepiece for llama.cpp's GGUF converter); an interpreter
# that already has them keeps its own.
if [ -d "$parts/deps/wheels" ] && [ ! -f "$tools/site/.done" ] && ! "$py" -c 'import fastapi, uvicorn, pydantic, jsonschema, gguf, prometheus_client, sentencepiece' 2>/dev/null; then
  "$py" -m pip install -q --no-index --no-deps --no-compile --no-cache-dir --target "$tools/site" "$parts"/deps/wheels/*.whl \
    && touch "$tools/site/.done" || echo "unpack: installing the wheels failed; only 'serve' needs them" >&2
fi
export PATH="$tools/bin:$PATH"
export PYTHONPATH="$repo/python-runtime:$tools/site${PYTHONPATH:+:$PYTHONPATH}"
export VIBESERVE_PYTHON=$py
