"""Run a candidate stack's own code in a child process and relay its events.

The trusted process (installed runtime: reference, checker, benchmark bookkeeping) never imports
the candidate's code; the child runs with the stack directory first on sys.path, so a candidate's
modified components are what gets measured, and nothing it does can patch the checker in memory.
"""
from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import tempfile
import threading
from pathlib import Path
from typing import Any

from .. import events
from .main import CANDIDATE_ENV

_children: list[subprocess.Popen] = []


def kill_children() -> None:
    for p in list(_children):
        if p.poll() is None:
            p.kill()


def candidate_env(stack_dir: Path) -> dict[str, str]:
    env = dict(os.environ)
    env["PYTHONPATH"] = str(stack_dir) + (os.pathsep + env["PYTHONPATH"] if env.get("PYTHONPATH") else "")
    env[CANDIDATE_ENV] = "1"
    return env


def run_candidate(stack_dir: Path, task: str, payload: dict[str, Any], device: str | None = None,
                  timeout: float | None = None) -> dict[str, Any]:
    """Start `_candidate <task>` for the stack, relay progress/log events, return its output.

    Any failure of the child is the candidate's (exit 2) except a usage error it reports.
    """
    with tempfile.TemporaryDirectory(prefix="vibeserve-cand-") as tmp:
        inp, out = Path(tmp) / "input.json", Path(tmp) / "output.pt"
        inp.write_text(json.dumps(payload))
        cmd = [sys.executable, "-m", "vibeserve_runtime", "_candidate", task, "--stack", str(stack_dir),
               "--input", str(inp), "--output", str(out)]
        if device:
            cmd += ["--device", device]
        proc = subprocess.Popen(cmd, cwd=stack_dir, env=candidate_env(stack_dir), stdout=subprocess.PIPE,
                                stderr=None, text=True, bufsize=1)
        _children.append(proc)
        timer = None
        timed_out = threading.Event()
        if timeout:
            def on_timeout():
                timed_out.set()
                proc.kill()
            timer = threading.Timer(timeout, on_timeout)
            timer.daemon = True
            timer.start()
        err: dict | None = None
        got_result = False
        try:
            for line in proc.stdout:
                ev = events.parse_line(line)
                if ev is None:
                    print(line.rstrip(), file=sys.stderr)
                elif ev["event"] == "error":
                    err = ev
                elif ev["event"] == "result":
                    got_result = True
                elif ev["event"] in ("progress", "log"):
                    kind = ev.pop("event")
                    events.emit(kind, **ev)
            rc = proc.wait()
        finally:
            if timer:
                timer.cancel()
            if proc.poll() is None:
                proc.kill()
            _children.remove(proc)
        if timed_out.is_set():
            raise events.CandidateError("timeout", f"the candidate's {task} exceeded {timeout:g}s")
        if rc == 0 and got_result and out.exists():
            import torch
            return torch.load(out, weights_only=False)
        if err is not None:
            if err.get("kind") == "usage":
                raise events.UsageError(err.get("reason", "bad_spec"), err.get("message", ""))
            raise events.CandidateError(err.get("reason", "crashed"), err.get("message", "candidate failed"))
        if rc < 0:
            sig = signal.Signals(-rc).name
            hint = " (the kernel's out-of-memory killer sends SIGKILL)" if rc == -signal.SIGKILL else ""
            raise events.CandidateError("crashed", f"the candidate process died from {sig}{hint}")
        raise events.CandidateError("crashed", f"the candidate process exited {rc} without a result")
