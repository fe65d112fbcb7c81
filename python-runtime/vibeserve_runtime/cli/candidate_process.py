"""Run a candidate stack's own code in a child process and relay its events.

The trusted process (installed runtime: reference, checker, benchmark bookkeeping) never imports
the candidate's code; the child runs with the stack directory first on sys.path, so a candidate's
modified components are what gets measured, and nothing it does can patch the checker in memory.

Inside the sandbox both processes run as the same user, so the child must not be able to speak
for the checker: it holds none of the checker's descriptors (its stdout and stderr are pipes the
checker reads), the checker is made non-dumpable so the child cannot reopen the checker's stdout
through /proc/<pid>/fd or write its memory, and the observations come back as plain data
(torch.load with weights_only), never as a pickle that could run code in the checker.
"""
from __future__ import annotations

import ctypes
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


_PR_SET_DUMPABLE = 4
_hidden = False


def hide_from_candidates() -> None:
    """Make this (trusted) process non-dumpable: a process of the same user without CAP_SYS_PTRACE
    can then neither ptrace it nor open its /proc/<pid>/fd, /proc/<pid>/mem and the like."""
    global _hidden
    if _hidden or not sys.platform.startswith("linux"):
        return
    libc = ctypes.CDLL(None, use_errno=True)
    if libc.prctl(_PR_SET_DUMPABLE, 0, 0, 0, 0) != 0:
        raise events.InfraError("sandbox", f"prctl(PR_SET_DUMPABLE) failed: {os.strerror(ctypes.get_errno())}")
    _hidden = True


def _relay_logs(stream) -> None:
    # The child's stderr is only ever a log: it goes to ours, where nothing is parsed as an event.
    for line in stream:
        sys.stderr.write(line)
    sys.stderr.flush()


def _load_observations(out: Path, task: str) -> dict[str, Any]:
    import torch
    try:
        obs = torch.load(out, weights_only=True)
    except Exception as e:  # noqa: BLE001 - whatever the candidate wrote, failing to read it is its fault
        lines = str(e).splitlines() or [type(e).__name__]
        why = next((ln.strip() for ln in lines if "WeightsUnpickler error" in ln), lines[0])
        raise events.CandidateError("wrong_output", f"the candidate's {task} output is not plain data "
                                    f"(tensors, numbers, strings, lists, dicts): {why[:300]}")
    if not isinstance(obs, dict):
        raise events.CandidateError("wrong_output", f"the candidate's {task} output is a {type(obs).__name__}, not a dict")
    return obs


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
    hide_from_candidates()
    with tempfile.TemporaryDirectory(prefix="vibeserve-cand-") as tmp:
        inp, out = Path(tmp) / "input.json", Path(tmp) / "output.pt"
        inp.write_text(json.dumps(payload))
        cmd = [sys.executable, "-m", "vibeserve_runtime", "_candidate", task, "--stack", str(stack_dir),
               "--input", str(inp), "--output", str(out)]
        if device:
            cmd += ["--device", device]
        proc = subprocess.Popen(cmd, cwd=stack_dir, env=candidate_env(stack_dir), stdin=subprocess.DEVNULL,
                                stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, errors="replace", bufsize=1)
        _children.append(proc)
        logs = threading.Thread(target=_relay_logs, args=(proc.stderr,), name="candidate-stderr", daemon=True)
        logs.start()
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
            logs.join(timeout=5)
        finally:
            if timer:
                timer.cancel()
            if proc.poll() is None:
                proc.kill()
            _children.remove(proc)
        if timed_out.is_set():
            raise events.CandidateError("timeout", f"the candidate's {task} exceeded {timeout:g}s")
        if rc == 0 and got_result and out.exists():
            return _load_observations(out, task)
        if err is not None:
            if err.get("kind") == "usage":
                raise events.UsageError(err.get("reason", "bad_spec"), err.get("message", ""))
            raise events.CandidateError(err.get("reason", "crashed"), err.get("message", "candidate failed"))
        if rc < 0:
            sig = signal.Signals(-rc).name
            hint = " (the kernel's out-of-memory killer sends SIGKILL)" if rc == -signal.SIGKILL else ""
            raise events.CandidateError("crashed", f"the candidate process died from {sig}{hint}")
        raise events.CandidateError("crashed", f"the candidate process exited {rc} without a result")
