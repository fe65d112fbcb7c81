"""The experts' MLP over (token, expert) pairs sorted by expert, as three Triton kernels with fused
epilogues (the layout comes from moe_align.align_by_expert, tiles of `block_m` pairs of one expert).

1. gate/up: each program computes the same columns of an expert's gate and up projections and stores
   silu(gate) * up, so the [pairs, 2I] intermediate and the elementwise kernels after it never exist.
2. down: split over K into `split` partial sums in fp32. At decode sizes the down projection has few
   output tiles (H / block_n per expert) and each reads a long K; splitting K multiplies the programs
   streaming the weights so the device's bandwidth is used.
3. combine: per token, the weighted sum over its top-k pairs of the summed partials, stored once in
   the model dtype (no atomics, so the result does not depend on the order programs finish).

Tile shapes are arguments: moe_tile_tuning picks them by timing on the device.
"""

from __future__ import annotations

from dataclasses import dataclass

import torch
import triton
import triton.language as tl

from .dot import dot_into, full_precision
from .moe_grouped_gemm import tile_pairs


@dataclass(frozen=True)
class GemmTiles:
    block_n: int
    block_k: int
    split: int = 1  # K split into this many partial sums (down projection only)
    num_warps: int = 4
    num_stages: int = 3

    def label(self) -> str:
        return f"{self.block_n}x{self.block_k}/s{self.split}/w{self.num_warps}/st{self.num_stages}"


@triton.jit
def _gate_up_silu_kernel(
    a_ptr,
    w_ptr,
    out_ptr,
    pairs_ptr,
    block_expert_ptr,
    I,
    K,
    ROWS_PER_TOKEN,
    s_am,
    s_we,
    s_wn,
    s_wk,
    s_om,
    BLOCK_M: tl.constexpr,
    BLOCK_N: tl.constexpr,
    BLOCK_K: tl.constexpr,
    IEEE: tl.constexpr,
):
    pid_m = tl.program_id(0)
    pid_n = tl.program_id(1)
    e = tl.load(block_expert_ptr + pid_m)
    if e < 0:
        return
    pair, valid, a_row = tile_pairs(pairs_ptr, pid_m, ROWS_PER_TOKEN, BLOCK_M)
    n = pid_n * BLOCK_N + tl.arange(0, BLOCK_N)
    kk = tl.arange(0, BLOCK_K)
    w_gate = w_ptr + e * s_we + n[None, :] * s_wn  # rows [0, I) of the expert's [2I, K] weight
    w_up = w_gate + I * s_wn  # rows [I, 2I)
    acc_g = tl.zeros([BLOCK_M, BLOCK_N], tl.float32)
    acc_u = tl.zeros([BLOCK_M, BLOCK_N], tl.float32)
    for k0 in range(0, K, BLOCK_K):
        k = k0 + kk
        a = tl.load(a_ptr + a_row[:, None] * s_am + k[None, :], mask=valid[:, None] & (k[None, :] < K), other=0.0)
        w_mask = (n[None, :] < I) & (k[:, None] < K)
        wg = tl.load(w_gate + k[:, None] * s_wk, mask=w_mask, other=0.0)
        wu = tl.load(w_up + k[:, None] * s_wk, mask=w_mask, other=0.0)
        acc_g = dot_into(acc_g, a, wg, IEEE)
        acc_u = dot_into(acc_u, a, wu, IEEE)
    h = acc_g * tl.sigmoid(acc_g) * acc_u
    tl.store(
        out_ptr + pair[:, None] * s_om + n[None, :],
        h.to(out_ptr.dtype.element_ty),
        mask=valid[:, None] & (n[None, :] < I),
    )


@triton.jit
def _down_split_k_kernel(
    a_ptr,
    w_ptr,
    part_ptr,
    pairs_ptr,
    block_expert_ptr,
    N,
    K,
    K_PER_SPLIT,
    s_am,
    s_we,
    s_wn,
    s_wk,
    s_ps,
    s_pm,
    BLOCK_M: tl.constexpr,
    BLOCK_N: tl.constexpr,
    BLOCK_K: tl.constexpr,
    IEEE: tl.constexpr,
):
    pid_m = tl.program_id(0)
    pid_n = tl.program_id(1)
    pid_s = tl.program_id(2)
    e = tl.load(block_expert_ptr + pid_m)
    if e < 0:
        return
    pair, valid, a_row = tile_pairs(pairs_ptr, pid_m, 1, BLOCK_M)
    n = pid_n * BLOCK_N + tl.arange(0, BLOCK_N)
    kk = tl.arange(0, BLOCK_K)
    k_start = pid_s * K_PER_SPLIT
    k_end = tl.minimum(k_start + K_PER_SPLIT, K)
    acc = tl.zeros([BLOCK_M, BLOCK_N], tl.float32)
    for k0 in range(k_start, k_end, BLOCK_K):
        k = k0 + kk
        a = tl.load(a_ptr + a_row[:, None] * s_am + k[None, :], mask=valid[:, None] & (k[None, :] < k_end), other=0.0)
        w = tl.load(
            w_ptr + e * s_we + n[None, :] * s_wn + k[:, None] * s_wk,
            mask=(n[None, :] < N) & (k[:, None] < k_end),
            other=0.0,
        )
        acc = dot_into(acc, a, w, IEEE)
    tl.store(part_ptr + pid_s * s_ps + pair[:, None] * s_pm + n[None, :], acc, mask=valid[:, None] & (n[None, :] < N))


