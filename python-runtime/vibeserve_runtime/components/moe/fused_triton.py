"""Fused MoE: (token, expert) pairs sorted by expert and run as one grouped GEMM per projection.

No host sync: the padded sorted layout has a fixed upper-bound size, so the step can be captured in
a CUDA graph.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn

from ...kernels.moe_align import align_by_expert
from ...kernels.moe_grouped_gemm import grouped_gemm
from .routing import route


class FusedTritonMoE(nn.Module):
    def __init__(self, gate, w1, w2, w3, top_k: int, linear):
        super().__init__()
        self.gate = nn.Parameter(gate, requires_grad=False)
        self.top_k = top_k
        self.num_experts = w1.shape[0]
        self.register_buffer("w_gate_up", torch.cat([w1, w3], dim=1).contiguous())  # [E, 2I, H]
        self.register_buffer("w_down", w2.contiguous())  # [E, H, I]

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        T = x.shape[0]
        weights, ids = route(x, self.gate, self.top_k)
        sorted_pairs, block_expert = align_by_expert(ids, self.num_experts)
        h = grouped_gemm(x, self.w_gate_up, sorted_pairs, block_expert, T * self.top_k, rows_per_token=self.top_k)
        g, u = h.chunk(2, dim=-1)
        y = grouped_gemm(F.silu(g) * u, self.w_down, sorted_pairs, block_expert, T * self.top_k, rows_per_token=1)
        return (y.view(T, self.top_k, -1) * weights[..., None]).sum(dim=1)
