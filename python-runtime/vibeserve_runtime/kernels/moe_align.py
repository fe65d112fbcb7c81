"""Sorting MoE (token, expert) pairs by expert for the grouped GEMM, without leaving the device.

The layout: each expert's pairs in pair order, its run padded to a multiple of BLOCK_M, so every
BLOCK_M tile belongs to one expert; `block_expert` names each tile's expert (-1 past the last run).
The size is a static bound of the pair count, so the step can be captured in a CUDA graph.

A decode step sorts a few dozen pairs per layer, and the torch formulation (counts, cumsums, a
stable argsort, a scatter, a searchsorted) is about ten kernel launches for it, several times the
work. `align_by_expert_fused` sorts up to MAX_FUSED_PAIRS pairs in one single-program Triton kernel:
per expert, a cumulative sum over the pair list gives every pair its rank in that expert's run. It
gives the torch layout exactly (tests/test_kernels_triton.py), and on an H100 it takes the sort from
~51 to ~5 µs and the Mixtral-shaped layer from 156-184 to 101-128 µs at 4-64 tokens
(bench/results/moe_align_h100.json), so `align_by_expert` uses it on CUDA up to that size.
"""

from __future__ import annotations

import torch
import triton
import triton.language as tl

BLOCK_M = 16
MAX_FUSED_PAIRS = 1024  # beyond this (prefill) the pair list no longer fits one program comfortably


def padded_capacity(n_pairs: int, num_experts: int, block_m: int = BLOCK_M) -> int:
    # triton types cdiv for use inside kernels (constexpr); on the host it is plain int arithmetic
    return triton.cdiv(n_pairs + num_experts * (block_m - 1), block_m) * block_m  # pyright: ignore[reportReturnType]


def align_by_expert(topk_ids: torch.Tensor, num_experts: int, block_m: int = BLOCK_M):
    """-> (sorted_pairs [cap] pair index or -1 for padding, block_expert [cap // block_m])."""
    if topk_ids.is_cuda and topk_ids.numel() <= MAX_FUSED_PAIRS:
        return align_by_expert_fused(topk_ids, num_experts, block_m)
    return align_by_expert_torch(topk_ids, num_experts, block_m)


def align_by_expert_torch(topk_ids: torch.Tensor, num_experts: int, block_m: int = BLOCK_M):
    flat = topk_ids.reshape(-1)
    n_pairs = flat.numel()
    cap = padded_capacity(n_pairs, num_experts, block_m)
    # scatter_add rather than bincount: bincount reads the max back to the host, which a CUDA graph forbids
    counts = torch.zeros(num_experts, dtype=torch.int64, device=flat.device).scatter_add_(
        0, flat, torch.ones_like(flat)
    )
    padded = (counts + block_m - 1) // block_m * block_m
    starts = torch.cumsum(padded, 0) - padded  # padded start of each expert's run
    order = torch.argsort(flat, stable=True)
    first_of_expert = torch.cumsum(counts, 0) - counts
    rank = torch.arange(n_pairs, device=flat.device) - first_of_expert[flat[order]]
    dest = starts[flat[order]] + rank
    sorted_pairs = torch.full((cap,), -1, dtype=torch.int64, device=flat.device)
    sorted_pairs[dest] = order
    # expert of each tile; tiles past the last expert's run get -1 and exit early
    tile_start = torch.arange(0, cap, block_m, device=flat.device)
    block_expert = torch.searchsorted(torch.cumsum(padded, 0), tile_start, right=True)
    block_expert = torch.where(block_expert < num_experts, block_expert, -1)
    return sorted_pairs, block_expert


@triton.jit
def _align_kernel(
    ids_ptr,
    pairs_ptr,
    block_expert_ptr,
    n_pairs,
    cap,
    n_tiles,
    E: tl.constexpr,
    BLOCK_M: tl.constexpr,
    P: tl.constexpr,
    CAP: tl.constexpr,
    TILES: tl.constexpr,
):
    offs = tl.arange(0, P)
    valid = offs < n_pairs
    expert = tl.load(ids_ptr + offs, mask=valid, other=E).to(tl.int32)  # padding lanes match no expert
    slots = tl.arange(0, CAP)
    tl.store(pairs_ptr + slots, tl.full([CAP], -1, tl.int64), mask=slots < cap)
    tile_start = tl.arange(0, TILES) * BLOCK_M
    tile_expert = tl.full([TILES], -1, tl.int32)
    dest = tl.zeros([P], tl.int32)
    start = tl.sum(tl.zeros([P], tl.int32), axis=0)  # a scalar 0 the loop can carry
    for j in tl.static_range(E):
        mine = (expert == j).to(tl.int32)
        dest = tl.where(mine == 1, start + tl.cumsum(mine, axis=0) - 1, dest)
        padded = (tl.sum(mine, axis=0) + BLOCK_M - 1) // BLOCK_M * BLOCK_M
        tile_expert = tl.where((tile_start >= start) & (tile_start < start + padded), j, tile_expert)
        start += padded
    tl.debug_barrier()  # every -1 is written before the pairs land on top of them
    tl.store(pairs_ptr + dest, offs.to(tl.int64), mask=valid)
    tl.store(block_expert_ptr + tl.arange(0, TILES), tile_expert.to(tl.int64), mask=tl.arange(0, TILES) < n_tiles)


def align_by_expert_fused(topk_ids: torch.Tensor, num_experts: int, block_m: int = BLOCK_M):
    flat = topk_ids.reshape(-1).contiguous()
    n_pairs = flat.numel()
    if n_pairs > MAX_FUSED_PAIRS:
        raise ValueError(f"{n_pairs} pairs: the single-program sort takes at most {MAX_FUSED_PAIRS}")
    cap = padded_capacity(n_pairs, num_experts, block_m)
    n_tiles = cap // block_m
    sorted_pairs = torch.empty(cap, dtype=torch.int64, device=flat.device)
    block_expert = torch.empty(n_tiles, dtype=torch.int64, device=flat.device)
    P = max(16, triton.next_power_of_2(n_pairs))
    _align_kernel[(1,)](
        flat,
        sorted_pairs,
        block_expert,
        n_pairs,
        cap,
        n_tiles,
        E=num_experts,
        BLOCK_M=block_m,
        P=P,
        CAP=max(16, triton.next_power_of_2(cap)),
        TILES=max(16, triton.next_power_of_2(n_tiles)),
        num_warps=4,
    )
    return sorted_pairs, block_expert
