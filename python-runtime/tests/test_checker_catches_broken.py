"""Deliberately broken components, registered through the engine's registry from code inside the
stack directory (as a builder would add them), must fail the checker; the same mechanism with a
correct component passes, so the failure is the bug's, not the mechanism's."""

import json
import textwrap

import pytest

from runtime_stacks import TINY_LLAMA, error_of, materialize, result_of, run_verb

# Wider than the tiny presets, where the bounds are calibrated on more rounding: head_dim 64, 96 and
# 128 with GQA, MHA and MQA, two layers each, so a check stays a few seconds on a CPU.
WIDE_LLAMA = {
    "w512-hd64-gqa": {
        "hidden_size": 512,
        "num_attention_heads": 8,
        "num_key_value_heads": 2,
        "intermediate_size": 1024,
    },
    "w768-hd96-mha": {
        "hidden_size": 768,
        "num_attention_heads": 8,
        "num_key_value_heads": 8,
        "intermediate_size": 1536,
    },
    "w1024-hd128-mqa": {
        "hidden_size": 1024,
        "num_attention_heads": 8,
        "num_key_value_heads": 1,
        "intermediate_size": 2048,
    },
}
SHAPES = ["tiny", *WIDE_LLAMA]


def llama_spec(shape: str, dtype: str = "float32", layers: int = 2) -> dict:
    """TINY_LLAMA, or TINY_LLAMA's vocabulary and context with one of the wide shapes."""
    if shape == "tiny":
        return {**TINY_LLAMA, "model": {**TINY_LLAMA["model"], "dtype": dtype}}
    cfg = {**WIDE_LLAMA[shape], "num_hidden_layers": layers}
    return {**TINY_LLAMA, "name": f"llama-{shape}", "model": {**TINY_LLAMA["model"], "config": cfg, "dtype": dtype}}


def logits_check(evs) -> dict:
    return next(c for c in result_of(evs)["checks"] if c["name"] == "logits")


KV_OFF_BY_ONE = """
from vibeserve_runtime.components.kv_cache.paged import PagedKVCache
from vibeserve_runtime.engine import register_component


class OffByOnePagedKVCache(PagedKVCache):
    def slot(self, seq, pos):   # writes token pos into the slot of pos - 1
        return super().slot(seq, max(pos - 1, 0))


def factory(ctx):
    return OffByOnePagedKVCache(ctx.num_layers, ctx.num_kv_heads, ctx.head_dim, ctx.num_blocks(),
                                ctx.params["block_size"], ctx.max_model_len, ctx.dtype, ctx.device,
                                prefix_caching=ctx.params["prefix_caching"])


register_component("kv_cache", "custom_kv_off_by_one", factory)
"""

CORRECT_KV = KV_OFF_BY_ONE.replace(
    "return super().slot(seq, max(pos - 1, 0))", "return super().slot(seq, pos)"
).replace("custom_kv_off_by_one", "custom_kv_correct")

ROPE_WRONG_OFFSET = """
from vibeserve_runtime.engine import register_component, registered
from vibeserve_runtime.models.rope import RotaryEmbedding


class WrongOffsetRope(RotaryEmbedding):
    def rope_positions(self, positions):   # positions from 8 on are rotated one step too far
        return positions + (positions >= 8).long()


registered("rope")   # load the library's own components first, then replace its RoPE
register_component("rope", "standard", WrongOffsetRope, replace=True)
register_component("rope", "custom_rope_wrong_offset", WrongOffsetRope)
"""


def _stack_with(tmp_path, module_src: str, name: str, dimension: str, choose: dict, base: dict = TINY_LLAMA):
    spec = {
        **base,
        "components": {**base["components"], **choose},
        "custom_components": {name: {"dimension": dimension, "module": f"{name}.py"}},
    }
    stack = materialize(tmp_path, spec)
    (stack / f"{name}.py").write_text(textwrap.dedent(module_src))
    return stack


def _failed_checks(evs):
    return {c["name"] for c in result_of(evs)["checks"] if not c["passed"]}


@pytest.mark.parametrize("shape", SHAPES)
@pytest.mark.parametrize(
    "src,name,dim,choose",
    [
        (KV_OFF_BY_ONE, "custom_kv_off_by_one", "kv_cache", {"kv_cache": "custom_kv_off_by_one"}),
        (ROPE_WRONG_OFFSET, "custom_rope_wrong_offset", "rope", {}),
    ],
    ids=["kv-cache-off-by-one", "rope-wrong-offset"],
)
def test_broken_component_fails_the_checker(tmp_path, src, name, dim, choose, shape):
    stack = _stack_with(tmp_path, src, name, dim, choose, llama_spec(shape))
    rc, evs, err = run_verb("check", "--stack", str(stack), "--new-tokens", "12", timeout=400)
    e = error_of(evs)
    assert rc == 2 and e["kind"] == "candidate" and e["reason"] == "wrong_output", (evs[-2:], err[-1500:])
    failed = _failed_checks(evs)
    assert "logits" in failed
    logits = logits_check(evs)
    assert logits["value"] > logits["threshold"]


