"""Mixtral routing in one kernel: router logits, top-k, and the renormalized weights of the chosen experts.

The torch formulation (a GEMV, a float softmax, topk, a sum, a divide, a cast) is six launches for a
few hundred FLOPs per token; in a captured decode step each is a few µs of latency per layer. The
softmax's denominator cancels when the kept probabilities are renormalized, so the weights are a
softmax over the k largest logits alone. Logits accumulate in fp32 (the torch path rounds them to the
model dtype first); ties go to the lower expert index.
"""

from __future__ import annotations

import torch
import triton
import triton.language as tl


@triton.jit
def _route_kernel(
    x_ptr,
    gate_ptr,
    weights_ptr,
    ids_ptr,
    H,
    s_xm,
    s_ge,
    E: tl.constexpr,
    E_PAD: tl.constexpr,
    TOP_K: tl.constexpr,
    BLOCK_H: tl.constexpr,
):
    t = tl.program_id(0)
    e = tl.arange(0, E_PAD)
    acc = tl.zeros([E_PAD], tl.float32)
    for h0 in range(0, H, BLOCK_H):
        h = h0 + tl.arange(0, BLOCK_H)
        x = tl.load(x_ptr + t * s_xm + h, mask=h < H, other=0.0).to(tl.float32)
        g = tl.load(gate_ptr + e[:, None] * s_ge + h[None, :], mask=(e[:, None] < E) & (h[None, :] < H), other=0.0).to(
            tl.float32
        )
        acc += tl.sum(g * x[None, :], axis=1)
    logits = tl.where(e < E, acc, float("-inf"))
    top = tl.max(logits, axis=0)
    # rank[e] = k for the expert picked k-th, TOP_K for the rest
    rank = tl.full([E_PAD], TOP_K, tl.int32)
    remaining = logits
    for k in tl.static_range(TOP_K):
        best = tl.max(remaining, axis=0)
        pick = tl.min(tl.where(remaining == best, e, E_PAD), axis=0)
        rank = tl.where(e == pick, k, rank)
        remaining = tl.where(e == pick, float("-inf"), remaining)
    kept = tl.where(rank < TOP_K, tl.exp(logits - top), 0.0)
    kept = kept / tl.sum(kept, axis=0)
    for k in tl.static_range(TOP_K):
        tl.store(ids_ptr + t * TOP_K + k, tl.sum(tl.where(rank == k, e, 0), axis=0).to(tl.int64))
        tl.store(weights_ptr + t * TOP_K + k, tl.sum(tl.where(rank == k, kept, 0.0), axis=0))


def route_fused(x: torch.Tensor, gate_weight: torch.Tensor, top_k: int) -> tuple[torch.Tensor, torch.Tensor]:
    """x [T, H], gate [E, H] -> (weights [T, top_k] fp32, expert ids [T, top_k] int64), largest first."""
    T, H = x.shape
    E = gate_weight.shape[0]
    x, gate_weight = x.contiguous(), gate_weight.contiguous()
    weights = torch.empty(T, top_k, device=x.device, dtype=torch.float32)
    ids = torch.empty(T, top_k, device=x.device, dtype=torch.int64)
    if T:
        _route_kernel[(T,)](
            x,
            gate_weight,
            weights,
            ids,
            H,
            x.stride(0),
            gate_weight.stride(0),
            E=E,
            E_PAD=triton.next_power_of_2(E),
            TOP_K=top_k,
            BLOCK_H=256,
            num_warps=4,
        )
    return weights, ids
