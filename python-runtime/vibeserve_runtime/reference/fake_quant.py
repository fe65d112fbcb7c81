"""The stack's weight formats applied to a transformers model, so the checker can tell how far
quantization alone moves the model from its fp32 answer.

Each projection the engine builds through `components.linear` (attention q/k/v/o, MLP gate/up/down;
GPT-2's c_attn/c_proj/c_fc) gets the weights the stack's int8 or fp8 layer computes with, made by the
runtime's own quantizers; fp8 also rounds each input row to e4m3, as `Fp8Linear` does. MoE experts
are quantized only where the engine does it (the `loop` MoE builds each expert from `linear`; the
fused kernel keeps them in the model dtype); their fp8 inputs are not rounded, as transformers runs
the experts without a module to hook. Embeddings and the LM head are never quantized.
"""

from __future__ import annotations

import torch
from torch import nn

PROJECTIONS = ("q_proj", "k_proj", "v_proj", "o_proj", "gate_proj", "up_proj", "down_proj", "c_attn", "c_proj", "c_fc")


def _int8_weight(w: torch.Tensor) -> torch.Tensor:
    from ..components.linear.int8_weight_only import quantize_per_channel

    q, scale = quantize_per_channel(w)
    return q.to(w.dtype) * scale.to(w.dtype)[:, None]  # what the dequant-matmul multiplies with


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
def apply_linear_format(model: nn.Module, linear: str, quantize_experts: bool = False) -> int:
    """Rewrites the model's projections (and with `quantize_experts` each MoE expert's matrices) in
    place for `linear` ('native' leaves it as is); returns how many were rewritten."""
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
    if quantize_experts:
        for name, param in model.named_parameters():
            # transformers' fused experts: [experts, out, in] per projection, one matrix per expert
            if ".experts." in name and param.dim() == 3:
                for e in range(param.shape[0]):
                    param[e].copy_(quantize(param[e]))
                    n += 1
    return n
