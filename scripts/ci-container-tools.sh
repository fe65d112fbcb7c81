#!/usr/bin/env bash
# Installs the container and browser tools the artifact tests use: Debian's podman (a real image
# builder; it also serves the Docker API for the dockerode tests) and Debian's chromium (headless
# report rendering with playwright-core). Idempotent: installs only what is missing.
set -euo pipefail

need=()
command -v podman >/dev/null 2>&1 || need+=(podman)
# uidmap/fuse-overlayfs/slirp4netns come with podman; crun is the OCI runtime it needs.
command -v crun >/dev/null 2>&1 || command -v runc >/dev/null 2>&1 || need+=(crun)
[ -x /usr/bin/chromium ] || need+=(chromium)

if [ ${#need[@]} -eq 0 ]; then
  echo "ci-container-tools: podman and chromium already installed"
  exit 0
fi

SUDO=""
if [ "$(id -u)" -ne 0 ]; then SUDO="sudo"; fi
echo "ci-container-tools: installing ${need[*]}"
export DEBIAN_FRONTEND=noninteractive
$SUDO apt-get update -qq
$SUDO apt-get install -y -qq --no-install-recommends "${need[@]}" >/dev/null
echo "ci-container-tools: podman $(podman --version 2>/dev/null | awk '{print $3}'), $(/usr/bin/chromium --version 2>/dev/null || echo 'chromium missing')"
