#!/usr/bin/env bash
# Builds a minimal local base image for testing exported Dockerfiles, with no registry: a root
# filesystem holding this host's Python interpreter, /bin/sh and the installed packages that the
# artifact's requirements.txt needs (so the Dockerfile's `pip install -r` finds them satisfied),
# imported with `podman import`. It stands in for the CUDA PyTorch image (minus torch itself).
#
#   docker/test-base/make-base-image.sh <requirements.txt> <image tag>
#
# Environment: PYTHON (default: the project venv's python).
set -euo pipefail

req="$1"
tag="$2"
here="$(cd "$(dirname "$0")" && pwd)"
root_dir="$(cd "$here/../.." && pwd)"
PYTHON="${PYTHON:-$root_dir/.venv/bin/python}"

if podman image exists "$tag"; then
  echo "base image $tag already present"
  exit 0
fi

rootfs="$(mktemp -d /tmp/vibeserve-rootfs.XXXXXX)"
trap 'rm -rf "$rootfs"' EXIT

base_prefix="$("$PYTHON" -c 'import sys; print(sys.base_prefix)')"
ver="$("$PYTHON" -c 'import sys; print(f"{sys.version_info[0]}.{sys.version_info[1]}")')"
# Where the base interpreter itself looks for packages (Debian's python uses dist-packages).
site="$("$base_prefix/bin/python$ver" -I -c 'import sysconfig; print(sysconfig.get_paths()["purelib"])')"

# The interpreter and its standard library, at the same path (keeps the binary's rpath valid).
mkdir -p "$rootfs$base_prefix/bin" "$rootfs$base_prefix/lib" "$rootfs$site"
cp -a "$base_prefix/bin/python$ver" "$rootfs$base_prefix/bin/"
cp -a "$base_prefix"/lib/libpython"$ver"*.so* "$rootfs$base_prefix/lib/" 2>/dev/null || true
(cd "$base_prefix/lib" && tar -cf - --exclude="python$ver/site-packages" --exclude="python$ver/test" \
  --exclude="python$ver/idlelib" --exclude="python$ver/tkinter" --exclude="python$ver/lib2to3" \
  --exclude="python$ver/ensurepip" --exclude='__pycache__' "python$ver") | tar -xf - -C "$rootfs$base_prefix/lib"

# The packages the requirements need (and pip itself), copied from the venv's site-packages.
venv_site="$("$PYTHON" -c 'import sysconfig; print(sysconfig.get_paths()["purelib"])')"
"$PYTHON" "$here/python_closure.py" "$req" pip > "$rootfs.files"
tar -C "$venv_site" -cf - -T "$rootfs.files" | tar -xf - -C "$rootfs$site"
rm -f "$rootfs.files"

# A shell for RUN instructions, and every shared library the binaries load.
mkdir -p "$rootfs/bin" "$rootfs/usr/local/bin" "$rootfs/tmp" "$rootfs/etc" "$rootfs/root"
chmod 1777 "$rootfs/tmp"
cp -a /bin/dash "$rootfs/bin/sh"
ln -s "$base_prefix/bin/python$ver" "$rootfs/usr/local/bin/python3"
ln -s python3 "$rootfs/usr/local/bin/python"
echo "root:x:0:0:root:/root:/bin/sh" > "$rootfs/etc/passwd"
echo "root:x:0:" > "$rootfs/etc/group"
# (ldd fails on the odd non-ELF match; libraries bundled inside the root filesystem are skipped.)
find "$rootfs" -type f \( -name '*.so*' -o -path '*/bin/*' \) -print0 \
  | { xargs -0 ldd 2>/dev/null || true; } | awk '/=> \// {print $3} /^\t\/lib/ {print $1}' | sort -u \
  | while read -r lib; do
      case "$lib" in "$rootfs"*) continue ;; esac
      if [ -e "$rootfs$lib" ]; then continue; fi
      mkdir -p "$rootfs$(dirname "$lib")"
      cp -L "$lib" "$rootfs$lib"
    done

tar -C "$rootfs" -cf - . | podman import --change 'ENV PATH=/usr/local/bin:/usr/bin:/bin' - "$tag" >/dev/null
echo "base image $tag: $(du -sh "$rootfs" | cut -f1) root filesystem"
