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
    small = materialize(tmp_path / "a", TINY_LLAMA)                                     # 8 × 256
    big = materialize(tmp_path / "b", {**TINY_LLAMA, "params": {**TINY_LLAMA["params"], "max_batch_size": 32}})
    cs = _compare_stacks()
    # the workload keeps 16 in flight: a batch limit above that holds no more sequences
    assert cs.equal_kv_cache_tokens([small, big], cs.Workload(num_prompts=64, max_concurrency=16)) == 2 * 16 * 256
    # without a concurrency limit every request may be in flight, up to the largest batch limit
    assert cs.equal_kv_cache_tokens([small, big], cs.Workload(num_prompts=64)) == 2 * 32 * 256


def test_the_stack_child_builds_its_pool_at_the_size_it_is_given(tmp_path):
    stack = materialize(tmp_path, TINY_LLAMA)
    p = subprocess.run([sys.executable, str(SCENARIOS / "stack_child.py"), "--stack", str(stack), "--device", "cpu",
                        "--kv-cache-tokens", "1024"], input='{"warmup": []}\n{"stop": true}\n', capture_output=True, text=True,
                       timeout=300, cwd=stack, env=candidate_env(stack))
    assert p.returncode == 0, p.stderr[-2000:]
    ready = json.loads(p.stdout.splitlines()[0])
    assert ready["ready"] and ready["stats"]["kv_tokens_capacity"] == 1024
