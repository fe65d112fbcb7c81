#!/usr/bin/env bash
# The fast suite for daily work: the lints and the unit tests of both languages, no Temporal server,
# no served models (a few minutes on 2 cores). `npm test` runs everything, as CI does.
set -uo pipefail
cd "$(dirname "$0")/.."

bash scripts/setup.sh >/dev/null || exit 1

status=0
bash scripts/lint.sh || status=1
echo "== vitest (unit, search, results table)"
npx vitest run test/unit test/search test/scenarios/resultsTable.test.ts "$@" || status=1
echo "== pytest (python-runtime, unit files)"
(cd python-runtime && ../.venv/bin/python -m pytest -q tests/test_bench_metrics.py tests/test_bench_timing.py \
  tests/test_engine_spec.py tests/test_kernels_triton.py tests/test_checker_token_rules.py \
  tests/test_kv_paged_accounting.py tests/test_engine_multi_step.py tests/test_compare_stacks_kv_pool.py) || status=1

if [ "$status" -ne 0 ]; then echo "fast tests FAILED" >&2; else echo "fast tests passed"; fi
exit "$status"
