"""JSON-lines events and exit codes of the TypeScript ⇄ Python boundary (docs/boundary.md).

stdout carries only events, one JSON object per line; human-readable logs go to stderr.
"""

from __future__ import annotations

import json
import math
import sys
import threading
import time
from typing import Any

EXIT_OK = 0
EXIT_INFRASTRUCTURE = 1
EXIT_CANDIDATE = 2
EXIT_USAGE = 3

_KIND_EXIT = {"candidate": EXIT_CANDIDATE, "usage": EXIT_USAGE, "infrastructure": EXIT_INFRASTRUCTURE}
_lock = threading.Lock()
# The real stdout, kept aside so that a stray print() from library code can be sent to stderr
# (see redirect_prints) without corrupting the event stream.
_out = sys.stdout


class VibeError(Exception):
    """A failure with a boundary classification: kind decides the exit code, reason is a tag."""

    def __init__(self, kind: str, reason: str, message: str, **extra: Any):
        super().__init__(message)
        assert kind in _KIND_EXIT, kind
        self.kind, self.reason, self.message, self.extra = kind, reason, message, extra

    @property
    def exit_code(self) -> int:
        return _KIND_EXIT[self.kind]


def CandidateError(reason: str, message: str, **extra: Any) -> VibeError:
    return VibeError("candidate", reason, message, **extra)


def UsageError(reason: str, message: str, **extra: Any) -> VibeError:
    return VibeError("usage", reason, message, **extra)


def InfraError(reason: str, message: str, **extra: Any) -> VibeError:
    return VibeError("infrastructure", reason, message, **extra)


def _clean(x: Any) -> Any:
    # JSON has no NaN/Infinity; a metric that is undefined is reported as null.
    if isinstance(x, float) and not math.isfinite(x):
        return None
    if isinstance(x, dict):
        return {str(k): _clean(v) for k, v in x.items()}
    if isinstance(x, (list, tuple)):
        return [_clean(v) for v in x]
    return x


_last_progress: dict[str, Any] | None = None
_last_emit = 0.0


def emit(event: str, **fields: Any) -> None:
    global _last_progress, _last_emit
    line = json.dumps(_clean({"event": event, **fields}), default=str)
    with _lock:
        _out.write(line + "\n")
        _out.flush()
        _last_emit = time.monotonic()
        if event == "progress":
            _last_progress = fields
        elif event in ("result", "error"):
            _last_progress = None  # nothing may follow the final answer


def start_heartbeat(interval_s: float = 5.0) -> None:
    """Repeat the last progress event when a long step (loading a large model, a slow reference
    forward) prints nothing for interval_s, so the caller's heartbeat timeout stays short."""

    def beat():
        while True:
            time.sleep(interval_s / 2)
            if _last_progress is not None and time.monotonic() - _last_emit >= interval_s:
                emit("progress", **{**_last_progress, "heartbeat": True})

    threading.Thread(target=beat, name="heartbeat", daemon=True).start()


def progress(stage: str, done: int, total: int, message: str | None = None, **extra: Any) -> None:
    fields: dict[str, Any] = {"stage": stage, "done": int(done), "total": int(total)}
    if message:
        fields["message"] = message
    emit("progress", **fields, **extra)


def log(message: str, level: str = "info") -> None:
    emit("log", level=level, message=message)


def result(**payload: Any) -> None:
    emit("result", **payload)


def error(err: VibeError) -> None:
    emit("error", kind=err.kind, reason=err.reason, message=err.message, **err.extra)


def redirect_prints() -> None:
    """Send print() output of imported libraries to stderr; events still go to the real stdout."""
    global _out
    _out = sys.stdout
    sys.stdout = sys.stderr


def parse_line(line: str) -> dict[str, Any] | None:
    """Parse one line of a child's stdout; non-JSON lines are logs (None)."""
    line = line.strip()
    if not line.startswith("{"):
        return None
    try:
        obj = json.loads(line)
    except json.JSONDecodeError:
        return None
    return obj if isinstance(obj, dict) and "event" in obj else None
