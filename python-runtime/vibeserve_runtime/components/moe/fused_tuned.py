"""Fused MoE with every step in Triton and tile shapes timed on the device for this model.

Per layer five kernels: routing (logits, top-k, weights), the expert sort, gate/up with SiLU in its
epilogue, the down projection split over K, and the weighted combine (kernels/moe_routing.py,
moe_align.py, moe_expert_mlp.py). moe=fused_triton runs the same sorted layout as about a dozen
launches with one fixed tile shape. Tiles come from kernels/moe_tile_tuning.py. Without Triton on
CPU it falls back to fused_triton's torch path over the same weights.
"""

from __future__ import annotations

import os

import torch

from ...kernels.moe_align import align_by_expert
from ...kernels.moe_expert_mlp import combine, down_partials, gate_up_silu
from ...kernels.moe_routing import route_fused
from ...kernels.moe_tile_tuning import can_time, tiles_for
from .fused_triton import FusedTritonMoE


class TunedFusedMoE(FusedTritonMoE):
    @torch.no_grad()
    def prepare_for_tokens(self, max_tokens: int) -> None:
        """Times the tiles of every token-count bucket (powers of two) up to max_tokens; the engine calls
        it at load. The choice is shared by every layer of this shape, so only the first one times."""
        if not can_time(self.gate):
            return
        tokens = 1
        while True:
            x = torch.randn(tokens, self.w_gate_up.shape[2], device=self.gate.device, dtype=self.w_gate_up.dtype)
            tiles_for(x, self.top_k, self.w_gate_up, self.w_down)
            if tokens >= max_tokens:
                return
            tokens *= 2

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if not x.is_cuda and os.environ.get("TRITON_INTERPRET") != "1":
            return super().forward(x)
        if x.shape[0] == 0:
            return torch.empty_like(x)
        weights, ids = route_fused(x, self.gate, self.top_k)
        tiles = tiles_for(x, self.top_k, self.w_gate_up, self.w_down)
        pairs, block_expert = align_by_expert(ids, self.num_experts, tiles.block_m)
        act = gate_up_silu(x, self.w_gate_up, pairs, block_expert, self.top_k, tiles.block_m, tiles.gate_up)
        part = down_partials(act, self.w_down, pairs, block_expert, tiles.block_m, tiles.down)
        return combine(part, weights, x.dtype)
