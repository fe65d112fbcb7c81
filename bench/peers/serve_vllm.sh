#!/bin/bash
# GPU host: start vLLM's OpenAI-compatible server on a model directory (real weights, e.g. one written by
# write_checkpoint.py) with vLLM's own defaults plus whatever extra arguments are given, in its own session so it
# outlives the calling shell, and wait until /health answers.
#   bash bench/peers/serve_vllm.sh MODEL_DIR PORT [extra `vllm serve` args...]
#   e.g. bash bench/peers/serve_vllm.sh /tmp/vibeserve-peers/models/gpt2-chat 8000 --max-model-len 1024
# Prints one JSON line with the server's pid (its process group: stop it with `kill -- -PID`), URL and log.
# Fails with the log tail if the server exits or is not healthy within WAIT seconds (default 480); a server that
# timed out is stopped. --enforce-eager skips torch.compile and CUDA graphs if those misbehave (it slows vLLM).
set -uo pipefail
ROOT=$(cd "$(dirname "$0")/../.." && pwd)
source "$ROOT/bench/peers/env.sh"
[ $# -ge 2 ] || { echo "usage: $0 MODEL_DIR PORT [extra vllm serve args...]" >&2; exit 2; }
MODEL=$1; PORT=$2; shift 2
WAIT=${WAIT:-480}
[ -d "$VIBESERVE_PEERS/site/vllm" ] || { echo "vLLM is not unpacked in $VIBESERVE_PEERS/site: run bench/peers/install_vllm.sh" >&2; exit 3; }
[ -f "$MODEL/config.json" ] || { echo "$MODEL has no config.json" >&2; exit 3; }
mkdir -p "$VIBESERVE_PEERS/logs"
LOG=$VIBESERVE_PEERS/logs/vllm-$PORT.log

setsid python3 -m vllm.entrypoints.cli.main serve "$MODEL" --host 127.0.0.1 --port "$PORT" "$@" \
  > "$LOG" 2>&1 < /dev/null &
PID=$!
echo "$PID" > "$VIBESERVE_PEERS/vllm-$PORT.pid"

t0=$(date +%s)
until python3 -c "import urllib.request; urllib.request.urlopen('http://127.0.0.1:$PORT/health', timeout=2)" 2>/dev/null; do
  if ! kill -0 "$PID" 2>/dev/null; then
    echo "vLLM exited before it was healthy; last lines of $LOG:" >&2; tail -60 "$LOG" >&2; exit 1
  fi
  if [ $(( $(date +%s) - t0 )) -gt "$WAIT" ]; then
    echo "vLLM not healthy after $WAIT s: stopping it; last lines of $LOG:" >&2; tail -60 "$LOG" >&2
    kill -- -"$PID" 2>/dev/null; exit 1
  fi
  sleep 2
done
# what vLLM resolved for itself: attention backend, compilation, CUDA graphs, KV cache size
grep -E 'backend|Model Runner|model weights took|KV cache|CUDA graph|compil|max_num_seqs|max_num_batched_tokens' "$LOG" \
  | tail -15 >&2
printf '{"event": "ready", "engine": "vllm", "pid": %d, "url": "http://127.0.0.1:%s", "log": "%s", "startup_s": %d}\n' \
  "$PID" "$PORT" "$LOG" $(( $(date +%s) - t0 ))
