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
if [ -f "$parts/tools/node.xz" ] && [ ! -x "$tools/bin/node" ]; then
  xz -dc "$parts/tools/node.xz" > "$tools/bin/node" && chmod +x "$tools/bin/node"
fi
if [ -f "$parts/tools/temporal.xz" ] && [ ! -x "$tools/bin/temporal" ]; then
  xz -dc "$parts/tools/temporal.xz" > "$tools/bin/temporal" && chmod +x "$tools/bin/temporal"
fi
if [ -f "$parts/deps/node_modules.tar.xz" ] && [ ! -d "$repo/node_modules/@temporalio" ]; then
  tar -C "$repo" -xJf "$parts/deps/node_modules.tar.xz"
fi
# The wheels carry the server's deps; an interpreter that already has them keeps its own.
if [ -d "$parts/deps/wheels" ] && [ ! -f "$tools/site/.done" ] && ! "$py" -c 'import fastapi, uvicorn, pydantic' 2>/dev/null; then
  "$py" -m pip install -q --no-index --no-deps --no-compile --no-cache-dir --target "$tools/site" "$parts"/deps/wheels/*.whl \
    && touch "$tools/site/.done" || echo "unpack: installing the wheels failed; only 'serve' needs them" >&2
fi
export PATH="$tools/bin:$PATH"
export PYTHONPATH="$repo/python-runtime:$tools/site${PYTHONPATH:+:$PYTHONPATH}"
export VIBESERVE_PYTHON=$py
