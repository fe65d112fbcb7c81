#!/usr/bin/env bash
# A search longer than one device call. The Temporal dev server and both workers run in the
# background between commands on the GPU host (which keeps them while it stays warm), and each
# command is one step of the run; the crashes it injects are recorded beside the search:
#   scripts/gpu/long-search.sh start <scenario.yaml> [vibeserve search options, e.g. --budget minutes=18]
#   scripts/gpu/long-search.sh wait <seconds>      # follow the search; exit 0 once it ended, 3 while it runs
#   scripts/gpu/long-search.sh crash runtime|control|server [down-seconds]
#                                                  # SIGKILL that process, wait, and let `vibeserve up` restart it
#   scripts/gpu/long-search.sh collect <dir>       # search.json, the candidates' check/bench.json, the crash log,
#                                                  # search_throughput.json, candidate ids checked for doubles, the report
# Every step sources unpack.sh (tools and deps may arrive with any call) and uses
# VIBESERVE_HOME (default <repo>/.vibeserve); the run's own state is $VIBESERVE_HOME/long-search.json.
set -uo pipefail
repo=$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)
cd "$repo"
# shellcheck source=unpack.sh
source "$repo/scripts/gpu/unpack.sh" "${VIBESERVE_PARTS_DIR:-$repo/.carry/gpu}" >/dev/null || { echo "long-search: unpacking the tools failed" >&2; exit 1; }
set +e
py=${VIBESERVE_PYTHON:-python3}
export VIBESERVE_HOME=${VIBESERVE_HOME:-$repo/.vibeserve}
state=$VIBESERVE_HOME/long-search.json
vibeserve() { node "$repo/cli/bin/vibeserve.mjs" "$@"; }
usage() { sed -n '4,10p' "$0" | sed 's/^# \{0,1\}//' >&2; exit 2; }
field() { "$py" -c 'import json, sys; print(json.load(open(sys.argv[1]))[sys.argv[2]])' "$state" "$1"; }
# appends {"event": ..., "at": <unix s>, ...extra} to the state's log
log_event() { "$py" - "$state" "$@" <<'EOF'
import json, sys, time
path, event, *kv = sys.argv[1:]
s = json.load(open(path))
s["events"].append({"event": event, "at": round(time.time(), 1), **dict(p.split("=", 1) for p in kv)})
json.dump(s, open(path, "w"), indent=2)
EOF
}

cmd=${1:-}
[ -n "$cmd" ] || usage
shift
case "$cmd" in
start)
  [ $# -ge 1 ] && [ -f "$1" ] || { echo "long-search: start needs a scenario file" >&2; usage; }
  file=$1
  shift
  command -v node >/dev/null || { echo "long-search: no node on PATH (send the tools part first)" >&2; exit 1; }
  [ -d "$repo/node_modules/@temporalio" ] || { echo "long-search: no node_modules (send the deps part first)" >&2; exit 1; }
  [ ! -f "$state" ] || { echo "long-search: a run is recorded in $state already (collect it, then remove the file)" >&2; exit 2; }
  mkdir -p "$VIBESERVE_HOME"
  name=$("$py" -c 'import sys, yaml; print(yaml.safe_load(open(sys.argv[1]))["name"])' "$file")
  scen=$("$py" "$repo/bench/scenarios/prepare_scenario.py" "$file" "$VIBESERVE_HOME/scenarios/$name.yaml") || exit 2
  timeout 240 node "$repo/cli/bin/vibeserve.mjs" up || { echo "long-search: vibeserve up failed; logs under $VIBESERVE_HOME/logs" >&2; exit 1; }
  id="vibeserve-$name-long"
  "$py" - "$state" "$id" "$file" "$*" <<'EOF'
import json, sys, time
json.dump({"search_id": sys.argv[2], "scenario": sys.argv[3], "search_options": sys.argv[4],
           "started": round(time.time(), 1), "events": []}, open(sys.argv[1], "w"), indent=2)
EOF
  vibeserve search "$scen" --name long "$@" || { echo "long-search: the search did not start" >&2; rm -f "$state"; exit 1; }
  ;;
wait)
  [ $# -eq 1 ] || usage
  [ -f "$state" ] || { echo "long-search: no run recorded (start one)" >&2; exit 2; }
  timeout "$1" node "$repo/cli/bin/vibeserve.mjs" watch "$(field search_id)" --interval 15
  rc=$?
  [ $rc -eq 124 ] && { echo "long-search: still running after $1 s"; exit 3; }
  exit $rc
  ;;
crash)
  [ $# -ge 1 ] || usage
  [ -f "$state" ] || { echo "long-search: no run recorded (start one)" >&2; exit 2; }
  case "$1" in
  runtime) key=runtimeWorker ;;
  control) key=controlWorker ;;
  server) key=server ;;
  *) usage ;;
  esac
  down=${2:-5}
  pid=$("$py" -c 'import json, sys; p = json.load(open(sys.argv[1])).get(sys.argv[2]); print(p["pid"] if p else "")' "$VIBESERVE_HOME/up.json" "$key")
  [ -n "$pid" ] && kill -0 "$pid" 2>/dev/null || { echo "long-search: no running $1 process recorded in $VIBESERVE_HOME/up.json" >&2; exit 1; }
  kill -KILL "$pid"
  log_event killed "process=$1" "pid=$pid"
  echo "long-search: killed the $1 (pid $pid); restarting it in $down s"
  sleep "$down"
  timeout 240 node "$repo/cli/bin/vibeserve.mjs" up || { echo "long-search: vibeserve up failed to restart the $1" >&2; exit 1; }
  log_event restarted "process=$1"
  ;;
