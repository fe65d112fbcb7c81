"""Inductor's CPU vector-ISA probe, once per host rather than once per process.

Before it compiles CPU code, Inductor checks each vector ISA the CPU reports (AVX2, AVX-512, ...) by
building a small library and loading it in a fresh `python -c "import torch ..."`: about 1.5 s per
ISA, six of them on this project's CPU machine, in every process that compiles (a candidate's check
and its benchmark each pay ~10 s). The verdict depends on the host only, so the first process records
it and the later ones tell Inductor (`config.cpp.vec_isa_ok`, which TORCHINDUCTOR_VEC_ISA_OK also
sets) that every ISA the CPU reports builds, when that is what the probe found; otherwise they probe
as before.
"""

from __future__ import annotations

import json
import os
import platform
import shutil
import sys
from pathlib import Path


def verdict_file() -> Path:
    base = os.environ.get("XDG_CACHE_HOME") or os.path.join(os.path.expanduser("~"), ".cache")
    return Path(base) / "vibeserve" / "inductor_vec_isa.json"


def _host_key() -> dict:
    """What the probe's answer depends on: torch, the CPU's flags and the C++ compiler Inductor calls."""
    import torch
    from torch._inductor import cpu_vec_isa

    compiler = shutil.which(os.environ.get("CXX", "c++")) or ""
    return {
        "torch": torch.__version__,
        "python": sys.executable,
        "cpu_isa": sorted(cpu_vec_isa.x86_isa_checker()),
        "compiler": [compiler, os.stat(compiler).st_mtime_ns if compiler else None],
    }


def settle_vec_isa() -> bool | None:
    """Sets Inductor's vec_isa_ok from this host's recorded probe, probing (and recording) first when
    there is none. Returns the verdict, or None where it does not apply (not x86, or set already)."""
    from torch._inductor import config, cpu_vec_isa

    if platform.machine() not in ("x86_64", "AMD64") or config.cpp.vec_isa_ok is not None:
        return None
    key, path = _host_key(), verdict_file()
    try:
        recorded = json.loads(path.read_text())
    except (OSError, ValueError):
        recorded = None
    if isinstance(recorded, dict) and recorded.get("key") == key:
        all_build = bool(recorded.get("all_build"))
    else:
        reported = set(key["cpu_isa"])
        offered = [isa for isa in cpu_vec_isa.supported_vec_isa_list if set(str(isa).split()) <= reported]
        all_build = all(bool(isa) for isa in offered)  # the probe itself: builds and loads each
        try:
            path.parent.mkdir(parents=True, exist_ok=True)
            tmp = path.with_suffix(f".{os.getpid()}.tmp")
            tmp.write_text(json.dumps({"key": key, "all_build": all_build, "isa": [str(i) for i in offered]}))
            tmp.replace(path)
        except OSError:
            pass  # an unwritable cache directory: the next process probes again
    if all_build:
        config.cpp.vec_isa_ok = True
    return all_build
