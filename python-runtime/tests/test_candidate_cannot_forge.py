"""The stack's own code runs in a child of the trusted checker; whatever it does, only the checker
speaks on the checker's stdout. A candidate that forges a passing `result` event, through its
own output, through the observations it hands back, or through the checker's descriptors in
/proc, must not pass."""

import json
import os
import shutil
import subprocess

import pytest

from runtime_stacks import PY, error_of, materialize

FORGED = {"event": "result", "passed": True, "checks": [], "forged": True}


def _plant(stack, code: str) -> None:
    """Append code to the stack's engine module: it runs at import, in the candidate process only."""
    f = stack / "vibeserve_runtime" / "engine" / "engine.py"
    f.write_text(f.read_text() + "\n" + code)


def _check(stack, prefix: tuple[str, ...] = ()):
    """→ (exit code, events, stderr) of `check`, optionally started through a prefix command."""
    p = subprocess.run(
        [
            *prefix,
            PY,
            "-m",
            "vibeserve_runtime",
            "check",
            "--stack",
            str(stack),
            "--new-tokens",
            "6",
            "--num-prompts",
            "2",
        ],
        capture_output=True,
        text=True,
        timeout=300,
    )
    return p.returncode, [json.loads(ln) for ln in p.stdout.splitlines()], p.stderr


def _forged(evs):
    return [e for e in evs if e.get("forged")]


def test_fake_result_lines_printed_by_the_candidate_do_not_pass(tmp_path):
    stack = materialize(tmp_path)
    # Claims success on its stdout and stderr, then leaves without producing any observation.
    _plant(
        stack,
        f"""
import json as _json, os as _os, sys as _sys
_line = _json.dumps({FORGED!r}) + "\\n"
_sys.stdout.write(_line); _sys.stdout.flush()
_sys.stderr.write(_line); _sys.stderr.flush()
_os._exit(0)
""",
    )
    rc, evs, _ = _check(stack)
    assert rc == 2, evs
    assert error_of(evs)["reason"] == "crashed"
    assert not _forged(evs)
    assert not any(e["event"] == "result" and e.get("passed") for e in evs)


def test_observations_that_would_run_code_in_the_checker_are_refused(tmp_path):
    stack = materialize(tmp_path)
    marker = tmp_path / "ran-in-checker"
    # After an honest run, the candidate swaps its observations for a pickle that, once unpickled
    # by the checker, would print a passing result on the checker's stdout and exit 0.
    _plant(
        stack,
        f"""
import atexit as _atexit, pickle as _pickle, sys as _sys
_PAYLOAD = ("import json, os; open({str(marker)!r}, 'w').close(); "
            "os.write(1, (json.dumps({FORGED!r}) + chr(10)).encode()); os._exit(0)")
class _Forged:
    def __reduce__(self):
        return (exec, (_PAYLOAD,))
def _swap():
    if "--output" in _sys.argv:
        with open(_sys.argv[_sys.argv.index("--output") + 1], "wb") as fh:
            _pickle.dump(_Forged(), fh)
_atexit.register(_swap)
""",
    )
    rc, evs, _ = _check(stack)
    assert rc == 2, evs
    err = error_of(evs)
    assert err["reason"] == "wrong_output" and "not plain data" in err["message"]
    assert not _forged(evs)
    assert not marker.exists()


@pytest.mark.skipif(
    os.getuid() != 0 or not shutil.which("setpriv"), reason="needs root to drop CAP_SYS_PTRACE like the sandbox"
)
def test_the_candidate_cannot_reopen_the_checkers_stdout(tmp_path):
    stack = materialize(tmp_path)
    attempt = tmp_path / "attempt.txt"
    # Same user as the checker, as inside the sandbox; it tries the checker's stdout through /proc.
    _plant(
        stack,
        f"""
import json as _json, os as _os
try:
    with open(f"/proc/{{_os.getppid()}}/fd/1", "w") as _fh:
        _fh.write(_json.dumps({FORGED!r}) + "\\n")
    _outcome = "reopened"
except OSError as _e:
    _outcome = type(_e).__name__
open({str(attempt)!r}, "w").write(_outcome)
""",
    )
    # Without CAP_SYS_PTRACE (the sandbox drops every capability), root is just another user here.
    rc, evs, err = _check(stack, ("setpriv", "--inh-caps=-sys_ptrace", "--bounding-set=-sys_ptrace", "--"))
    assert attempt.read_text() == "PermissionError", err[-2000:]
    assert not _forged(evs)
    results = [e for e in evs if e["event"] == "result"]
    assert len(results) == 1 and rc == 0 and results[0]["passed"] is True  # the honest verdict, once
