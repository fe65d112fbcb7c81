"""Mixtral routing: softmax over all experts, keep the top-k, renormalize."""

from __future__ import annotations

import torch
import torch.nn.functional as F


def route(x: torch.Tensor, gate_weight: torch.Tensor, top_k: int) -> tuple[torch.Tensor, torch.Tensor]:
    probs = F.softmax(F.linear(x, gate_weight).float(), dim=-1)
    weights, ids = torch.topk(probs, top_k, dim=-1)
    weights = weights / weights.sum(dim=-1, keepdim=True)
    return weights.to(x.dtype), ids
