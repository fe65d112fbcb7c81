"""Weights kept in the model dtype; F.linear (cuBLAS on GPU)."""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn


class NativeLinear(nn.Module):
    def __init__(self, weight: torch.Tensor, bias: torch.Tensor | None = None):
        super().__init__()
        self.weight = nn.Parameter(weight, requires_grad=False)
        self.bias = None if bias is None else nn.Parameter(bias, requires_grad=False)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return F.linear(x, self.weight, self.bias)
