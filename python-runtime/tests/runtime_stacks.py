"""Shared by the CLI/server/checker/bench tests: run verbs as the TypeScript side does, and
materialize tiny stacks."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
from pathlib import Path

PY = sys.executable
TINY_LLAMA = {
    "name": "tiny-llama-paged",
    "model": {"arch": "llama", "preset": "tiny-llama", "seed": 0},
    "components": {"kv_cache": "paged", "scheduler": "continuous"},
    "params": {"max_model_len": 256, "max_batch_size": 8},
    "device": "cpu",
}


def run_verb(*args: str, timeout: float = 300, cwd: str | None = None, env: dict | None = None):
    """→ (exit code, list of JSON events, stderr)."""
    p = subprocess.run(
        [PY, "-m", "vibeserve_runtime", *args],
        capture_output=True,
        text=True,
        timeout=timeout,
        cwd=cwd,
        env={**os.environ, **(env or {})},
    )
    evs = []
    for line in p.stdout.splitlines():
        assert line.startswith("{"), f"non-JSON line on stdout: {line!r}"
        evs.append(json.loads(line))
    return p.returncode, evs, p.stderr


def result_of(evs: list[dict]) -> dict:
    res = [e for e in evs if e["event"] == "result"]
    assert len(res) == 1, evs
    return res[0]


def error_of(evs: list[dict]) -> dict:
    errs = [e for e in evs if e["event"] == "error"]
    assert errs, evs
    return errs[-1]


def materialize(tmp: Path, spec: dict | None = None, name: str = "stack") -> Path:
    out = tmp / name
    rc, evs, err = run_verb("materialize", "--spec", json.dumps(spec or TINY_LLAMA), "--out", str(out))
    assert rc == 0, (evs, err)
    return out


def stop_process(proc: subprocess.Popen) -> None:
    """Terminate a server started by a test, killing it if it does not stop within 10 s."""
    if proc.poll() is None:
        proc.terminate()
        try:
            proc.wait(10)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()


class Server:
    """`serve --port 0` started as a real process; the URL comes from its ready event."""

    def __init__(self, stack: Path, *extra: str, api_key: str | None = None):
        env = {**os.environ, **({"VIBESERVE_API_KEY": api_key} if api_key else {})}
        self.proc = subprocess.Popen(
            [PY, "-m", "vibeserve_runtime", "serve", "--stack", str(stack), "--port", "0", *extra],
            stdout=subprocess.PIPE,
            stderr=subprocess.DEVNULL,
            text=True,
            env=env,
        )
        self.url = None
        deadline = time.time() + 120
        for line in self.proc.stdout:
            ev = json.loads(line)
            if ev["event"] == "ready":
                self.url = ev["url"]
                break
            if ev["event"] == "error" or time.time() > deadline:
                break
        if self.url is None:
            self.close()
            raise RuntimeError("server did not become ready")

    def close(self):
        stop_process(self.proc)

    def metric(self, name: str) -> float:
        import httpx

        for line in httpx.get(self.url + "/metrics").text.splitlines():
            if line.startswith(name + " ") or line.startswith(name + "{"):
                return float(line.rsplit(" ", 1)[1])
        raise KeyError(name)