@pytest.mark.parametrize("shape", list(WIDE_LLAMA))
def test_broken_rope_fails_in_bf16_on_a_wide_shape(tmp_path, shape):
    """In bf16 the bounds are calibrated on transformers' own bf16 run, and they grow with the width;
    a RoPE offset still moves the logits past them."""
    stack = _stack_with(
        tmp_path, ROPE_WRONG_OFFSET, "custom_rope_wrong_offset", "rope", {}, llama_spec(shape, "bfloat16")
    )
    rc, evs, err = run_verb("check", "--stack", str(stack), "--new-tokens", "12", timeout=400)
    logits = logits_check(evs)
    assert rc == 2 and error_of(evs)["reason"] == "wrong_output" and not logits["passed"], (logits, err[-1500:])


def test_correct_bf16_stack_of_a_wide_dense_shape_passes_on_its_calibrated_bound(tmp_path):
    """Width 1024, head_dim 128, 4 layers in bf16: the bound is twice what transformers' own bf16 run
    is off the fp32 reference (never below the bf16 floor), so it scales with the model."""
    stack = materialize(tmp_path, llama_spec("w1024-hd128-mqa", "bfloat16", layers=4))
    rc, evs, err = run_verb("check", "--stack", str(stack), "--new-tokens", "12", timeout=600)
    logits = logits_check(evs)
    assert rc == 0 and result_of(evs)["passed"], (logits, err[-1500:])
    assert "calibrated on transformers at the stack's precision" in logits["detail"], logits
    assert logits["same_precision"]["worst"] > 0
    assert logits["threshold"] == pytest.approx(max(0.08, 2 * logits["same_precision"]["worst"]))
    assert logits["mean_threshold"] == pytest.approx(max(0.04, 2 * logits["same_precision"]["mean"]))


def test_correct_custom_component_passes(tmp_path):
    stack = _stack_with(tmp_path, CORRECT_KV, "custom_kv_correct", "kv_cache", {"kv_cache": "custom_kv_correct"})
    rc, evs, err = run_verb("check", "--stack", str(stack), "--new-tokens", "12", timeout=400)
    assert rc == 0 and result_of(evs)["passed"], (evs[-2:], err[-1500:])
    assert json.loads((stack / "stack.json").read_text())["components"]["kv_cache"] == "custom_kv_correct"


# Routing without Mixtral's top-k renormalization: every token's expert mix is scaled down.
MOE_UNNORMALIZED = """
import torch
import torch.nn.functional as F
from vibeserve_runtime.components.moe.loop import LoopMoE
from vibeserve_runtime.engine import register_component


class UnnormalizedLoopMoE(LoopMoE):
    def forward(self, x):
        probs = F.softmax(F.linear(x, self.gate).float(), dim=-1)
        weights, ids = torch.topk(probs, self.top_k, dim=-1)
        weights = weights.to(x.dtype)
        out = torch.zeros_like(x)
        for e in range(len(self.gate_up)):
            tok, slot = torch.where(ids == e)
            if tok.numel():
                g, u = self.gate_up[e](x[tok]).chunk(2, dim=-1)
                out.index_add_(0, tok, self.down[e](F.silu(g) * u) * weights[tok, slot, None])
        return out


register_component("moe", "custom_moe_unnormalized", UnnormalizedLoopMoE)
"""

CORRECT_MOE = MOE_UNNORMALIZED.replace(
    "weights = weights.to(x.dtype)", "weights = (weights / weights.sum(dim=-1, keepdim=True)).to(x.dtype)"
).replace("custom_moe_unnormalized", "custom_moe_correct")

BF16_MIXTRAL = {
    "name": "mixtral-bf16",
    "model": {"arch": "mixtral", "preset": "tiny-mixtral", "seed": 1, "dtype": "bfloat16"},
    "components": {"kv_cache": "paged", "scheduler": "continuous"},
    "params": {"max_model_len": 128},
}
# fine-grained experts (16, top-4) at width 768 and head_dim 128
WIDE_MIXTRAL = {
    "hidden_size": 768,
    "num_attention_heads": 6,
    "num_key_value_heads": 2,
    "intermediate_size": 256,
    "num_local_experts": 16,
    "num_experts_per_tok": 4,
}


