"""The stack's weight formats applied to a transformers model, so the checker can tell how far
quantization alone moves the model from its fp32 answer.

Each projection the engine builds through `components.linear` (attention q/k/v/o, MLP gate/up/down;
GPT-2's c_attn/c_proj/c_fc) gets the weights the stack's int8 or fp8 layer computes with, made by the
runtime's own quantizers; fp8 also rounds each input row to e4m3, as `Fp8Linear` does. Embeddings,
the LM head and MoE experts are not quantized by the engine and are left alone.
"""
from __future__ import annotations

import torch
from torch import nn

PROJECTIONS = ("q_proj", "k_proj", "v_proj", "o_proj", "gate_proj", "up_proj", "down_proj", "c_attn", "c_proj", "c_fc")


def _int8_weight(w: torch.Tensor) -> torch.Tensor:
    from ..components.linear.int8_weight_only import quantize_per_channel
    q, scale = quantize_per_channel(w)
    return q.to(w.dtype) * scale.to(w.dtype)[:, None]     # what the dequant-matmul multiplies with


def _fp8_weight(w: torch.Tensor) -> torch.Tensor:
    from ..components.linear.fp8 import FP8, FP8_MAX
    wf = w.float()
    scale = wf.abs().amax(dim=1).clamp(min=1e-12) / FP8_MAX
    return ((wf / scale[:, None]).to(FP8).float() * scale[:, None]).to(w.dtype)


def _fp8_rows(module: nn.Module, args: tuple) -> tuple:
    from ..components.linear.fp8 import FP8, FP8_MAX
    x = args[0]
    xf = x.float()
    scale = xf.abs().amax(dim=-1, keepdim=True).clamp(min=1e-12) / FP8_MAX
    return ((xf / scale).to(FP8).float() * scale).to(x.dtype), *args[1:]


@torch.no_grad()
def apply_linear_format(model: nn.Module, linear: str) -> int:
    """Rewrites the model's projections in place for `linear` ('native' leaves it as is); returns
    how many were rewritten."""
    if linear == "native":
        return 0
    if linear not in ("int8_weight_only", "fp8"):
        raise ValueError(f"no reference rounding for components.linear={linear!r}")
    quantize = _int8_weight if linear == "int8_weight_only" else _fp8_weight
    n = 0
    for name, module in model.named_modules():
        if name.rsplit(".", 1)[-1] not in PROJECTIONS or not hasattr(module, "weight"):
            continue
        # GPT-2's Conv1D keeps [in, out]; the engine quantizes per output channel of [out, in].
        conv1d = type(module).__name__ == "Conv1D"
        w = module.weight.t() if conv1d else module.weight
        q = quantize(w)
        module.weight.copy_(q.t() if conv1d else q)
        if linear == "fp8":
            module.register_forward_pre_hook(_fp8_rows)
        n += 1
    return n
