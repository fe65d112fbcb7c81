"""`check`: a correct stack passes against the fp32 transformers reference; candidate faults
(edited checker, crash in the stack's code, timeout) exit 2 with the right reason."""

import json

import pytest

from runtime_stacks import TINY_LLAMA, error_of, materialize, result_of, run_verb


def _check(stack, *extra, timeout=400):
    return run_verb("check", "--stack", str(stack), "--new-tokens", "10", *extra, timeout=timeout)


@pytest.mark.parametrize(
    "spec",
    [
        TINY_LLAMA,
        {
            "name": "gpt2-static",
            "model": {"arch": "gpt2", "preset": "tiny-gpt2", "seed": 3},
            "components": {"kv_cache": "contiguous", "scheduler": "static"},
            "params": {"max_model_len": 128, "max_batch_size": 8},
        },
        {
            "name": "mixtral-chunked",
            "model": {"arch": "mixtral", "preset": "tiny-mixtral", "seed": 1},
            "components": {"scheduler": "chunked_prefill", "sampling": "gumbel"},
            "params": {"max_model_len": 128, "chunk_size": 32, "block_size": 8},
        },
        {**TINY_LLAMA, "name": "llama-multi-step", "params": {**TINY_LLAMA["params"], "decode_steps": 4}},
    ],
    ids=["llama-paged-continuous", "gpt2-contiguous-static", "mixtral-chunked-prefill", "llama-multi-step"],
)
def test_correct_stack_passes(tmp_path, spec):
    stack = materialize(tmp_path, spec)
    rc, evs, err = _check(stack, "--report", str(tmp_path / "check.json"))
    res = result_of(evs)
    assert rc == 0, (res, err[-2000:])
    names = {c["name"]: c for c in res["checks"]}
    assert set(names) == {
        "logits",
        "greedy_tokens",
        "batch_invariance",
        "max_tokens",
        "streaming",
        "structured_output",
        "integrity",
    }
    assert all(c["passed"] for c in res["checks"]) and res["passed"]
    assert names["logits"]["value"] <= names["logits"]["threshold"] == 2e-3  # fp32 tolerance
    assert "transformers" in res["reference"]
    assert json.loads((tmp_path / "check.json").read_text())["passed"] is True
    assert set(res["timings_s"]) == {"reference_build", "reference_greedy", "calibration", "stack", "compare"}
    assert res["timings_s"]["stack"] > 0
    assert res["engine_stats"]["decode_steps"] == spec.get("params", {}).get("decode_steps", 1)
    stages = [e["stage"] for e in evs if e["event"] == "progress"]
    assert "check" in stages and "candidate" in stages  # heartbeat material from both processes


def test_edited_checker_is_an_integrity_violation(tmp_path):
    stack = materialize(tmp_path)
    f = stack / "vibeserve_runtime" / "checker" / "tolerances.py"
    src = f.read_text()
    assert '"float32": 2e-3' in src
    f.write_text(src.replace('"float32": 2e-3', '"float32": 1e9'))  # a candidate loosening its own test
    rc, evs, _ = _check(stack)
    err = error_of(evs)
    assert rc == 2 and err["kind"] == "candidate" and err["reason"] == "integrity_violation"
    assert "checker/tolerances.py" in err["message"]
    assert result_of(evs)["passed"] is False


def test_crash_in_the_stacks_own_code_is_the_candidates_fault(tmp_path):
    stack = materialize(tmp_path)
    f = stack / "vibeserve_runtime" / "engine" / "engine.py"
    src = f.read_text()
    marker = "    def step(self) -> list[StepOutput]:\n"
    assert marker in src
    f.write_text(src.replace(marker, marker + "        raise RuntimeError('candidate bug 1234')\n"))
    rc, evs, _ = _check(stack)
    err = error_of(evs)
    assert (
        rc == 2 and err["kind"] == "candidate" and err["reason"] == "crashed" and "candidate bug 1234" in err["message"]
    )


def test_timeout_is_the_candidates_fault(tmp_path):
    stack = materialize(tmp_path)
    rc, evs, _ = _check(stack, "--timeout", "2")
    err = error_of(evs)
    assert rc == 2 and err["reason"] == "timeout"
