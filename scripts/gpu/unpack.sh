#!/usr/bin/env bash
# Unpacks the parts made by pack.sh on the GPU host. Parts may arrive in separate transfers:
# each one found is unpacked; tools land in /tmp/vibeserve-tools, node_modules in the repo root.
#   source scripts/gpu/unpack.sh [parts-dir]
set -eo pipefail
repo=$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)
parts=${1:-$repo/.carry/gpu}
tools=/tmp/vibeserve-tools
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
if [ -d "$parts/deps/wheels" ] && [ ! -f "$tools/site/.done" ]; then
  python3 -m pip install -q --no-index --no-deps --no-compile --no-cache-dir --target "$tools/site" "$parts"/deps/wheels/*.whl && touch "$tools/site/.done"
fi
export PATH="$tools/bin:$PATH"
export PYTHONPATH="$repo/python-runtime:$tools/site${PYTHONPATH:+:$PYTHONPATH}"
export VIBESERVE_PYTHON=python3
