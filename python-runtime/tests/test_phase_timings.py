"""bench.json's and check.json's `phase_s`: where the wall time of a check or bench process goes
(docs/boundary.md lists the phases), from real runs of a tiny stack on CPU."""

import json
import subprocess
import sys
import time

from runtime_stacks import TINY_LLAMA, materialize, result_of, run_verb
from vibeserve_runtime.cli.phases import Phases, of_child

EPS = 0.05  # rounding of each phase to the millisecond, and the 10 ms ticks of a process's start time


def _sum(phases: dict) -> float:
    return sum(v for k, v in phases.items() if k != "total" and isinstance(v, (int, float)))


def test_the_process_age_counts_from_the_kernel_start_time():
    code = (
        "import time; time.sleep(0.5); from vibeserve_runtime.cli.phases import process_age_s; print(process_age_s())"
    )
    t0 = time.perf_counter()
    age = float(subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout)
    wall = time.perf_counter() - t0
    assert 0.5 <= age <= wall + 0.02  # interpreter start and imports included; 10 ms ticks
    p = Phases()
    assert p.s["import"] > 0
    p.lap("a")
    p.skip()
    p.lap("a")
    assert set(p.s) == {"import", "a"} and p.total() >= _sum(p.s) - 1e-3


def test_a_childs_phases_keep_numbers_and_name_its_import():
    assert of_child({"import": 1.5, "load": 2, "bad": "x", "flag": True}) == {"child_import": 1.5, "load": 2.0}
    assert of_child(None) == {}


def test_bench_json_has_the_phases_of_both_processes(tmp_path):
    stack = materialize(tmp_path, {**TINY_LLAMA, "name": "phases-bench"})
    out = tmp_path / "bench.json"
    rc, evs, err = run_verb(
        "bench",
        "--stack",
        str(stack),
        *("--dataset", "fixed", "--num-prompts", "4", "--input-len", "12", "--output-len", "6"),
        *("--repetitions", "2", "--min-duration-s", "0", "--out", str(out)),
        timeout=120,
    )
    assert rc == 0, err[-1500:]
    phases = json.loads(out.read_text())["phase_s"]
    assert result_of(evs)["phase_s"] == phases
    assert list(phases) == [
        "import",
        "setup",
        "integrity",
        "child_import",
        "load",
        "first_forward",
        "graph_capture",
        "warmup",
        "timed",
        "profile",
        "total",
    ]
    assert all(isinstance(v, float) and v >= 0 for v in phases.values()), phases
    assert phases["import"] > 0 and phases["child_import"] > 0 and phases["load"] > 0
    assert phases["timed"] > 0 and phases["warmup"] > 0 and phases["profile"] > 0
    assert phases["graph_capture"] == phases["first_forward"] == 0.0  # an eager stack captures nothing
    assert _sum(phases) <= phases["total"] + EPS, phases
    # the timed phase holds the repetitions and little else
    res = result_of(evs)
    timed_runs = sum(r["duration_s"] for r in res["repetitions"])
    assert timed_runs <= phases["timed"] + EPS
    assert res["captured_buckets"] is None  # no CUDA-graph runner


def test_check_json_has_the_phases_and_each_rules_seconds(tmp_path):
    stack = materialize(tmp_path, {**TINY_LLAMA, "name": "phases-check"})
    out = tmp_path / "check.json"
    rc, evs, err = run_verb(
        "check", "--stack", str(stack), "--num-prompts", "2", "--new-tokens", "4", "--report", str(out), timeout=120
    )
    assert rc == 0, err[-1500:]
    report = json.loads(out.read_text())
    phases = report["phase_s"]
    assert list(phases) == [
        "import",
        "setup",
        "reference",
        "child_import",
        "load",
        "first_forward",
        "graph_capture",
        "rules",
        "total",
    ]
    rules = phases["rules"]
    assert list(rules) == [c["name"] for c in report["checks"]]
    assert all(v >= 0 for v in rules.values()) and all(v >= 0 for k, v in phases.items() if k != "rules")
    # the rules that run the stack count its probe's time
    assert rules["logits"] > 0 and rules["greedy_tokens"] > 0 and rules["batch_invariance"] > 0
    assert phases["reference"] > 0 and phases["load"] > 0 and phases["import"] > 0
    assert _sum(phases) + sum(rules.values()) <= phases["total"] + EPS, phases
