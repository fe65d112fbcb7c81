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
import importlib
import json
import os
import queue
import signal
import subprocess
import sys
import tempfile
import threading
from pathlib import Path
from typing import Any, Callable

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
        raise events.CandidateError(
            "wrong_output",
            f"the candidate's {task} output is not plain data (tensors, numbers, strings, lists, dicts): {why[:300]}",
        )
    if not isinstance(obs, dict):
        raise events.CandidateError(
            "wrong_output", f"the candidate's {task} output is a {type(obs).__name__}, not a dict"
        )
    return obs


def candidate_env(stack_dir: Path) -> dict[str, str]:
    env = dict(os.environ)
    env["PYTHONPATH"] = str(stack_dir) + (os.pathsep + env["PYTHONPATH"] if env.get("PYTHONPATH") else "")
    env[CANDIDATE_ENV] = "1"
    return env


def import_torch_meanwhile() -> None:
    """The parent reads the child's observations with torch.load once the child is done; importing
    torch (~4 s on a GPU host) while the child runs keeps that import off the candidate's wall time.
    An import statement that meets it later waits for it to finish."""
    global _torch_import
    if "torch" in sys.modules or _torch_import is not None:
        return
    _torch_import = threading.Thread(target=importlib.import_module, args=("torch",), name="import-torch", daemon=True)
    _torch_import.start()


_torch_import: threading.Thread | None = None


def run_candidate(
    stack_dir: Path, task: str, payload: dict[str, Any], device: str | None = None, timeout: float | None = None
) -> dict[str, Any]:
    """Start `_candidate <task>` for the stack, relay progress/log events, return its output.

    Any failure of the child is the candidate's (exit 2) except a usage error it reports.
    """
    return CandidateRun(stack_dir, task, payload, device, timeout).finish()


class CandidateRun:
    """One `_candidate <task>` child, started at once, its progress and log events relayed (tagged
    with `tag` when given). With turns=True the child waits before each turn of its task until
    take_turn() lets it go, so the caller can interleave several stacks' turns (cli/side_by_side.py)."""

    def __init__(
        self,
        stack_dir: Path,
        task: str,
        payload: dict[str, Any],
        device: str | None = None,
        timeout: float | None = None,
        turns: bool = False,
        tag: dict[str, Any] | None = None,
    ):
        hide_from_candidates()
        self.task, self.timeout, self.tag = task, timeout, tag or {}
        self._tmp = tempfile.TemporaryDirectory(prefix="vibeserve-cand-")
        inp, self._out = Path(self._tmp.name) / "input.json", Path(self._tmp.name) / "output.pt"
        inp.write_text(json.dumps({**payload, "turns": turns}))
        cmd = [
            sys.executable,
            "-m",
            "vibeserve_runtime",
            "_candidate",
            task,
            "--stack",
            str(stack_dir),
            "--input",
            str(inp),
            "--output",
            str(self._out),
        ]
        if device:
            cmd += ["--device", device]
        self.proc = subprocess.Popen(
            cmd,
            cwd=stack_dir,
            env=candidate_env(stack_dir),
            stdin=subprocess.PIPE if turns else subprocess.DEVNULL,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
            errors="replace",
            bufsize=1,
        )
        _children.append(self.proc)
        import_torch_meanwhile()
        self._logs = threading.Thread(
            target=_relay_logs, args=(self.proc.stderr,), name="candidate-stderr", daemon=True
        )
        self._logs.start()
        self._progress: queue.Queue[dict | None] = queue.Queue()  # None: the child's stdout closed
        self._err: dict | None = None
        self._got_result = False
        self._events = threading.Thread(target=self._read_events, name="candidate-events", daemon=True)
        self._events.start()
        self._timed_out = threading.Event()
        self._timer = None
        if timeout:

            def on_timeout():
                self._timed_out.set()
                self.proc.kill()

            self._timer = threading.Timer(timeout, on_timeout)
            self._timer.daemon = True
            self._timer.start()

    def _read_events(self) -> None:
        for line in self.proc.stdout:
            ev = events.parse_line(line)
            if ev is None:
                print(line.rstrip(), file=sys.stderr)
            elif ev["event"] == "error":
                self._err = ev
            elif ev["event"] == "result":
                self._got_result = True
            elif ev["event"] in ("progress", "log"):
                kind = ev.pop("event")
                events.emit(kind, **{**ev, **self.tag})
                if kind == "progress":
                    self._progress.put(ev)
        self._progress.put(None)

    def wait_for(self, until: Callable[[dict], bool]) -> None:
        """Blocks until the child reports a progress event `until` accepts (its failure raises)."""
        while True:
            ev = self._progress.get()
            if ev is None:
                self.finish()  # raises what stopped the child
                raise events.CandidateError("crashed", f"the candidate's {self.task} ended before it was asked to")
            if until(ev):
                return

    def take_turn(self, until: Callable[[dict], bool]) -> None:
        """Lets the child run its next turn, and waits for the progress event that ends it."""
        try:
            self.proc.stdin.write("\n")
            self.proc.stdin.flush()
        except (BrokenPipeError, ValueError):
            pass  # the child is gone: wait_for reports why
        self.wait_for(until)

    def finish(self) -> dict[str, Any]:
        """Waits for the child to end; its observations, or its failure raised."""
        try:
            if self.proc.stdin:
                self.proc.stdin.close()
            rc = self.proc.wait()
            self._events.join(timeout=5)
            self._logs.join(timeout=5)
        finally:
            if self._timer:
                self._timer.cancel()
            if self.proc.poll() is None:
                self.proc.kill()
            if self.proc in _children:
                _children.remove(self.proc)
        try:
            return self._outcome(rc)
        finally:
            self._tmp.cleanup()

    def close(self) -> None:
        """Stops the child if it still runs (a caller giving up on it)."""
        if self.proc.poll() is None:
            self.proc.kill()
        try:
            self.finish()
        except events.VibeError:
            pass

    def _outcome(self, rc: int) -> dict[str, Any]:
        task, err = self.task, self._err
        if self._timed_out.is_set():
            raise events.CandidateError("timeout", f"the candidate's {task} exceeded {self.timeout:g}s")
        if rc == 0 and self._got_result and self._out.exists():
            return _load_observations(self._out, task)
        if err is not None:
            if err.get("kind") == "usage":
                raise events.UsageError(err.get("reason", "bad_spec"), err.get("message", ""))
            raise events.CandidateError(err.get("reason", "crashed"), err.get("message", "candidate failed"))
        if rc < 0:
            sig = signal.Signals(-rc).name
            hint = " (the kernel's out-of-memory killer sends SIGKILL)" if rc == -signal.SIGKILL else ""
            raise events.CandidateError("crashed", f"the candidate process died from {sig}{hint}")
        raise events.CandidateError("crashed", f"the candidate process exited {rc} without a result")
