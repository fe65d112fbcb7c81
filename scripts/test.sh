#!/usr/bin/env bash
# The whole test suite: set-up, then vitest (TypeScript, against a real Temporal dev server it
# starts itself), then pytest (the Python runtime), after the lints (ruff, pyright, tsc, eslint,
# prettier). Fails if any fails.
set -uo pipefail
cd "$(dirname "$0")/.."

bash scripts/setup.sh || exit 1

status=0
bash scripts/lint.sh || status=1
echo "== vitest"
npx vitest run "$@" || status=1
echo "== pytest (python-runtime)"
(cd python-runtime && ../.venv/bin/python -m pytest -q) || status=1

if [ "$status" -ne 0 ]; then echo "tests FAILED" >&2; else echo "tests passed"; fi
exit "$status"
