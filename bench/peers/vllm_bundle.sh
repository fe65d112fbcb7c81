#!/bin/bash
# On a machine with PyPI access (no GPU needed): build the vLLM 0.26.0 site bundle for the offline GPU host
# and split it into transfer-sized parts.
#   bash bench/peers/vllm_bundle.sh
# Result: .carry/peers/vllm-1/, .carry/peers/vllm-2/, ... each holding one part of the xz-packed site tree
# and manifest.txt (every part's sha256 and the whole bundle's), so one transfer carries one folder.
# Each stage is skipped when its output is already there; rerunning after success only re-verifies.
set -euo pipefail
ROOT=$(cd "$(dirname "$0")/../.." && pwd)
LIST=$ROOT/bench/peers/vllm-0.26.0-wheels.txt
CARRY=${CARRY:-$ROOT/.carry/peers}
WHEELS=$CARRY/wheels
BUILD=$CARRY/build
BUNDLE=vllm-0.26.0-site.tar.xz
PART_MIB=${PART_MIB:-60}   # a part plus the ~3 MB tree stays under the 64 MiB a transfer may carry: two parts
PYTHON=${PYTHON:-python3}
export PIP_ROOT_USER_ACTION=ignore
# the host's glibc takes any of these; wheels name the oldest manylinux they need
PLATFORMS=()
for p in manylinux_2_35 manylinux_2_34 manylinux_2_31 manylinux_2_28 manylinux_2_27 manylinux_2_26 manylinux_2_24 \
         manylinux_2_17 manylinux2014 manylinux_2_5 manylinux1; do PLATFORMS+=(--platform "${p}_x86_64"); done
TARGET=(--only-binary=:all: --python-version 3.12 --implementation cp "${PLATFORMS[@]}")

parts_verified() {
  local first=$CARRY/vllm-1/manifest.txt
  [ -f "$first" ] || return 1
  local n k=0 kind sum size name
  n=$(grep -c '^part ' "$first")
  while read -r kind sum size name; do
    [ "$kind" = part ] || continue
    k=$((k + 1))
    local dir=$CARRY/vllm-$k
    cmp -s "$first" "$dir/manifest.txt" || return 1
    [ "$(sha256sum < "$dir/$name" 2>/dev/null | cut -d' ' -f1)" = "$sum" ] || return 1
  done < "$first"
  [ "$k" = "$n" ] && [ ! -d "$CARRY/vllm-$((n + 1))" ]
}

if parts_verified; then
  echo "bundle ready (verified):"; ls -l "$CARRY"/vllm-*/"$BUNDLE".part-*; exit 0
fi

# 1. wheels: download only those not in the cache yet
mkdir -p "$WHEELS"
missing=$("$PYTHON" - "$LIST" "$WHEELS" <<'EOF'
import re, sys
from pathlib import Path
have = {tuple(re.split(r"-", p.name)[:2]) for p in Path(sys.argv[2]).glob("*.whl")}
norm = lambda s: re.sub(r"[-_.]+", "_", s).lower()
have = {(norm(n), v) for n, v in have}
for line in open(sys.argv[1]):
    line = line.split("#")[0].strip()
    if line:
        name, ver = line.split("==")
        if (norm(name), ver) not in have:
            print(line)
EOF
)
if [ -n "$missing" ]; then
  echo "downloading $(echo "$missing" | wc -l) wheel(s) into $WHEELS"
  # shellcheck disable=SC2086
  "$PYTHON" -m pip download -q --no-deps "${TARGET[@]}" -d "$WHEELS" $missing
fi
echo "wheels: $(ls "$WHEELS"/*.whl | wc -l) in $WHEELS ($(du -sh "$WHEELS" | cut -f1))"

