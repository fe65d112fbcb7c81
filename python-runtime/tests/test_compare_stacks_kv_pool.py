"""The scenario comparison loads its stacks side by side, so each gets one fixed KV pool size
(bench/scenarios/compare_stacks.py) instead of a share of whatever GPU memory is free when it starts."""

import importlib.util
import json
import subprocess
import sys
from pathlib import Path

from runtime_stacks import TINY_LLAMA, materialize
from vibeserve_runtime.cli.candidate_process import candidate_env

SCENARIOS = Path(__file__).resolve().parents[2] / "bench" / "scenarios"


def _compare_stacks():
    spec = importlib.util.spec_from_file_location("compare_stacks", SCENARIOS / "compare_stacks.py")
    mod = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(mod)
    return mod


def test_the_pool_holds_twice_the_sequences_in_flight_at_full_length(tmp_path):
    small = materialize(tmp_path / "a", TINY_LLAMA)  # 8 × 256
    big = materialize(tmp_path / "b", {**TINY_LLAMA, "params": {**TINY_LLAMA["params"], "max_batch_size": 32}})
    cs = _compare_stacks()
    # the workload keeps 16 in flight: a batch limit above that holds no more sequences
    assert cs.equal_kv_cache_tokens([small, big], cs.Workload(num_prompts=64, max_concurrency=16)) == 2 * 16 * 256
    # without a concurrency limit every request may be in flight, up to the largest batch limit
    assert cs.equal_kv_cache_tokens([small, big], cs.Workload(num_prompts=64)) == 2 * 32 * 256


def test_the_stack_child_builds_its_pool_at_the_size_it_is_given(tmp_path):
    stack = materialize(tmp_path, TINY_LLAMA)
    p = subprocess.run(
        [
            sys.executable,
            str(SCENARIOS / "stack_child.py"),
            "--stack",
            str(stack),
            "--device",
            "cpu",
            "--kv-cache-tokens",
            "1024",
        ],
        input='{"warmup": []}\n{"stop": true}\n',
        capture_output=True,
        text=True,
        timeout=300,
        cwd=stack,
        env=candidate_env(stack),
    )
    assert p.returncode == 0, p.stderr[-2000:]
    ready = json.loads(p.stdout.splitlines()[0])
    assert ready["ready"] and ready["stats"]["kv_tokens_capacity"] == 1024


def test_a_harness_repetition_is_timed_as_the_bench_verb_times_one(tmp_path):
    """Passes over the verb's own request sets until min_duration_s (bench/repetition.py): one short pass
    of a fast stack is mostly noise, and the harness and the verb must measure alike (issue: they
    disagreed by 12% on an H100 when the harness timed one 0.7 s pass)."""
    stack = materialize(tmp_path, TINY_LLAMA)
    cs = _compare_stacks()
    # long enough for several passes of this tiny stack even on a busy CPU
    w = cs.Workload(num_prompts=4, input_len=8, output_len=4, max_concurrency=4, min_duration_s=2.0)
    child = cs.StackChild(stack, "cpu", [], 1024, capture_cap=4)
    seen = []
    run = child.run
    child.run = lambda rep, timeout: seen.append([r[0] for r in rep["requests"]]) or run(rep, timeout)
    try:
        child.wait_ready(300)
        m = cs.timed_repetition(child, w, 256, 1, timeout_s=300)
    finally:
        child.close()
    assert m["passes"] == len(seen) >= 2 and m["duration_s"] >= w.min_duration_s
    # graphs only up to the workload's largest decode batch, as the bench verb captures them (none on CPU)
    assert child.proc.args[-2:] == ["--capture-cap", "4"] and child.ready["captured_buckets"] is None
    assert m["completed"] == 4 * m["passes"] and m["failed"] == 0
    # pass k of repetition 1 is the verb's pass k of repetition 1
    assert seen == [[q.prompt_token_ids for q in cs.timed_pass(w, 256, 1, k, cs.AVOID)] for k in range(len(seen))]


def test_the_harness_captures_up_to_the_largest_batch_of_the_workload_or_its_sweep():
    cs = _compare_stacks()
    w = cs.Workload(num_prompts=32, max_concurrency=8)
    assert cs.sweep_levels(w, "1,4,16,64") == [1, 4, 16, 32]  # a level above the requests repeats them
    assert cs.harness_capture_cap(w, "1,4") == 8  # the repetitions' 8 in flight
    assert cs.harness_capture_cap(w, "1,4,16,64") == 32
