"""Stack specs are validated against design_space.json with errors that name the field; the registry
lets new (or deliberately broken) implementations into a stack."""

import json

import pytest
import torch

from vibeserve_runtime.engine import Engine, load_stack_spec, register_component, unregister_component
from vibeserve_runtime.models.rope import RotaryEmbedding

BASE = {"name": "t", "model": {"arch": "llama", "preset": "tiny-llama"}, "device": "cpu"}


def with_(components=None, params=None, **top):
    return {**BASE, "components": components or {}, "params": params or {}, **top}


def test_defaults_filled_and_file_loading(tmp_path):
    (tmp_path / "stack.json").write_text(json.dumps(with_({"sampling": "standard"})))
    s = load_stack_spec(tmp_path)
    assert s.components["kv_cache"] == "paged" and s.components["sampling"] == "sort_based"
    assert s.params["block_size"] == 16 and s.params["max_batch_size"] == 16


@pytest.mark.parametrize(
    "spec,field",
    [
        (with_({"attention": "flash9"}), "components.attention"),
        (with_({"warp_drive": "on"}), "components.warp_drive"),
        (with_({"execution": "cuda_graphs"}), "components.execution': 'cuda_graphs' needs device cuda"),
        (with_({"linear": "fp8"}), "components.linear': 'fp8' needs device cuda"),
        (with_({"scheduler": "chunked_prefill", "kv_cache": "contiguous"}), "chunked-prefill-needs-paged"),
        (with_(params={"block_size": "big"}), "params.block_size"),
        (with_(params={"blocksize": 16}), "params.blocksize"),
        (with_(device="tpu"), "device"),
        ({**with_(), "model": {"arch": "gpt2", "preset": "tiny-llama"}}, "model.arch"),
        ({**with_(), "model": {"arch": "llama", "preset": "nope"}}, "model.preset"),
        ({"name": "t", "components": {}}, "field 'model': missing"),
    ],
)
def test_bad_specs_name_the_field(spec, field):
    with pytest.raises(ValueError, match=field.replace("(", r"\(").replace("[", r"\[")):
        Engine.from_spec(spec)


def test_engine_spec_is_the_stack_spec_plus_what_the_process_knows():
    """stack_spec.normalize_spec validates both; the engine adds a device index, the rope dimension and
    the params it derives (None), and reads a Hugging Face model type as its architecture family."""
    s = load_stack_spec(
        with_(params={"max_model_len": None}, device="cuda:1", model={"arch": "qwen2", "preset": "tiny-qwen2"})
    )
    assert s.device == "cuda:1" and s.model.arch == "llama" and s.components["rope"] == "standard"
    assert s.params["max_model_len"] is None and s.params["gpu_memory_utilization"] == 0.85
    assert load_stack_spec(s) == s


def test_a_registered_choice_outside_the_library_needs_the_custom_prefix():
    register_component("linear", "mine", lambda w, b: None)
    try:
        with pytest.raises(ValueError, match="components.linear': unknown choice 'mine'"):
            load_stack_spec(with_({"linear": "mine"}))
    finally:
        unregister_component("linear", "mine")


def test_triton_paged_needs_paged_cache(monkeypatch):
    monkeypatch.setenv("TRITON_INTERPRET", "1")
    with pytest.raises(ValueError, match="paged-kernel-needs-paged-cache"):
        load_stack_spec(with_({"attention": "triton_paged", "kv_cache": "contiguous"}))


def test_gpu_only_runners_refuse_cpu_clearly():
    from vibeserve_runtime.components.execution.cuda_graphs import CudaGraphRunner
    from vibeserve_runtime.components.linear.fp8 import Fp8Linear

    with pytest.raises(ValueError, match="needs a CUDA device"):
        CudaGraphRunner(None, None, {}, "cpu")
    with pytest.raises(ValueError, match="compute capability >= 8.9"):
        Fp8Linear(torch.zeros(4, 4))


class ShiftedRope(RotaryEmbedding):
    """A classic bug: queries rotated one position ahead of keys. (Shifting both by the same amount
    would be invisible: attention only sees relative rotations.)"""

    def forward(self, positions, q, k):
        return super().forward(positions + 1, q, k)[0], super().forward(positions, q, k)[1]


def test_registered_broken_component_changes_output():
    register_component("rope", "shifted", ShiftedRope)
    try:
        good = Engine.from_spec(with_())
        bad = Engine.from_spec(with_({"rope": "shifted"}))
        prompt = [5, 6, 7, 8, 9, 10, 11]
        diff = (good.teacher_forced_logits(prompt, [1, 2]) - bad.teacher_forced_logits(prompt, [1, 2])).abs().max()
        assert diff > 1e-3
    finally:
        unregister_component("rope", "shifted")
    with pytest.raises(ValueError, match="components.rope"):
        load_stack_spec(with_({"rope": "shifted"}))


def test_request_validation():
    from vibeserve_runtime.types import Request

    e = Engine.from_spec(with_(params={"max_model_len": 32}))
    with pytest.raises(ValueError, match="context is 32 tokens"):
        e.add_request(Request("a", list(range(3, 40))))
    with pytest.raises(ValueError, match="empty"):
        e.add_request(Request("b", []))
    with pytest.raises(ValueError, match=r"\[0, 512\)"):
        e.add_request(Request("c", [600]))


def test_cuda_graphs_refuse_uncapturable_moe_loop():
    from vibeserve_runtime.components.execution.cuda_graphs import CudaGraphRunner

    e = Engine.from_spec(
        {**BASE, "model": {"arch": "mixtral", "preset": "tiny-mixtral"}, "components": {"moe": "loop"}}
    )
    with pytest.raises(ValueError, match="moe='fused_triton'"):
        CudaGraphRunner(e.model, e.kv, {}, "cpu", emulate=True)