# 2. site tree, slimmed, packed with xz (the packed file stays, so parts can be cut again without repacking)
mkdir -p "$BUILD"
if [ ! -f "$BUILD/$BUNDLE.sha256" ]; then
  SITE=$BUILD/site
  rm -rf "$SITE" "$BUILD/$BUNDLE"
  mkdir -p "$SITE"
  wheels=()
  while read -r line; do
    line=${line%%#*}; [ -n "${line// }" ] || continue
    name=${line%%==*}; ver=${line##*==}
    wheels+=("$(ls "$WHEELS"/*.whl | grep -iE "/${name//[-_.]/[-_.]}-${ver//./\\.}-" | head -1)")
  done < "$LIST"
  "$PYTHON" -m pip install -q --no-deps --no-index --no-compile --target "$SITE" "${TARGET[@]}" "${wheels[@]}"
  # not needed on an H100 serving a decoder-only text model: the FA2 kernel (FA3 is used), the optional Rust
  # frontend, Blackwell-only FMHA, deep_gemm builds for other Pythons, console scripts with this machine's
  # shebangs, bytecode caches
  (cd "$SITE"
   rm -f vllm/vllm_flash_attn/_vllm_fa2_C.abi3.so vllm/vllm-rs vllm/third_party/deep_gemm/_C.cpython-31[0134]-x86_64-linux-gnu.so
   rm -rf vllm/third_party/fmha_sm100 bin
   # DeepGEMM's JIT headers (block-scaled fp8 GEMMs, which no model here uses) and uvloop (the host has its own):
   # without them the bundle fits two transfers instead of three
   rm -rf vllm/third_party/deep_gemm/include uvloop uvloop-*.dist-info
   find . -name __pycache__ -prune -exec rm -rf {} +)
  echo "site tree: $(du -sh "$SITE" | cut -f1); packing with xz -9 (several minutes)"
  tar -C "$SITE" --sort=name --owner=0 --group=0 --numeric-owner --mtime=@0 -cf - . \
    | xz -9 -T"$(nproc)" > "$BUILD/$BUNDLE.tmp"
  mv "$BUILD/$BUNDLE.tmp" "$BUILD/$BUNDLE"
  sha256sum < "$BUILD/$BUNDLE" | cut -d' ' -f1 > "$BUILD/$BUNDLE.sha256"
  rm -rf "$SITE"
fi

# 3. split into equal parts of at most PART_MIB, one folder per part, the same manifest in each
bytes=$(stat -c %s "$BUILD/$BUNDLE")
limit=$((PART_MIB * 1024 * 1024))
n=$(( (bytes + limit - 1) / limit ))
chunk=$(( (bytes + n - 1) / n ))
rm -rf "$CARRY"/vllm-[0-9]* "$BUILD/parts"
mkdir -p "$BUILD/parts"
split -b "$chunk" -d -a 2 --numeric-suffixes=1 "$BUILD/$BUNDLE" "$BUILD/parts/$BUNDLE.part-"
{
  echo "# vLLM 0.26.0 site bundle: join the parts in order, check the whole, unpack with tar (xz)"
  echo "whole $(cat "$BUILD/$BUNDLE.sha256") $bytes $BUNDLE"
  for f in "$BUILD"/parts/"$BUNDLE".part-*; do
    echo "part $(sha256sum < "$f" | cut -d' ' -f1) $(stat -c %s "$f") $(basename "$f")"
  done
} > "$BUILD/manifest.txt"
k=0
for f in "$BUILD"/parts/"$BUNDLE".part-*; do
  k=$((k + 1))
  mkdir -p "$CARRY/vllm-$k"
  mv "$f" "$CARRY/vllm-$k/"
  cp "$BUILD/manifest.txt" "$CARRY/vllm-$k/manifest.txt"
done
rm -rf "$BUILD/parts"
parts_verified || { echo "parts do not match their manifest" >&2; exit 1; }
echo "bundle: $bytes bytes in $n part(s):"; ls -l "$CARRY"/vllm-*/"$BUNDLE".part-*
