#!/usr/bin/env bash
# From a fresh checkout to a finished search: set-up, `vibeserve up` (embedded Temporal + workers),
# a search of the CPU demo scenario watched to the end, and where to look at it.
# VIBESERVE_PORT / VIBESERVE_UI_PORT move the dev server off 7233 / 8233.
set -euo pipefail
cd "$(dirname "$0")/.."

bash scripts/setup.sh
vibeserve() { node cli/bin/vibeserve.mjs "$@"; }
port="${VIBESERVE_PORT:-7233}"
ui_port="${VIBESERVE_UI_PORT:-8233}"
name="${VIBESERVE_DEMO_NAME:-demo}"
id="vibeserve-cpu-demo-$name"

vibeserve up --port "$port" --ui-port "$ui_port"
vibeserve search scenarios/cpu-demo.yaml --name "$name" --watch
vibeserve status "$id"
echo
echo "Open the search in the Temporal UI: http://localhost:$ui_port/namespaces/default/workflows/$id"
echo "Results: ${VIBESERVE_HOME:-.vibeserve}/artifacts/$id/search.json"
echo "Stop the dev server and workers with: node cli/bin/vibeserve.mjs down"
