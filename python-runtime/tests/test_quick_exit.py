"""check, bench and a candidate's child skip the interpreter's teardown once everything they report
is written (vibeserve_runtime/__main__.py): their exit handlers still run and their exit code is
kept; every other verb (serve above all) ends as Python normally does."""

import os

from runtime_stacks import run_verb
from vibeserve_runtime.events import EXIT_USAGE

# loaded by Python at start-up from PYTHONPATH: an exit handler, and a (non-daemon) thread that
# marks the interpreter's shutdown (which waits for it once the main thread has ended)
SITECUSTOMIZE = """
import atexit, os, threading, time
_marks = os.environ["MARKS"]
atexit.register(lambda: open(_marks, "a").write("exit-handler\\n"))
def _watch():
    while threading.main_thread().is_alive():
        time.sleep(0.01)
    open(_marks, "a").write("teardown\\n")
threading.Thread(target=_watch).start()
"""


def _marks_of(tmp_path, *verb):
    site = tmp_path / "site"
    site.mkdir(exist_ok=True)
    (site / "sitecustomize.py").write_text(SITECUSTOMIZE)
    marks = tmp_path / f"marks-{verb[0]}"
    path = os.pathsep.join([str(site), os.environ.get("PYTHONPATH", "")])
    rc, _, err = run_verb(*verb, env={"MARKS": str(marks), "PYTHONPATH": path}, timeout=120)
    return rc, (marks.read_text().split() if marks.exists() else []), err


def test_check_and_bench_skip_teardown_but_run_exit_handlers(tmp_path):
    for verb in ("check", "bench"):
        rc, marks, err = _marks_of(tmp_path, verb, "--stack", str(tmp_path / "no-such-stack"))
        assert rc == EXIT_USAGE, err[-800:]
        assert marks == ["exit-handler"], (verb, marks)


def test_other_verbs_end_as_python_does(tmp_path):
    rc, marks, err = _marks_of(
        tmp_path, "materialize", "--spec", str(tmp_path / "no-such-spec.json"), "--out", str(tmp_path / "o")
    )
    assert rc == EXIT_USAGE, err[-800:]
    assert sorted(marks) == ["exit-handler", "teardown"]
