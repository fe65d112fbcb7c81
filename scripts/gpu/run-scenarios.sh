#!/usr/bin/env bash
# Runs seed scenarios end to end on this host and records them against baselines:
#   scripts/gpu/run-scenarios.sh <results-dir> <scenario.yaml>...
# For each scenario: `vibeserve search` on the embedded stack (Temporal dev server, control worker,
# runtime worker for this host's GPU), watched to the end, then one comparison process
# (bench/scenarios/compare_stacks.py): transformers `generate` vs the generic stack vs the searched
# best stack, interleaved, 3 repetitions. Writes <results-dir>/<scenario>.json per scenario,
# <results-dir>/summary.json, search_throughput.json (candidates per hour), run.log and logs.tar.xz.
# A failing scenario is recorded and the next one runs; the stack is always taken down at the end.
# Environment:
#   VIBESERVE_RUN_BUDGET_S   seconds the whole run may take (default 570; one scenario per 10-minute slot)
#   VIBESERVE_CPU_DRY_RUN=1  run each scenario's CPU variant (bench/scenarios/prepare_scenario.py); also
#                            chosen automatically when nvidia-smi sees no GPU
#   VIBESERVE_PORT           Temporal port (default 7233; the UI uses port+1000)
#   VIBESERVE_HF_PROMPTS     requests per repetition for the transformers baseline (default 8)
#   VIBESERVE_COMPARE_REPS   repetitions of the comparison (default 3)
#   VIBESERVE_SEARCH_SHARE   percent of a scenario's share of the budget that its search may take (default 62)
#   VIBESERVE_PHASES         search,compare (default), or any of search, compare, served: a search-only run gives
#                            the search the whole budget and leaves its artifacts under VIBESERVE_HOME; a
#                            compare-only run on the same host then measures them offline (two 10-minute calls
#                            instead of one); `served` measures the searched stack, the generic stack and the peer
#                            engines each behind its own HTTP server (bench/scenarios/compare_served.py, peers from
#                            bench/peers/) into <results-dir>/served_<scenario>.json, the offline figures beside
set -uo pipefail
repo=$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)
cd "$repo"
[ $# -ge 2 ] || { echo "usage: $0 <results-dir> <scenario.yaml>..." >&2; exit 2; }
run_cmd="${VIBESERVE_PHASES:+VIBESERVE_PHASES=$VIBESERVE_PHASES }$0 $*"
results=$(mkdir -p "$1" && cd "$1" && pwd)
shift
for f in "$@"; do [ -f "$f" ] || { echo "run-scenarios: no scenario file $f" >&2; exit 2; }; done
t_start=$(date +%s)
budget=${VIBESERVE_RUN_BUDGET_S:-570}
left() { echo $((t_start + budget - $(date +%s))); }
exec > >(tee -a "$results/run.log") 2>&1
echo "run-scenarios: $(date -u +%FT%TZ) $run_cmd (budget ${budget}s)"

# shellcheck source=unpack.sh
# (an explicit argument: a sourced script would otherwise see this script's own $1)
source "$repo/scripts/gpu/unpack.sh" "${VIBESERVE_PARTS_DIR:-$repo/.carry/gpu}" || { echo "run-scenarios: unpacking the tools failed" >&2; exit 1; }
set +e
py=${VIBESERVE_PYTHON:-python3}
export VIBESERVE_HOME=${VIBESERVE_HOME:-$repo/.vibeserve}
vibeserve() { node "$repo/cli/bin/vibeserve.mjs" "$@"; }
command -v node >/dev/null || { echo "run-scenarios: no node on PATH (send the tools part first)" >&2; exit 1; }
[ -d "$repo/node_modules/@temporalio" ] || { echo "run-scenarios: no node_modules (send the deps part)" >&2; exit 1; }

gpu=$(nvidia-smi --query-gpu=name --format=csv,noheader 2>/dev/null | head -1)
cpu_mode=${VIBESERVE_CPU_DRY_RUN:-}
if [ -z "$gpu" ]; then
  [ -n "$cpu_mode" ] || echo "run-scenarios: nvidia-smi sees no GPU; running the scenarios' CPU variants"
  cpu_mode=1
  gpu="cpu ($(nproc) cores, dry run)"
fi
# on a dry run, two CPU slots let a two-device (tensor-parallel) candidate run as two gloo ranks
[ -z "$cpu_mode" ] || export VIBESERVE_CPU_SLOTS=${VIBESERVE_CPU_SLOTS:-2}
phases=${VIBESERVE_PHASES:-search,compare}
case ",$phases," in *,search,*) do_search=1 ;; *) do_search= ;; esac
case ",$phases," in *,compare,*) do_compare=1 ;; *) do_compare= ;; esac
case ",$phases," in *,served,*) do_served=1 ;; *) do_served= ;; esac
[ -n "$do_search$do_compare$do_served" ] || { echo "run-scenarios: VIBESERVE_PHASES=$phases names none of search, compare, served" >&2; exit 2; }
echo "run-scenarios: phases: $phases"
echo "run-scenarios: device: $gpu; node $(node --version); $($py -c 'import torch; print("torch", torch.__version__)')"

