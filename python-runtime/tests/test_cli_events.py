"""The boundary's event stream and exit-code classification."""

import json
import subprocess
import sys

from vibeserve_runtime.cli.main import classify
from vibeserve_runtime.events import EXIT_CANDIDATE, EXIT_INFRASTRUCTURE, EXIT_USAGE, UsageError, parse_line


def test_classification(monkeypatch):
    class OutOfMemoryError(RuntimeError):
        pass

    monkeypatch.delenv("VIBESERVE_CANDIDATE", raising=False)
    assert (classify(OutOfMemoryError("CUDA out of memory")).exit_code, classify(OutOfMemoryError("x")).reason) == (
        EXIT_CANDIDATE,
        "out_of_memory",
    )
    assert classify(KeyError("k")).exit_code == EXIT_INFRASTRUCTURE
    monkeypatch.setenv("VIBESERVE_CANDIDATE", "1")
    e = classify(ZeroDivisionError("division by zero"))
    assert e.exit_code == EXIT_CANDIDATE and e.reason == "crashed" and "ZeroDivisionError" in e.message
    assert UsageError("bad_spec", "x").exit_code == EXIT_USAGE


def test_parse_line_treats_non_json_as_logs():
    assert parse_line('{"event": "progress", "done": 1}') == {"event": "progress", "done": 1}
    assert parse_line("Loading weights: 100%") is None and parse_line('{"no_event": 1}') is None


def test_heartbeat_repeats_progress_until_the_result():
    code = (
        "import time\nfrom vibeserve_runtime import events\nevents.start_heartbeat(0.4)\n"
        "events.progress('load', 0, 1, 'loading')\ntime.sleep(1.5)\nevents.result(ok=True)\ntime.sleep(1)\n"
        "print('stray print goes to stderr')\n"
    )
    code = "from vibeserve_runtime import events\nevents.redirect_prints()\n" + code
    p = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=60)
    evs = [json.loads(l) for l in p.stdout.splitlines()]
    beats = [e for e in evs if e.get("heartbeat")]
    assert len(beats) >= 2 and all(b["stage"] == "load" for b in beats)
    assert evs[-1] == {"event": "result", "ok": True}
    assert "stray print" in p.stderr
