#!/usr/bin/env bash
# Served comparison of seed scenarios on this GPU host: the generic stack, a searched design and the
# peer engines (vLLM, transformers' continuous batching, llama.cpp), each behind its own HTTP server, driven by
# the project's load generator (bench/scenarios/compare_served.py).
#   scripts/gpu/run-served.sh <results-dir> <scenario.yaml>[=<design-source.json>]...
# A scenario may name where its `searched` design comes from: a search.json (its leaderboard's best)
# or an earlier results file (its recorded best design, re-measured). Writes
# <results-dir>/served_<scenario>.json and logs_<scenario>.tar.xz (each engine's log) per scenario, and
# run.log; a failing scenario is recorded and the next one runs.
# Environment:
#   VIBESERVE_RUN_BUDGET_S   seconds the whole run may take (default 560), shared by the scenarios
#   VIBESERVE_PEER_ENGINES   peer engines (default vllm,transformers-cb; vllm only once
#                            bench/peers/install_vllm.sh has unpacked its bundle; llama.cpp once
#                            bench/peers/build_llama_server.sh has built it: a random-weights scenario's
#                            checkpoint is written as a GGUF by its converter, bench/peers/write_gguf.py)
#   VIBESERVE_COMPARE_REPS   repetitions (default 3)
#   VIBESERVE_SERVED_ARGS    more arguments for compare_served.py (e.g. --no-saturating --reserve-s 0)
set -uo pipefail
repo=$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)
cd "$repo"
[ $# -ge 2 ] || { echo "usage: $0 <results-dir> <scenario.yaml>[=<design-source.json>]..." >&2; exit 2; }
results=$(mkdir -p "$1" && cd "$1" && pwd)
shift
t_start=$(date +%s)
budget=${VIBESERVE_RUN_BUDGET_S:-560}
exec > >(tee -a "$results/run.log") 2>&1
echo "run-served: $(date -u +%FT%TZ) $0 $* (budget ${budget}s)"

peers=${VIBESERVE_PEER_ENGINES:-vllm,transformers-cb}
if [ -d "${VIBESERVE_PEERS:-/tmp/vibeserve-peers}/site/vllm" ]; then
  # shellcheck source=../../bench/peers/env.sh
  source "$repo/bench/peers/env.sh"
else
  echo "run-served: no vLLM bundle unpacked (bench/peers/install_vllm.sh); measuring without vLLM"
  peers=$(echo ",$peers," | sed 's/,vllm,/,/; s/^,//; s/,$//')
fi
llama_server=${VIBESERVE_LLAMA_SERVER:-/tmp/vibeserve-peers/llama.cpp/build/bin/llama-server}
if [[ ",$peers," == *",llama.cpp,"* ]] && [ ! -x "$llama_server" ]; then
  echo "run-served: no llama-server at $llama_server (bench/peers/build_llama_server.sh); measuring without llama.cpp"
  peers=$(echo ",$peers," | sed 's/,llama\.cpp,/,/; s/^,//; s/,$//')
fi
export PYTHONPATH="$repo/python-runtime${PYTHONPATH:+:$PYTHONPATH}"
py=${VIBESERVE_PYTHON:-python3}
gpu=$(nvidia-smi --query-gpu=name --format=csv,noheader 2>/dev/null | head -1)
echo "run-served: device: ${gpu:-none}; peers: ${peers:-none}; $($py -c 'import torch; print("torch", torch.__version__)')"

n=$#
i=0
for arg in "$@"; do
  i=$((i + 1))
  file=${arg%%=*}
  source_json=; [ "$arg" != "$file" ] && source_json=${arg#*=}
  name=$("$py" -c 'import sys, yaml; print(yaml.safe_load(open(sys.argv[1]))["name"])' "$file") || continue
  left=$((t_start + budget - $(date +%s)))
  share=$((left / (n - i + 1)))
  echo "=== [$i/$n] $name: up to ${share}s"
  extra=()
  case "$source_json" in
    "") ;;
    *search.json) extra=(--search-json "$source_json") ;;
    *) extra=(--design-from "$source_json") ;;
  esac
  timeout -s TERM $((share + 60)) "$py" bench/scenarios/compare_served.py --scenario "$file" \
    --out "$results/served_$name.json" --peers "$peers" --reps "${VIBESERVE_COMPARE_REPS:-3}" \
    --time-budget-s "$share" --device-name "${gpu:-cpu}" \
    --run-command "${VIBESERVE_SERVED_ARGS:+VIBESERVE_SERVED_ARGS='$VIBESERVE_SERVED_ARGS' }scripts/gpu/run-served.sh $(basename "$results") $arg" \
    "${extra[@]}" ${VIBESERVE_SERVED_ARGS:-} \
    || echo "run-served: $name: compare_served.py exited $?"
  # every engine's own log (a peer's settings and warnings explain its figures), the last 2 MB of each
  logs="$repo/.vibeserve/compare-served/$name/logs"
  if [ -d "$logs" ]; then
    mkdir -p "$results/logs_$name" && for f in "$logs"/*; do tail -c 2000000 "$f" > "$results/logs_$name/$(basename "$f")"; done
    tar -C "$results" -cJf "$results/logs_$name.tar.xz" "logs_$name" && rm -rf "${results:?}/logs_$name"
  fi
done
echo "run-served: done in $(( $(date +%s) - t_start ))s"
