"""Grouped GEMM for MoE over (token, expert) pairs sorted by expert.

Pairs are laid out expert by expert, each expert's run padded to a multiple of BLOCK_M, so every
BLOCK_M tile belongs to one expert and the kernel multiplies it with that expert's weight (the
layout comes from moe_align.align_by_expert).
"""

from __future__ import annotations

import os

import torch
import triton
import triton.language as tl

from .dot import dot_into, full_precision
from .moe_align import BLOCK_M


@triton.jit
def tile_pairs(pairs_ptr, pid_m, ROWS_PER_TOKEN, BLOCK_M: tl.constexpr):
    """Tile pid_m's pair indices (-1 for padding), which of them are real, and the row of the
    left operand each reads (its token's for a per-token operand, its own for a per-pair one)."""
    pair = tl.load(pairs_ptr + pid_m * BLOCK_M + tl.arange(0, BLOCK_M))
    valid = pair >= 0
    return pair, valid, tl.where(valid, pair // ROWS_PER_TOKEN, 0)


@triton.jit
def _grouped_gemm_kernel(
    a_ptr,
    w_ptr,
    c_ptr,
    pairs_ptr,
    block_expert_ptr,
    N,
    K,
    ROWS_PER_TOKEN,
    s_am,
    s_we,
    s_wn,
    s_wk,
    s_cm,
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
    acc = tl.zeros([BLOCK_M, BLOCK_N], tl.float32)
    for k0 in range(0, K, BLOCK_K):
        k = k0 + kk
        a = tl.load(a_ptr + a_row[:, None] * s_am + k[None, :], mask=valid[:, None] & (k[None, :] < K), other=0.0)
        w = tl.load(
            w_ptr + e * s_we + n[None, :] * s_wn + k[:, None] * s_wk,
            mask=(n[None, :] < N) & (k[:, None] < K),
            other=0.0,
        )
        acc = dot_into(acc, a, w, IEEE)
    tl.store(
        c_ptr + pair[:, None] * s_cm + n[None, :],
        acc.to(c_ptr.dtype.element_ty),
        mask=valid[:, None] & (n[None, :] < N),
    )


def grouped_gemm(
    a: torch.Tensor,
    w: torch.Tensor,
    sorted_pairs: torch.Tensor,
    block_expert: torch.Tensor,
    num_pairs: int,
    rows_per_token: int,
    block_n: int = 64,
    block_k: int = 64,
    num_warps: int = 4,
    num_stages: int = 3,
) -> torch.Tensor:
    """c[pair] = a[pair // rows_per_token] @ w[expert(pair)].T  for a [rows, K], w [E, N, K] -> c [num_pairs, N].
    w may be a strided view (e.g. the transpose of an [E, K, N] tensor)."""
    a = a.contiguous()
    N, K = w.shape[1], w.shape[2]
    c = torch.empty(num_pairs, N, device=a.device, dtype=a.dtype)
    if not a.is_cuda and os.environ.get("TRITON_INTERPRET") != "1":
        return _grouped_gemm_torch(a, w, sorted_pairs, block_expert, c, rows_per_token)
    grid = (block_expert.numel(), triton.cdiv(N, block_n))
    _grouped_gemm_kernel[grid](
        a,
        w,
        c,
        sorted_pairs,
        block_expert,
        N,
        K,
        rows_per_token,
        a.stride(0),
        w.stride(0),
        w.stride(1),
        w.stride(2),
        c.stride(0),
        BLOCK_M=BLOCK_M,
        BLOCK_N=block_n,
        BLOCK_K=block_k,
        IEEE=full_precision(a),
        num_warps=num_warps,
        num_stages=num_stages if a.is_cuda else 1,
    )
    return c


def _grouped_gemm_torch(a, w, sorted_pairs, block_expert, c, rows_per_token):
    """CPU path without Triton: the same sorted layout, one matmul per expert's contiguous run."""
    tiles = sorted_pairs.view(-1, BLOCK_M)
    for e in block_expert.unique().tolist():
        if e < 0:
            continue
        pairs = tiles[block_expert == e].reshape(-1)
        pairs = pairs[pairs >= 0]
        c[pairs] = a[pairs // rows_per_token] @ w[e].T
    return c
