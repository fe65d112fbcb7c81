#!/usr/bin/env bash
# Every lint and type check, each run even when one before it fails; exits 1 if any failed.
# `npm run lint`, and the first step of scripts/test.sh and scripts/test-fast.sh.
set -uo pipefail
cd "$(dirname "$0")/.."

status=0
echo "== ruff (python lint, ruff.toml)"
.venv/bin/ruff check . || status=1
.venv/bin/ruff format --check . || status=1
echo "== pyright (python types, pyrightconfig.json)"
npx pyright || status=1
echo "== tsc (typescript types)"
npx tsc --noEmit || status=1
echo "== eslint (typescript lint, eslint.config.js)"
npx eslint . || status=1
echo "== prettier (typescript, json and yaml format, .prettierrc.json)"
npx prettier --check --log-level warn . || status=1
exit "$status"