# A fresh Temporal history, so `--name gpu` starts a new search even if an earlier run used it.
mkdir -p "$VIBESERVE_HOME"
fresh=
if [ -n "$do_search" ] && [ ! -f "$VIBESERVE_HOME/up.json" ]; then
  fresh=1
  [ -f "$VIBESERVE_HOME/temporal.db" ] && mv "$VIBESERVE_HOME/temporal.db" "$VIBESERVE_HOME/temporal.db.$t_start"
fi
port=${VIBESERVE_PORT:-7233}
# Straight to the log file: the tee above may already be gone when the run is being killed.
teardown() { node "$repo/cli/bin/vibeserve.mjs" down >>"$results/run.log" 2>&1; }
trap teardown EXIT
trap 'exit 143' TERM INT
if [ -n "$do_search" ] && ! timeout 240 node "$repo/cli/bin/vibeserve.mjs" up --port "$port" --ui-port $((port + 1000)); then
  echo "run-scenarios: vibeserve up failed; logs under $VIBESERVE_HOME/logs" >&2
  "$py" - "$results/summary.json" "$gpu" "$run_cmd" <<'EOF'
import json, sys
json.dump({"device": sys.argv[2], "command": sys.argv[3], "error": "vibeserve up failed", "scenarios": []}, open(sys.argv[1], "w"), indent=2)
EOF
  exit 1
fi