@triton.jit
def _combine_kernel(
    part_ptr, weights_ptr, out_ptr, N, SPLITS, s_ps, s_pm, s_om, TOP_K: tl.constexpr, BLOCK_N: tl.constexpr
):
    t = tl.program_id(0)
    n = tl.program_id(1) * BLOCK_N + tl.arange(0, BLOCK_N)
    acc = tl.zeros([BLOCK_N], tl.float32)
    for k in tl.static_range(TOP_K):
        row = tl.zeros([BLOCK_N], tl.float32)
        for s in range(SPLITS):
            row += tl.load(part_ptr + s * s_ps + (t * TOP_K + k) * s_pm + n, mask=n < N, other=0.0)
        acc += tl.load(weights_ptr + t * TOP_K + k).to(tl.float32) * row
    tl.store(out_ptr + t * s_om + n, acc.to(out_ptr.dtype.element_ty), mask=n < N)


def gate_up_silu(
    x: torch.Tensor,
    w_gate_up: torch.Tensor,
    sorted_pairs: torch.Tensor,
    block_expert: torch.Tensor,
    top_k: int,
    block_m: int,
    tiles: GemmTiles,
) -> torch.Tensor:
    """x [T, K], w_gate_up [E, 2I, K] -> silu(x @ gate.T) * (x @ up.T) per pair, [T·top_k, I]."""
    T, K = x.shape
    inter = w_gate_up.shape[1] // 2
    out = torch.empty(T * top_k, inter, device=x.device, dtype=x.dtype)
    grid = (block_expert.numel(), triton.cdiv(inter, tiles.block_n))
    _gate_up_silu_kernel[grid](
        x,
        w_gate_up,
        out,
        sorted_pairs,
        block_expert,
        inter,
        K,
        top_k,
        x.stride(0),
        w_gate_up.stride(0),
        w_gate_up.stride(1),
        w_gate_up.stride(2),
        out.stride(0),
        BLOCK_M=block_m,
        BLOCK_N=tiles.block_n,
        BLOCK_K=tiles.block_k,
        IEEE=full_precision(x),
        num_warps=tiles.num_warps,
        num_stages=tiles.num_stages if x.is_cuda else 1,
    )
    return out


def down_partials(
    act: torch.Tensor,
    w_down: torch.Tensor,
    sorted_pairs: torch.Tensor,
    block_expert: torch.Tensor,
    block_m: int,
    tiles: GemmTiles,
) -> torch.Tensor:
    """act [pairs, K], w_down [E, N, K] -> fp32 partial sums [splits, pairs, N] of act @ w_down[expert].T."""
    pairs, K = act.shape
    N = w_down.shape[1]
    k_per_split = triton.cdiv(triton.cdiv(K, tiles.split), tiles.block_k) * tiles.block_k
    splits = triton.cdiv(K, k_per_split)
    part = torch.empty(splits, pairs, N, device=act.device, dtype=torch.float32)
    grid = (block_expert.numel(), triton.cdiv(N, tiles.block_n), splits)
    _down_split_k_kernel[grid](
        act,
        w_down,
        part,
        sorted_pairs,
        block_expert,
        N,
        K,
        k_per_split,
        act.stride(0),
        w_down.stride(0),
        w_down.stride(1),
        w_down.stride(2),
        part.stride(0),
        part.stride(1),
        BLOCK_M=block_m,
        BLOCK_N=tiles.block_n,
        BLOCK_K=tiles.block_k,
        IEEE=full_precision(act),
        num_warps=tiles.num_warps,
        num_stages=tiles.num_stages if act.is_cuda else 1,
    )
    return part


def combine(part: torch.Tensor, weights: torch.Tensor, dtype: torch.dtype) -> torch.Tensor:
    """part [splits, T·top_k, N], weights [T, top_k] -> sum over splits and the token's pairs, weighted: [T, N]."""
    splits, _, N = part.shape
    T, top_k = weights.shape
    out = torch.empty(T, N, device=part.device, dtype=dtype)
    block_n = min(1024, triton.next_power_of_2(N))
    _combine_kernel[(T, triton.cdiv(N, block_n))](
        part,
        weights.contiguous(),
        out,
        N,
        splits,
        part.stride(0),
        part.stride(1),
        out.stride(0),
        TOP_K=top_k,
        BLOCK_N=block_n,
        num_warps=4,
    )
    return out
