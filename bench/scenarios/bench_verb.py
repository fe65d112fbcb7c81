"""The `bench` verb on a stack directory, run in a child process as a search runs it (what candidates are
ranked by): its result event. The scripts that set it beside another path (bench/gpu/bench_vs_harness.py,
bench/gpu/served_vs_offline.py) or stacks beside each other (prefix_cache_ab.py) start it here."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

from vibeserve_runtime.bench.workload import Workload

REPO = Path(__file__).resolve().parents[2]


def runtime_env() -> dict[str, str]:
    """The runtime importable by the verbs a script starts, whatever the caller's PYTHONPATH."""
    path = [str(REPO / "python-runtime"), *filter(None, [os.environ.get("PYTHONPATH")])]
    return {**os.environ, "PYTHONPATH": os.pathsep.join(path)}


def bench_verb_command(stack: Path, device: str, w: Workload, with_stacks: tuple[Path, ...] = ()) -> list[str]:
    cmd = [sys.executable, "-m", "vibeserve_runtime", "bench", "--stack", str(stack), "--device", device]
    cmd += [a for d in with_stacks for a in ("--with", str(d))]
    return cmd + ["--workload", json.dumps(w.to_dict()), "--no-profile"]


def run_bench_verb(stack: Path, device: str, w: Workload, with_stacks: tuple[Path, ...] = ()) -> dict:
    """The verb's result event for the workload (its `repetitions` hold one entry per repetition; with
    `with_stacks`, its `stacks` one entry per stack, measured interleaved); no decode profile, so
    nothing but the timed repetitions runs after the warm-up."""
    cmd = bench_verb_command(stack, device, w, with_stacks)
    p = subprocess.run(cmd, capture_output=True, text=True, env=runtime_env())
    result = next((json.loads(ln) for ln in p.stdout.splitlines() if ln.startswith('{"event": "result"')), None)
    if p.returncode != 0 or result is None:
        raise RuntimeError(f"bench verb exited {p.returncode}: {(p.stdout + p.stderr)[-1500:]}")
    return result