def mixtral_spec(shape: str) -> dict:
    if shape == "tiny":
        return BF16_MIXTRAL
    return {**BF16_MIXTRAL, "name": "mixtral-bf16-wide", "model": {**BF16_MIXTRAL["model"], "config": WIDE_MIXTRAL}}


@pytest.mark.parametrize("shape", ["tiny", "w768-hd128-16e-top4"])
@pytest.mark.parametrize(
    "src,name,passes",
    [
        (CORRECT_MOE, "custom_moe_correct", True),
        (MOE_UNNORMALIZED, "custom_moe_unnormalized", False),
    ],
    ids=["correct-moe", "moe-without-renormalization"],
)
def test_bf16_moe_is_judged_against_transformers_own_bf16_rounding(tmp_path, src, name, passes, shape):
    """In bf16, routing near-ties flip under rounding, so the MoE logit bounds are calibrated on
    transformers' own bf16 run; they still reject a routing bug that moves every position."""
    base = mixtral_spec(shape)
    spec = {
        **base,
        "components": {**base["components"], "moe": name},
        "custom_components": {name: {"dimension": "moe", "module": f"{name}.py"}},
    }
    stack = materialize(tmp_path, spec)
    (stack / f"{name}.py").write_text(textwrap.dedent(src))
    rc, evs, err = run_verb("check", "--stack", str(stack), "--new-tokens", "12", timeout=400)
    logits = logits_check(evs)
    assert "calibrated on transformers at the stack's precision" in logits["detail"], logits
    if passes:
        assert rc == 0 and result_of(evs)["passed"], (logits, err[-1500:])
    else:
        assert rc == 2 and error_of(evs)["reason"] == "wrong_output" and not logits["passed"], logits


# int8 dequantization with each channel's scale taken from its neighbour.
INT8_SHIFTED_SCALES = """
import torch.nn.functional as F
from vibeserve_runtime.components.linear.int8_weight_only import Int8WeightOnlyLinear
from vibeserve_runtime.engine import register_component, registered


class ShiftedScaleInt8Linear(Int8WeightOnlyLinear):
    def forward(self, x):
        w = self.qweight.to(x.dtype) * self.scale.roll(1)[:, None]
        return F.linear(x, w, self.bias)


registered("linear")   # the library's own first, then replace its int8 layer
register_component("linear", "int8_weight_only", ShiftedScaleInt8Linear, replace=True)
register_component("linear", "custom_int8_shifted_scales", ShiftedScaleInt8Linear)
"""


@pytest.mark.parametrize("shape", ["tiny", "w768-hd96-mha"])
@pytest.mark.parametrize("broken", [False, True], ids=["int8", "int8-shifted-scales"])
def test_int8_is_judged_against_transformers_with_the_same_quantized_weights(tmp_path, broken, shape):
    """int8 weight-only bounds are calibrated on transformers running the very weights the stack's
    quantizer makes; a dequantization bug still fails."""
    base = llama_spec(shape, "bfloat16")
    spec = {**base, "components": {**base["components"], "linear": "int8_weight_only"}}
    if broken:
        spec["custom_components"] = {
            "custom_int8_shifted_scales": {"dimension": "linear", "module": "custom_int8_shifted_scales.py"}
        }
    stack = materialize(tmp_path, spec)
    if broken:
        (stack / "custom_int8_shifted_scales.py").write_text(textwrap.dedent(INT8_SHIFTED_SCALES))
    # The Triton interpreter (TRITON_INTERPRET=1, set by other test modules) cannot run the int8
    # kernel's bf16 dot (errors of 1e9); this test is about the checker, so it takes the torch path.
    rc, evs, err = run_verb(
        "check", "--stack", str(stack), "--new-tokens", "12", timeout=400, env={"TRITON_INTERPRET": "0"}
    )
    logits = logits_check(evs)
    assert "calibrated on transformers at the stack's precision" in logits["detail"], logits
    if broken:
        assert rc == 2 and error_of(evs)["reason"] == "wrong_output" and not logits["passed"], logits
    else:
        assert rc == 0 and result_of(evs)["passed"], (logits, err[-1500:])


def test_int8_moe_loop_is_calibrated_with_its_quantized_experts(tmp_path):
    """The per-expert loop quantizes every expert through `linear`; the reference does the same."""
    spec = {**BF16_MIXTRAL, "components": {**BF16_MIXTRAL["components"], "moe": "loop", "linear": "int8_weight_only"}}
    stack = materialize(tmp_path, spec)
    rc, evs, err = run_verb(
        "check", "--stack", str(stack), "--new-tokens", "12", timeout=400, env={"TRITON_INTERPRET": "0"}
    )
    logits = logits_check(evs)
    assert rc == 0 and result_of(evs)["passed"], (logits, err[-1500:])
