"""Grouped GEMM for MoE over (token, expert) pairs sorted by expert.

Pairs are laid out expert by expert, each expert's run padded to a multiple of BLOCK_M, so every
BLOCK_M tile belongs to one expert and the kernel multiplies it with that expert's weight.
"""
from __future__ import annotations

import os

import torch
import triton
import triton.language as tl

BLOCK_M = 16


def align_by_expert(topk_ids: torch.Tensor, num_experts: int, block_m: int = BLOCK_M):
    """-> (sorted_pairs [P] pair index or -1 for padding, block_expert [P // block_m]); P is a static bound."""
    flat = topk_ids.reshape(-1)
    n_pairs = flat.numel()
    cap = triton.cdiv(n_pairs + num_experts * (block_m - 1), block_m) * block_m
    # scatter_add rather than bincount: bincount reads the max back to the host, which a CUDA graph forbids
    counts = torch.zeros(num_experts, dtype=torch.int64, device=flat.device).scatter_add_(0, flat, torch.ones_like(flat))
    padded = (counts + block_m - 1) // block_m * block_m
    starts = torch.cumsum(padded, 0) - padded                          # padded start of each expert's run
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
def _grouped_gemm_kernel(a_ptr, w_ptr, c_ptr, pairs_ptr, block_expert_ptr, N, K, ROWS_PER_TOKEN,
                         s_am, s_we, s_wn, s_cm,
                         BLOCK_M: tl.constexpr, BLOCK_N: tl.constexpr, BLOCK_K: tl.constexpr, IEEE: tl.constexpr):
    pid_m = tl.program_id(0)
    pid_n = tl.program_id(1)
    e = tl.load(block_expert_ptr + pid_m)
    if e < 0:
        return
    pair = tl.load(pairs_ptr + pid_m * BLOCK_M + tl.arange(0, BLOCK_M))
    valid = pair >= 0
    a_row = tl.where(valid, pair // ROWS_PER_TOKEN, 0)    # x row for gate_up (one per token), own row for down
    n = pid_n * BLOCK_N + tl.arange(0, BLOCK_N)
    kk = tl.arange(0, BLOCK_K)
    acc = tl.zeros([BLOCK_M, BLOCK_N], tl.float32)
    for k0 in range(0, K, BLOCK_K):
        k = k0 + kk
        a = tl.load(a_ptr + a_row[:, None] * s_am + k[None, :], mask=valid[:, None] & (k[None, :] < K), other=0.0)
        w = tl.load(w_ptr + e * s_we + n[None, :] * s_wn + k[:, None], mask=(n[None, :] < N) & (k[:, None] < K), other=0.0)
        if IEEE:
            acc += tl.dot(a, w, input_precision="ieee")
        else:
            acc += tl.dot(a, w)
    tl.store(c_ptr + pair[:, None] * s_cm + n[None, :], acc.to(c_ptr.dtype.element_ty),
             mask=valid[:, None] & (n[None, :] < N))


def grouped_gemm(a: torch.Tensor, w: torch.Tensor, sorted_pairs: torch.Tensor, block_expert: torch.Tensor,
                 num_pairs: int, rows_per_token: int, block_n: int = 64, block_k: int = 64,
                 num_warps: int = 4, num_stages: int = 3) -> torch.Tensor:
    """c[pair] = a[pair // rows_per_token] @ w[expert(pair)].T  for a [rows, K], w [E, N, K] -> c [num_pairs, N]."""
    a = a.contiguous()
    N, K = w.shape[1], w.shape[2]
    c = torch.empty(num_pairs, N, device=a.device, dtype=a.dtype)
    if not a.is_cuda and os.environ.get("TRITON_INTERPRET") != "1":
        return _grouped_gemm_torch(a, w, sorted_pairs, block_expert, c, rows_per_token)
    grid = (block_expert.numel(), triton.cdiv(N, block_n))
    _grouped_gemm_kernel[grid](a, w, c, sorted_pairs, block_expert, N, K, rows_per_token,
                               a.stride(0), w.stride(0), w.stride(1), c.stride(0),
                               BLOCK_M=BLOCK_M, BLOCK_N=block_n, BLOCK_K=block_k, IEEE=a.dtype == torch.float32,
                               num_warps=num_warps, num_stages=num_stages if a.is_cuda else 1)
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
