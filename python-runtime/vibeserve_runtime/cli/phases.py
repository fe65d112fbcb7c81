"""Wall seconds per phase of a check or bench process: check.json's and bench.json's `phase_s`
(the names are listed in docs/boundary.md). Timers sit between phases, never inside one."""

from __future__ import annotations

import os
import time

_IMPORTED = time.perf_counter()  # fallback origin where /proc is missing


def process_age_s() -> float:
    """Seconds since this process started, from the kernel's start time of the process
    (/proc/self/stat, in clock ticks of 10 ms since boot) against CLOCK_BOOTTIME, so the interpreter's
    own start and every import before this module count; elsewhere, since this module was imported."""
    try:
        with open("/proc/self/stat") as f:
            start_ticks = int(f.read().rsplit(")", 1)[1].split()[19])  # field 22, starttime
        return max(0.0, time.clock_gettime(time.CLOCK_BOOTTIME) - start_ticks / os.sysconf("SC_CLK_TCK"))
    except (OSError, ValueError, IndexError, AttributeError):
        return time.perf_counter() - _IMPORTED


class Phases:
    """Consecutive phases: lap(name) ends the phase running since the previous lap (or since
    construction, which records `import`, the process's age then, unless with_import is False).
    A name lapped twice adds up."""

    def __init__(self, with_import: bool = True):
        self.s: dict[str, float] = {"import": round(process_age_s(), 3)} if with_import else {}
        self._start = self._t = time.perf_counter()

    def lap(self, name: str, into: dict[str, float] | None = None) -> float:
        """Ends the running phase as `name` (in `into` where given, else in s); its seconds."""
        now = time.perf_counter()
        took = now - self._t
        d = self.s if into is None else into
        d[name] = round(d.get(name, 0.0) + took, 3)
        self._t = now
        return took

    def skip(self) -> None:
        """Leaves the time since the previous lap out of every phase (it is in `total` only)."""
        self._t = time.perf_counter()

    def total(self) -> float:
        """Seconds since the process started (with_import) or since construction, on the phases' clock."""
        return round(self.s.get("import", 0.0) + time.perf_counter() - self._start, 3)


def of_child(reported) -> dict[str, float]:
    """The phases a candidate child reported (cli/candidate_cmd.py), numbers only, its `import`
    renamed `child_import` beside the parent's own."""
    if not isinstance(reported, dict):
        return {}
    return {
        ("child_import" if k == "import" else k): float(v)
        for k, v in reported.items()
        if isinstance(k, str) and isinstance(v, (int, float)) and not isinstance(v, bool)
    }


def buckets_of(reported) -> list[int] | None:
    """The CUDA-graph buckets a child reported it captured (None: not a list of ints)."""
    ok = isinstance(reported, list) and all(isinstance(b, int) and not isinstance(b, bool) for b in reported)
    return reported if ok else None
