"""Per-expert loop: gather the tokens routed to each expert, run its MLP, scatter-add back."""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn

from .routing import route


class LoopMoE(nn.Module):
    graph_safe = False  # token counts per expert are read on the host: not capturable in a CUDA graph

    def __init__(self, gate, w1, w2, w3, top_k: int, linear):
        super().__init__()
        self.gate = nn.Parameter(gate, requires_grad=False)
        self.top_k = top_k
        self.gate_up = nn.ModuleList(linear(torch.cat([w1[e], w3[e]], 0)) for e in range(w1.shape[0]))
        self.down = nn.ModuleList(linear(w2[e]) for e in range(w2.shape[0]))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        weights, ids = route(x, self.gate, self.top_k)
        out = torch.zeros_like(x)
        for e in range(len(self.gate_up)):
            tok, slot = torch.where(ids == e)
            if tok.numel() == 0:
                continue
            g, u = self.gate_up[e](x[tok]).chunk(2, dim=-1)
            y = self.down[e](F.silu(g) * u) * weights[tok, slot, None]
            out.index_add_(0, tok, y)
        return out
