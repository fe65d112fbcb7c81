"""Rotary position embedding (Llama style, rotate-half), with Llama-3 and linear frequency scaling.

`rope_positions` is the one place a position is turned into a rotation angle index, so a test can
subclass this class to inject a wrong offset and watch the checker fail. Note that one offset applied
to every position is invisible (attention only sees relative rotations): a visible bug shifts queries
against keys, or decode steps against prefill (e.g. `positions + (positions >= n)`).
"""

from __future__ import annotations

import math

import torch
from torch import nn

from .fused import rope


def rope_params(cfg: dict) -> tuple[float, dict | None]:
    params = cfg.get("rope_parameters") or {}
    theta = cfg.get("rope_theta") or params.get("rope_theta") or 10000.0
    scaling = cfg.get("rope_scaling") or (params if params.get("rope_type", "default") != "default" else None)
    return float(theta), scaling


def _inv_freq(head_dim: int, theta: float, scaling: dict | None) -> torch.Tensor:
    inv = 1.0 / theta ** (torch.arange(0, head_dim, 2, dtype=torch.float64) / head_dim)
    kind = (scaling or {}).get("rope_type") or (scaling or {}).get("type")
    if kind == "llama3":
        factor, lo, hi = scaling["factor"], scaling["low_freq_factor"], scaling["high_freq_factor"]
        old_len = scaling["original_max_position_embeddings"]
        wavelen = 2 * math.pi / inv
        smooth = ((old_len / wavelen) - lo) / (hi - lo)
        scaled = torch.where(wavelen > old_len / lo, inv / factor, inv)
        mid = (wavelen <= old_len / lo) & (wavelen >= old_len / hi)
        inv = torch.where(mid, (1 - smooth) * inv / factor + smooth * inv, scaled)
    elif kind == "linear":
        inv = inv / scaling["factor"]
    elif kind not in (None, "default"):
        raise ValueError(f"model config: rope scaling type {kind!r} is not supported (default, linear, llama3)")
    return inv.float()


class RotaryEmbedding(nn.Module):
    def __init__(self, head_dim: int, max_positions: int, theta: float, scaling: dict | None = None):
        super().__init__()
        freqs = torch.outer(torch.arange(max_positions, dtype=torch.float32), _inv_freq(head_dim, theta, scaling))
        self.register_buffer("cos", freqs.cos(), persistent=False)  # [max_pos, head_dim/2]
        self.register_buffer("sin", freqs.sin(), persistent=False)

    def rope_positions(self, positions: torch.Tensor) -> torch.Tensor:
        return positions

    def forward(self, positions: torch.Tensor, q: torch.Tensor, k: torch.Tensor):
        return rope(q, k, self.cos, self.sin, self.rope_positions(positions))  # cos/sin: [max_pos, hd/2]
