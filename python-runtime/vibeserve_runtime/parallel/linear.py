"""Column- and row-parallel linear layers (Megatron style) over any linear weight format.

Column-parallel: each rank holds a slice of the output features, so its output is a slice too and no
communication is needed. Row-parallel: each rank holds a slice of the input features, multiplies its
slice of the activations, and an all-reduce sums the partial products. A column-parallel layer
followed by a row-parallel one (qkv -> o_proj, gate_up -> down) costs one all-reduce.

Weights are [out, in] (nn.Linear / HF Llama layout); GPT-2's Conv1D [in, out] passes dim accordingly.
"""

from __future__ import annotations

import torch
from torch import nn


def shard_rows(t: torch.Tensor, rank: int, world_size: int, unit: int = 1, dim: int = 0) -> torch.Tensor:
    """Slice `rank` of `world_size` along `dim`, cut only at multiples of `unit` (a head's width, so a
    rank holds whole heads)."""
    n = t.shape[dim]
    if n % (unit * world_size):
        raise ValueError(
            f"tensor parallel: a dimension of {n} does not split into {world_size} equal parts of "
            f"whole {unit}-wide units"
        )
    size = n // world_size
    return t.narrow(dim, rank * size, size).contiguous()


def column_parallel_weight(weight, bias, rank, world_size, unit=1, out_dim=0):
    """This rank's output features of a column-parallel layer (bias sliced the same way)."""
    w = shard_rows(weight, rank, world_size, unit, out_dim)
    return w, None if bias is None else shard_rows(bias, rank, world_size, unit, 0)


def row_parallel_weight(weight, bias, rank, world_size, unit=1, in_dim=1):
    """This rank's input features of a row-parallel layer. The bias must be added once after the sum,
    so rank 0 keeps it and the others hold zeros (or None where the model allows no bias)."""
    w = shard_rows(weight, rank, world_size, unit, in_dim)
    if bias is None or rank == 0:
        return w, bias
    return w, torch.zeros_like(bias)


class RowParallelLinear(nn.Module):
    """Wraps the linear built on this rank's input slice; sums the partial outputs over the group."""

    def __init__(self, inner: nn.Module, tp):
        super().__init__()
        self.inner = inner
        self.tp = tp

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.tp.all_reduce(self.inner(x))