collect)
  [ $# -eq 1 ] || usage
  [ -f "$state" ] || { echo "long-search: no run recorded (start one)" >&2; exit 2; }
  out=$(mkdir -p "$1" && cd "$1" && pwd)
  id=$(field search_id)
  art=$VIBESERVE_HOME/artifacts/$id
  [ -f "$art/search.json" ] || { echo "long-search: $art/search.json is not written yet (wait for the search to end)" >&2; exit 1; }
  cp "$state" "$out/long-search.json"
  cp "$art/search.json" "$out/search.json"
  for c in "$art"/candidates/*/; do
    mkdir -p "$out/candidates/$(basename "$c")"
    cp "$c"/check.json "$c"/bench.json "$out/candidates/$(basename "$c")/" 2>/dev/null
  done
  gpu=$(nvidia-smi --query-gpu=name --format=csv,noheader 2>/dev/null | head -1)
  "$py" "$repo/bench/scenarios/search_throughput.py" "$art/search.json" --out "$out/search_throughput.json" \
    --device-name "${gpu:-cpu}" --run-command "scripts/gpu/long-search.sh $(field scenario) $(field search_options)" >/dev/null
  # each candidate exactly once, whatever was killed on the way
  "$py" - "$out/search.json" "$out/long-search.json" <<'EOF'
import collections, json, sys
s, run = json.load(open(sys.argv[1])), json.load(open(sys.argv[2]))
ids = [c["candidateId"] for c in (s.get("leaderboard") or []) + (s.get("rejected") or [])]
doubles = sorted(i for i, n in collections.Counter(ids).items() if n > 1)
run.update(status=s.get("status"), candidates=len(ids), doubled_candidates=doubles,
           started_at=s.get("startedAt"), finished_at=s.get("finishedAt"),
           kills=[e["process"] for e in run["events"] if e["event"] == "killed"])
json.dump(run, open(sys.argv[2], "w"), indent=2)
print(f"long-search: {s.get('status')}, {len(ids)} candidates, doubled: {doubles or 'none'}, kills: {run['kills']}")
EOF
  # SVG figures (the timeline among them); the GPU host has no browser to rasterize PNGs
  vibeserve report "$id" --out "$out/report" --no-png >/dev/null 2>&1 || echo "long-search: no report (see vibeserve report $id)"
  tar -C "$VIBESERVE_HOME" -cJf "$out/logs.tar.xz" logs 2>/dev/null
  echo "long-search: collected into $out"
  ;;
*) usage ;;
esac
