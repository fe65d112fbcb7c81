#!/bin/bash
# GPU host, from the repository root, in every transfer: park the vLLM bundle part this transfer carries
# (.carry/peers/vllm-K/) in /tmp, and once every part has arrived, join, verify and unpack the bundle.
#   bash bench/peers/install_vllm.sh
# Exits 0 with "waiting for parts: ..." while parts are missing; once unpacked (a marker records which bundle),
# later calls only print the import check. /tmp lives only while the host stays up: parts parked on a host that
# went away must be sent again.
set -euo pipefail
ROOT=$(cd "$(dirname "$0")/../.." && pwd)
source "$ROOT/bench/peers/env.sh"
PARTS=$VIBESERVE_PEERS/parts
SITE=$VIBESERVE_PEERS/site
MARKER=$SITE/.vibeserve-bundle-sha256
mkdir -p "$PARTS"

sha() { sha256sum < "$1" | cut -d' ' -f1; }
whole_of() { awk '$1 == "whole" {print $2}' "$1"; }

import_check() {
  python3 - <<'EOF'
import importlib
names = ["vllm", "fastapi", "uvicorn", "pydantic", "torch", "transformers"]
try:
    found = {n: importlib.import_module(n).__version__ for n in names}
except Exception as e:
    raise SystemExit(f"import check FAILED: {type(e).__name__}: {e}")
print("import check ok: " + " | ".join(f"{n} {v}" for n, v in found.items()))
EOF
}

# The bundle goes first on PYTHONPATH, so an older copy of a package the host already has would shadow
# the host's (typing_extensions once did: the host's torch stack needed a newer one). Keep the host's
# copy of every distribution it has at the same or a newer version.
drop_shadowed() {
  python3 - "$1" <<'EOF'
import re, sys
from importlib.metadata import PackageNotFoundError, distributions, version
from pathlib import Path

site = Path(sys.argv[1])
def key(v):
    return [int(x) for x in re.findall(r"\d+", v)[:4]]
for dist in list(distributions(path=[str(site)])):
    name, bundled = dist.metadata["Name"], dist.version
    try:
        host = version(name)   # PYTHONPATH does not hold the unpacked bundle yet: this is the host's
    except PackageNotFoundError:
        continue
    if key(host) < key(bundled):
        continue
    files = [site / f for f in dist.files or []]
    for f in files:
        f.unlink(missing_ok=True)
    for d in sorted({f.parent for f in files}, key=lambda d: -len(d.parts)):
        if d != site and d.is_dir() and not any(d.iterdir()):
            d.rmdir()
    print(f"dropped the bundle's {name} {bundled}: the host has {host}")
EOF
}

# 1. park the parts that came with this transfer, each checked against its manifest
for dir in "$ROOT"/.carry/peers/vllm-*/; do
  [ -f "$dir/manifest.txt" ] || continue
  if [ -f "$MARKER" ] && [ "$(cat "$MARKER")" = "$(whole_of "$dir/manifest.txt")" ]; then continue; fi
  if [ -f "$PARTS/manifest.txt" ] && [ "$(whole_of "$PARTS/manifest.txt")" != "$(whole_of "$dir/manifest.txt")" ]; then
    echo "a different bundle arrived: dropping the parts parked for the previous one"
    rm -f "$PARTS"/*
  fi
  cp "$dir/manifest.txt" "$PARTS/manifest.txt"
  while read -r kind sum size name; do
    [ "$kind" = part ] && [ -f "$dir/$name" ] || continue
    if [ -f "$PARTS/$name" ] && [ "$(sha "$PARTS/$name")" = "$sum" ]; then continue; fi
    [ "$(sha "$dir/$name")" = "$sum" ] || { echo "$dir$name: sha256 does not match its manifest" >&2; exit 4; }
    cp "$dir/$name" "$PARTS/$name.tmp" && mv "$PARTS/$name.tmp" "$PARTS/$name"
    echo "parked $name ($size bytes)"
  done < "$dir/manifest.txt"
done

if [ ! -f "$PARTS/manifest.txt" ]; then
  if [ -f "$MARKER" ]; then import_check; exit 0; fi
  echo "waiting for parts: none has arrived yet (transfer K carries .carry/peers/vllm-K)"; exit 0
fi
want=$(whole_of "$PARTS/manifest.txt")
if [ -f "$MARKER" ] && [ "$(cat "$MARKER")" = "$want" ]; then
  rm -f "$PARTS"/*
  echo "vLLM bundle already unpacked in $SITE"; import_check; exit 0
fi

# 2. every part there? (a part parked by an earlier transfer is checked again: /tmp is not trusted blindly)
missing=(); parts=()
while read -r kind sum size name; do
  [ "$kind" = part ] || continue
  if [ -f "$PARTS/$name" ] && [ "$(stat -c %s "$PARTS/$name")" = "$size" ]; then
    parts+=("$PARTS/$name")
  else
    missing+=("$name")
  fi
done < "$PARTS/manifest.txt"
if [ ${#missing[@]} -gt 0 ]; then
  echo "waiting for parts: ${missing[*]} (have ${#parts[@]} of $(( ${#parts[@]} + ${#missing[@]} )))"; exit 0
fi

# 3. join, verify, unpack beside the target and move it into place
got=$(cat "${parts[@]}" | sha256sum | cut -d' ' -f1)
if [ "$got" != "$want" ]; then
  echo "joined bundle sha256 $got does not match the manifest's $want: dropping the parts" >&2
  rm -f "$PARTS"/*; exit 5
fi
t0=$(date +%s)
rm -rf "$SITE.partial" "$SITE"; mkdir -p "$SITE.partial"
if command -v xz > /dev/null; then
  cat "${parts[@]}" | xz -dc -T0 | tar -x -f - -C "$SITE.partial"
else
  cat "${parts[@]}" | python3 -c '
import sys, tarfile
with tarfile.open(fileobj=sys.stdin.buffer, mode="r|xz") as t:
    t.extractall(sys.argv[1], filter="fully_trusted")' "$SITE.partial"
fi
drop_shadowed "$SITE.partial"
echo "$want" > "$SITE.partial/.vibeserve-bundle-sha256"
mv "$SITE.partial" "$SITE"
rm -f "$PARTS"/*
echo "unpacked in $(( $(date +%s) - t0 )) s: $(du -sh "$SITE" | cut -f1) in $SITE"
import_check
