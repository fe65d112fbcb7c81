"""materialize / hardware verbs: JSON-line events and the exit codes of docs/boundary.md."""

import json
import os

import pytest

from runtime_stacks import TINY_LLAMA, error_of, materialize, result_of, run_verb


def test_materialize_writes_a_self_contained_stack(tmp_path):
    rc, evs, _ = run_verb("materialize", "--spec", json.dumps(TINY_LLAMA), "--out", str(tmp_path / "s"))
    assert rc == 0
    assert evs[0]["event"] == "progress" and evs[-1]["event"] == "result"
    res = result_of(evs)
    d = tmp_path / "s"
    assert res["stack_dir"] == str(d.resolve()) and len(res["spec_hash"]) == 64 and res["files"] > 20
    spec = json.loads((d / "stack.json").read_text())
    assert spec["components"]["attention"] == "sdpa" and spec["components"]["sampling"] == "sort_based"
    assert spec["params"]["block_size"] == 16 and spec["params"]["max_model_len"] == 256
    assert (d / "vibeserve_runtime" / "engine").is_dir() and (d / "vibeserve_runtime" / "checker").is_dir()
    assert not list(d.rglob("__pycache__")) and not (d / "vibeserve_runtime" / "tests").exists()
    assert os.access(d / "serve.sh", os.X_OK)
    manifest = json.loads((d / "MANIFEST.json").read_text())
    assert manifest["spec_hash"] == res["spec_hash"]
    # same spec → same hash (content-addressed); a different spec → a different one
    rc, evs2, _ = run_verb("materialize", "--spec", str(d / "stack.json"), "--out", str(tmp_path / "t"))
    assert rc == 0 and result_of(evs2)["spec_hash"] == res["spec_hash"]
    other = {**TINY_LLAMA, "components": {"kv_cache": "contiguous"}}
    assert (
        materialize(tmp_path, other, "u")
        and json.loads((tmp_path / "u" / "MANIFEST.json").read_text())["spec_hash"] != res["spec_hash"]
    )


@pytest.mark.parametrize(
    "patch,field",
    [
        ({"model": {"arch": "llamax", "preset": "tiny-llama"}}, "model.arch"),
        ({"model": {"arch": "llama", "preset": "no-such-preset"}}, "model.preset"),
        ({"components": {"attention": "flash9"}}, "components.attention"),
        ({"components": {"attention": "triton_paged"}}, "components.attention"),
        ({"components": {"scheduler": "chunked_prefill", "kv_cache": "contiguous"}}, "components.kv_cache"),
        ({"params": {"block_size": "big"}}, "params.block_size"),
        ({"device": "tpu"}, "device"),
        ({"colour": "blue"}, "colour"),
    ],
)
def test_bad_spec_names_the_field_and_exits_3(tmp_path, patch, field):
    rc, evs, _ = run_verb("materialize", "--spec", json.dumps({**TINY_LLAMA, **patch}), "--out", str(tmp_path / "s"))
    err = error_of(evs)
    assert rc == 3 and err["kind"] == "usage" and err["reason"] == "bad_spec"
    assert err["field"] == field and field in err["message"]
    assert not (tmp_path / "s").exists()


def test_missing_model_path_and_bad_arguments_are_usage_errors(tmp_path):
    spec = {**TINY_LLAMA, "model": {"arch": "llama", "weights": "path", "path": str(tmp_path / "nope")}}
    rc, evs, _ = run_verb("materialize", "--spec", json.dumps(spec), "--out", str(tmp_path / "s"))
    assert rc == 3 and error_of(evs)["reason"] == "missing_model"
    rc, evs, _ = run_verb("materialize", "--spec", "{not json", "--out", str(tmp_path / "s"))
    assert rc == 3 and error_of(evs)["reason"] == "bad_spec"
    rc, evs, _ = run_verb("check")
    assert rc == 3 and error_of(evs)["reason"] == "bad_arguments"
    rc, evs, _ = run_verb("check", "--stack", str(tmp_path / "missing"))
    assert rc == 3 and "materialize" in error_of(evs)["message"]


def test_hardware_reports_torch_and_devices():
    rc, evs, _ = run_verb("hardware")
    res = result_of(evs)
    assert rc == 0 and res["device"] in ("cpu", "cuda") and res["torch"].startswith("2.")
    assert isinstance(res["gpus"], list) and (res["device"] == "cuda") == bool(res["gpus"])


def test_gpu_stack_on_a_cpu_machine_is_a_usage_error(tmp_path):
    import torch

    if torch.cuda.is_available():
        pytest.skip("this machine has a GPU")
    stack = materialize(tmp_path, {**TINY_LLAMA, "device": "cuda"})
    for verb in ("check", "bench", "serve"):
        rc, evs, _ = run_verb(verb, "--stack", str(stack))
        assert rc == 3 and error_of(evs)["reason"] == "device_unavailable", verb


def test_arch_scoped_constraint_binds_moe_models_only(tmp_path):
    """CUDA graphs need the fused MoE kernel, but only where there is an MoE to run (materialize
    needs no GPU, so a cuda stack can be validated here)."""
    graphs = {"execution": "cuda_graphs", "moe": "loop"}
    llama = {**TINY_LLAMA, "components": {**TINY_LLAMA["components"], **graphs}, "device": "cuda"}
    assert materialize(tmp_path, llama, "llama").exists()
    mixtral = {**llama, "model": {"arch": "mixtral", "preset": "tiny-mixtral", "seed": 0}}
    rc, evs, _ = run_verb("materialize", "--spec", json.dumps(mixtral), "--out", str(tmp_path / "mixtral"))
    err = error_of(evs)
    assert rc == 3 and err["field"] == "components.moe" and "graphs-need-fused-moe" in err["message"]


@pytest.mark.parametrize(
    "model,components,served",
    [
        (
            {"config": {"hidden_size": 768, "num_attention_heads": 8}},
            {"attention": "triton_paged"},
            True,
        ),  # head_dim 96
        ({"config": {"hidden_size": 2048, "num_attention_heads": 8}}, {"attention": "triton_paged"}, True),  # 256
        ({"config": {"hidden_size": 2560, "num_attention_heads": 8}}, {"attention": "triton_paged"}, False),  # 320
        ({"config": {"num_attention_heads": 8, "num_key_value_heads": 2}}, {"tp": "2"}, True),
        ({"config": {"num_attention_heads": 8, "num_key_value_heads": 1}}, {"tp": "2"}, False),  # MQA
        ({"preset": "smollm2-135m"}, {"tp": "2"}, False),  # 9 heads
        ({"arch": "mixtral", "preset": "tiny-mixtral"}, {"tp": "2"}, False),
    ],
    ids=["paged-hd96", "paged-hd256", "paged-hd320", "tp2-gqa", "tp2-mqa", "tp2-9-heads", "tp2-mixtral"],
)
def test_a_choice_is_refused_for_a_model_it_does_not_serve(tmp_path, model, components, served):
    """design_space.json `serves`: the resolved model (preset + config overrides) is checked before
    anything is built, naming the component field."""
    spec = {
        **TINY_LLAMA,
        "model": {**TINY_LLAMA["model"], **model},
        "components": {**TINY_LLAMA["components"], **components},
        "device": "cuda",
    }
    rc, evs, _ = run_verb("materialize", "--spec", json.dumps(spec), "--out", str(tmp_path / "s"))
    if served:
        assert rc == 0, evs
        return
    err = error_of(evs)
    dim = next(iter(components))
    assert rc == 3 and err["reason"] == "bad_spec" and err["field"] == f"components.{dim}", err
    assert "serves" in err["message"] or "multiple of" in err["message"]