n=$#
i=0
for file in "$@"; do
  i=$((i + 1))
  name=$("$py" -c 'import sys, yaml; print(yaml.safe_load(open(sys.argv[1]))["name"])' "$file")
  # The searched copy: paths made absolute (and the CPU variant on a dry run).
  scen=$("$py" "$repo/bench/scenarios/prepare_scenario.py" "$file" "$VIBESERVE_HOME/scenarios/$name.yaml" ${cpu_mode:+--cpu}) \
    || { echo "run-scenarios: $name: cannot read $file"; continue; }
  id="vibeserve-$name-gpu"
  if [ -n "$do_search" ]; then
    # This scenario's share of what is left; the comparison needs about a third of it. Alone, the
    # search keeps back what a stopped search needs to finish its running candidate.
    share=$(( $(left) / (n - i + 1) ))
    search_limit=$(( share * ${VIBESERVE_SEARCH_SHARE:-62} / 100 ))
    [ -n "$do_compare" ] || search_limit=$(( share - 150 ))
    echo "=== [$i/$n] $name: search (up to ${search_limit}s)${do_compare:+, then comparison}; $(left)s left"
    t0=$(date +%s)
    # The history is fresh, so artifacts under this id are an earlier run's: keep them aside.
    [ -n "$fresh" ] && [ -d "$VIBESERVE_HOME/artifacts/$id" ] && mv "$VIBESERVE_HOME/artifacts/$id" "$VIBESERVE_HOME/artifacts/$id.$t_start"
    vibeserve search "$scen" --name gpu || echo "run-scenarios: $name: search did not start"
    timeout "$search_limit" node "$repo/cli/bin/vibeserve.mjs" watch "$id" --interval 10
    rc=$?
    if [ $rc -eq 124 ]; then
      echo "run-scenarios: $name: search still running after ${search_limit}s; stopping it (the best so far counts)"
      timeout 30 node "$repo/cli/bin/vibeserve.mjs" stop "$id"
      # A stopped search still finishes its running candidate (check + benchmark, a few minutes)
      # before it writes search.json; without that file the comparison has no searched stack.
      margin=15; [ -z "$do_compare" ] || margin=90   # what the comparison after it needs to start
      wait_s=$(( $(left) / (n - i + 1) - margin ))
      [ $wait_s -ge 120 ] || wait_s=120
      timeout "$wait_s" node "$repo/cli/bin/vibeserve.mjs" watch "$id" --interval 5
    fi
    echo "run-scenarios: $name: search took $(( $(date +%s) - t0 ))s"
    # candidates per hour and the time per stage, one entry per scenario
    "$py" "$repo/bench/scenarios/search_throughput.py" "$VIBESERVE_HOME/artifacts/$id/search.json" \
      --out "$results/search_throughput.json" --device-name "$gpu" --run-command "$run_cmd" >/dev/null \
      || echo "run-scenarios: $name: no search throughput (no finished search.json)"
  fi
  if [ -n "$do_served" ]; then
    served_budget=$(( $(left) / (n - i + 1) - 30 ))
    [ -n "$do_compare" ] && served_budget=$(( served_budget / 2 ))
    VIBESERVE_RUN_BUDGET_S=$served_budget bash "$repo/scripts/gpu/run-served.sh" "$results" \
      "$scen=$VIBESERVE_HOME/artifacts/$id/search.json" || echo "run-scenarios: $name: served comparison failed"
  fi
  [ -n "$do_compare" ] || continue
  [ -f "$VIBESERVE_HOME/artifacts/$id/search.json" ] || echo "run-scenarios: $name: no search.json under $VIBESERVE_HOME/artifacts/$id (run the search phase first, on this host)"
  compare_budget=$(( $(left) / (n - i + 1) - 45 ))
  [ $compare_budget -gt 30 ] || compare_budget=30
  "$py" "$repo/bench/scenarios/compare_stacks.py" --scenario "$scen" \
    --search-json "$VIBESERVE_HOME/artifacts/$id/search.json" --out "$results/$name.json" \
    --device-name "$gpu" --run-command "$run_cmd" --time-budget-s "$compare_budget" \
    --reps "${VIBESERVE_COMPARE_REPS:-3}" --hf-prompts "${VIBESERVE_HF_PROMPTS:-8}" \
    --work-dir "$VIBESERVE_HOME/compare" ${cpu_mode:+--device cpu}
  crc=$?
  if [ $crc -ne 0 ]; then
    echo "run-scenarios: $name: comparison exited $crc"
    "$py" - "$results/$name.json" "$name" "$gpu" "$run_cmd" "$crc" <<'EOF'
import json, pathlib, sys
p = pathlib.Path(sys.argv[1])
d = json.loads(p.read_text()) if p.is_file() else {"scenario": sys.argv[2], "device": sys.argv[3], "command": sys.argv[4], "stacks": {}}
d.setdefault("errors", []).append({"stack": "*", "error": f"compare_stacks.py exited {sys.argv[5]} (see run.log)"})
p.write_text(json.dumps(d, indent=2))
EOF
  fi
done

"$py" - "$results" "$gpu" "$run_cmd" "$@" <<'EOF'
import json, pathlib, sys, yaml
res, gpu, cmd, files = pathlib.Path(sys.argv[1]), sys.argv[2], sys.argv[3], sys.argv[4:]
rows = []
for f in files:
    name = yaml.safe_load(open(f))["name"]
    p = res / f"{name}.json"
    d = json.loads(p.read_text()) if p.is_file() else {}
    rows.append({"scenario": name, "file": p.name if p.is_file() else None, "objective": d.get("objective"),
                 "ratio_vs_generic": d.get("ratio_vs_generic"), "target": d.get("target"),
                 "complete": d.get("complete", False), "errors": len(d.get("errors", [])) if d else 1})
json.dump({"device": gpu, "command": cmd, "scenarios": rows}, open(res / "summary.json", "w"), indent=2)
for r in rows:
    print(f"summary: {r['scenario']:28s} ratio vs generic {r['ratio_vs_generic']}  target {r['target']}  errors {r['errors']}")
EOF
tar -C "$VIBESERVE_HOME" -cJf "$results/logs.tar.xz" logs 2>/dev/null
echo "run-scenarios: done in $(( $(date +%s) - t_start ))s; results in $results"
