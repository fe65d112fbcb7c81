"""The reference's rounding of the stack's weight formats: every projection rewritten, the rest
untouched, and the result close to (but not equal to) the fp32 model."""

import pytest
import torch

from vibeserve_runtime.reference.fake_quant import apply_linear_format
from vibeserve_runtime.reference.hf_model import build_hf_model, load_weights


@pytest.mark.parametrize("preset,projections", [("tiny-llama", 7), ("tiny-gpt2", 4)])
@pytest.mark.parametrize("linear", ["int8_weight_only", "fp8"])
def test_projections_are_rounded_and_the_rest_is_kept(preset, projections, linear):
    arch = "gpt2" if "gpt2" in preset else "llama"
    cfg, sd, _ = load_weights({"arch": arch, "preset": preset, "weights": "random", "seed": 0, "dtype": "float32"})
    exact = build_hf_model(cfg, sd)
    rounded = build_hf_model(cfg, sd)
    layers = cfg.get("num_hidden_layers") or cfg.get("n_layer")
    assert apply_linear_format(rounded, linear) == projections * layers
    before, after = dict(exact.named_parameters()), dict(rounded.named_parameters())
    changed = {k for k in before if not torch.equal(before[k], after[k])}
    assert changed and all(
        k.rsplit(".", 2)[-2]
        in ("q_proj", "k_proj", "v_proj", "o_proj", "gate_proj", "up_proj", "down_proj", "c_attn", "c_proj", "c_fc")
        for k in changed
    )
    ids = torch.tensor([[5, 17, 99, 3, 42, 7]])
    with torch.inference_mode():
        a, b = exact(input_ids=ids).logits, rounded(input_ids=ids).logits
    err = float((a - b).abs().max() / a.std())
    assert 0 < err < 0.5, err


def test_native_is_untouched_and_an_unknown_format_is_refused():
    cfg, sd, _ = load_weights(
        {"arch": "llama", "preset": "tiny-llama", "weights": "random", "seed": 0, "dtype": "float32"}
    )
    model = build_hf_model(cfg, sd)
    assert apply_linear_format(model, "native") == 0
    with pytest.raises(ValueError, match="no reference rounding"):
        apply_linear_format(model, "int4_magic")


def test_moe_experts_are_rounded_only_when_the_engine_quantizes_them():
    cfg, sd, _ = load_weights(
        {"arch": "mixtral", "preset": "tiny-mixtral", "weights": "random", "seed": 0, "dtype": "float32"}
    )
    experts = lambda m: {k: v.clone() for k, v in m.named_parameters() if ".experts." in k}
    fused = build_hf_model(cfg, sd)
    before = experts(fused)
    apply_linear_format(fused, "int8_weight_only")  # moe=fused_triton: experts stay
    assert all(torch.equal(before[k], v) for k, v in experts(fused).items())
    looped = build_hf_model(cfg, sd)
    n = apply_linear_format(looped, "int8_weight_only", quantize_experts=True)  # moe=loop: built from `linear`
    layers, n_experts = cfg["num_hidden_layers"], cfg["num_local_experts"]
    assert n == layers * (4 + 2 * n_experts)
    assert all(not torch.equal(before[k], v) for k, v in experts(looped).items())
