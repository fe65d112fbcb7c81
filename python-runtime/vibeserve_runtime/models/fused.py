"""Elementwise model pieces compiled once, with dynamic shapes, when they run on CUDA: each becomes one
fused kernel instead of a chain of fp32 passes over the activations (the largest non-GEMM cost of an
eager prefill, and many small kernels in a captured decode step). On CPU they stay plain PyTorch."""

from __future__ import annotations

import torch
import torch.nn.functional as F


def on_cuda_compiled(fn):
    # Wrapped on the first CUDA call, not at import: torch.compile imports dynamo and inductor (about
    # 3 s), which a CPU process never needs.
    compiled = None

    def call(x, *args):
        nonlocal compiled
        if not x.is_cuda:
            return fn(x, *args)
        if compiled is None:
            compiled = torch.compile(fn, dynamic=True)
        return compiled(x, *args)

    call.__wrapped__ = fn
    return call


@on_cuda_compiled
def rms_norm(x: torch.Tensor, weight: torch.Tensor, eps: float) -> torch.Tensor:
    xf = x.float()
    xf = xf * torch.rsqrt(xf.pow(2).mean(-1, keepdim=True) + eps)
    return weight * xf.to(x.dtype)


def _rotate(x: torch.Tensor, cos: torch.Tensor, sin: torch.Tensor) -> torch.Tensor:
    x1, x2 = x.float().chunk(2, dim=-1)
    return torch.cat((x1 * cos - x2 * sin, x2 * cos + x1 * sin), dim=-1).to(x.dtype)


@on_cuda_compiled
def rope(
    q: torch.Tensor, k: torch.Tensor, cos_table: torch.Tensor, sin_table: torch.Tensor, positions: torch.Tensor
) -> tuple[torch.Tensor, torch.Tensor]:
    """Rotate-half rotary embedding of q, k [T, heads, head_dim] at positions [T]."""
    cos, sin = cos_table[positions].unsqueeze(1), sin_table[positions].unsqueeze(1)  # [T, 1, hd/2]
    return _rotate(q, cos, sin), _rotate(k, cos, sin)


@on_cuda_compiled
def silu_mul(gate_up: torch.Tensor) -> torch.Tensor:
    g, u = gate_up.chunk(2, dim=-1)
    return F.silu(g) * u


@on_cuda_compiled
def silu_mul_weighted(gate_up: torch.Tensor, weight: torch.Tensor) -> torch.Tensor:
    """silu(gate) * up, scaled per row by weight: gate_up [..., 2I], weight [...] -> [..., I]."""
    g, u = gate_up.chunk(2, dim=-1)
    return F.silu(g) * u * weight.unsqueeze(-1)
