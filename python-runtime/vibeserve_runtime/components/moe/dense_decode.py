"""Dense MoE for small batches: every expert on every token as two plain GEMMs over all experts'
weights, the products of unrouted (token, expert) pairs weighted 0.

A decode batch of a few dozen tokens routes to nearly every expert (16 tokens × top-2 of 8 leave an
expert unused with probability (6/8)^16 ≈ 1%), so every expert's weights are read from memory
whichever way the layer is computed, and at this size reading them is the whole cost: the extra
multiply-adds of the unrouted pairs are free. What is saved is the grouped path's fixed work: no
sort of the pairs by expert and no padded tiles, just [T, H] @ [H, E·2I], one fused elementwise
kernel and [T, E·I] @ [E·I, H], where summing over the concatenated experts is the weighted
combine. Above DENSE_MAX_TOKENS (prefill) the extra FLOPs would cost more than the weights: those
batches take the grouped GEMM, over the same weight storage.
"""

from __future__ import annotations

import torch
from torch import nn

from ...kernels.moe_align import align_by_expert
from ...kernels.moe_grouped_gemm import grouped_gemm
from ...models.fused import silu_mul, silu_mul_weighted
from .routing import route

# Batches up to this many tokens run dense. On an H100 the dense path computes 4× the routed FLOPs
# (top-2 of 8) but reads each weight once; ~230 tokens is where those FLOPs take as long as the read.
DENSE_MAX_TOKENS = 64


class DenseDecodeMoE(nn.Module):
    def __init__(self, gate, w1, w2, w3, top_k: int, linear):
        super().__init__()
        E, I, H = w1.shape
        self.gate = nn.Parameter(gate, requires_grad=False)
        self.top_k, self.num_experts, self.inter = top_k, E, I
        # per expert [gate; up] rows: [E, 2I, H] for the grouped path, [E·2I, H] for the dense GEMM
        self.register_buffer("w_gate_up", torch.cat([w1, w3], dim=1).contiguous())
        # down projections stored [E, I, H]: [E·I, H] is the dense GEMM's right operand, and the
        # grouped path reads the same storage transposed
        self.register_buffer("w_down_t", w2.transpose(1, 2).contiguous())

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        T, H = x.shape
        weights, ids = route(x, self.gate, self.top_k)
        if T > DENSE_MAX_TOKENS:
            return self._grouped(x, weights, ids)
        E, I = self.num_experts, self.inter
        dense = torch.zeros(T, E, dtype=x.dtype, device=x.device).scatter_(1, ids, weights)
        h = (x @ self.w_gate_up.view(E * 2 * I, H).t()).view(T, E, 2 * I)
        return silu_mul_weighted(h, dense).view(T, E * I) @ self.w_down_t.view(E * I, H)

    def _grouped(self, x, weights, ids):
        T = x.shape[0]
        sorted_pairs, block_expert = align_by_expert(ids, self.num_experts)
        h = grouped_gemm(x, self.w_gate_up, sorted_pairs, block_expert, T * self.top_k, rows_per_token=self.top_k)
        y = grouped_gemm(
            silu_mul(h), self.w_down_t.transpose(1, 2), sorted_pairs, block_expert, T * self.top_k, rows_per_token=1
        )
        return (y.view(T, self.top_k, -1) * weights[..., None]).sum(dim=1)
