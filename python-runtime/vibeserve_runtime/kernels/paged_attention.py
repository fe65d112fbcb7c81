"""Paged-attention decode: one query token per sequence, K/V read through a block table.

One program per (sequence, kv head) handles all query heads of that GQA group, so each K/V tile is
read from memory once; an online softmax walks the context BLOCK_N tokens at a time. A head size
that is not a power of two (80, 96, 112, ...) is padded to the next one in registers: the padding
columns load as zeros, add nothing to the dot products and are never stored.

With new K/V given (the decode step's own token), the same program also writes them to their cache
slot and takes the token's attention term from registers instead of from the cache: one launch
per layer instead of three (two cache stores and the attention).
"""

from __future__ import annotations

import torch
import triton
import triton.language as tl

from .dot import dot_into, full_precision


@triton.jit
def online_softmax_step(m_i, l_i, acc, s, v, IEEE: tl.constexpr):
    """Folds one tile of scores s [rows, tokens] (masked entries -inf) and values v into the running
    max, sum and output; rows with nothing attended yet keep m = -inf without producing NaNs."""
    m_new = tl.maximum(m_i, tl.max(s, 1))
    m_ref = tl.where(m_new == float("-inf"), 0.0, m_new)
    p = tl.exp(s - m_ref[:, None])
    alpha = tl.exp(m_i - m_ref)
    l_i = l_i * alpha + tl.sum(p, 1)
    acc = dot_into(acc * alpha[:, None], p.to(v.dtype), v, IEEE)
    return m_new, l_i, acc


@triton.jit
def store_step_kv(k_head, v_head, kn_at, vn_at, slot, d, d_ok, s_kb, s_kt, BLOCK_SIZE: tl.constexpr):
    """Writes the step's own K/V (read at kn_at/vn_at) to cache slot `slot` of one kv head (k_head/v_head:
    the caches offset to that head); returns them."""
    kn = tl.load(kn_at + d, mask=d_ok, other=0.0)
    vn = tl.load(vn_at + d, mask=d_ok, other=0.0)
    dst = (slot // BLOCK_SIZE) * s_kb + (slot % BLOCK_SIZE) * s_kt + d
    tl.store(k_head + dst, kn, mask=d_ok)
    tl.store(v_head + dst, vn, mask=d_ok)
    return kn, vn


@triton.jit
def walk_context(
    q,
    m_i,
    l_i,
    acc,
    k_head,
    v_head,
    table,
    start,
    end,
    scale,
    s_kb,
    s_kt,
    d,
    d_ok,
    BLOCK_SIZE: tl.constexpr,
    BLOCK_N: tl.constexpr,
    IEEE: tl.constexpr,
):
    """Attends q (one sequence's query heads of one kv head, padded rows included) over its cached tokens
    [start, end), read through its block table `table` BLOCK_N at a time from the caches offset to that kv
    head (k_head/v_head), folded into the running softmax state."""
    n = tl.arange(0, BLOCK_N)
    for i in range(0, tl.cdiv(end - start, BLOCK_N)):
        tok = start + i * BLOCK_N + n
        valid = tok < end
        blk = tl.load(table + tok // BLOCK_SIZE, mask=valid, other=0)
        off = blk * s_kb + (tok % BLOCK_SIZE) * s_kt
        k = tl.load(k_head + off[:, None] + d[None, :], mask=valid[:, None] & d_ok[None, :], other=0.0)
        v = tl.load(v_head + off[:, None] + d[None, :], mask=valid[:, None] & d_ok[None, :], other=0.0)
        s = dot_into(tl.zeros([q.shape[0], BLOCK_N], tl.float32), q, tl.trans(k), IEEE)
        s = tl.where(valid[None, :], s * scale, float("-inf"))
        m_i, l_i, acc = online_softmax_step(m_i, l_i, acc, s, v, IEEE)
    return m_i, l_i, acc


@triton.jit
def fold_step_token(q, kn, vn, m_i, l_i, acc, scale):
    """Adds the step's own token (kept in registers, not read back from the cache) to the softmax
    state; returns the normalized output."""
    s_n = tl.sum(q.to(tl.float32) * kn.to(tl.float32)[None, :], 1) * scale  # [GROUP_PAD]
    m_new = tl.maximum(m_i, s_n)
    p_n = tl.exp(s_n - m_new)
    alpha = tl.exp(m_i - m_new)
    l_i = l_i * alpha + p_n
    # p is rounded to the cache dtype like the tiles' p in walk_context
    acc = acc * alpha[:, None] + p_n.to(vn.dtype).to(tl.float32)[:, None] * vn.to(tl.float32)[None, :]
    return acc / l_i[:, None]


@triton.jit
def _paged_decode_kernel(
    q_ptr,
    k_ptr,
    v_ptr,
    bt_ptr,
    ctx_ptr,
    o_ptr,
    kn_ptr,
    vn_ptr,
    slot_ptr,
    scale,
    s_qb,
    s_qh,
    s_kb,
    s_kt,
    s_kh,
    s_btb,
    s_ob,
    s_oh,
    s_knb,
    s_knh,
    s_vnb,
    s_vnh,
    GROUP: tl.constexpr,
    GROUP_PAD: tl.constexpr,
    HEAD_DIM: tl.constexpr,
    BLOCK_D: tl.constexpr,
    BLOCK_SIZE: tl.constexpr,
    BLOCK_N: tl.constexpr,
    IEEE: tl.constexpr,
    NEW_KV: tl.constexpr,
):
    b = tl.program_id(0)
    kvh = tl.program_id(1)
    ctx = tl.load(ctx_ptr + b)
    g = tl.arange(0, GROUP_PAD)
    d = tl.arange(0, BLOCK_D)
    d_ok = d < HEAD_DIM
    heads = kvh * GROUP + g
    q = tl.load(
        q_ptr + b * s_qb + heads[:, None] * s_qh + d[None, :], mask=(g < GROUP)[:, None] & d_ok[None, :], other=0.0
    )
    m_i = tl.full([GROUP_PAD], float("-inf"), tl.float32)
    l_i = tl.zeros([GROUP_PAD], tl.float32)
    acc = tl.zeros([GROUP_PAD, BLOCK_D], tl.float32)
    # the caches and block table seen from this program's kv head and sequence
    k_head, v_head, table = k_ptr + kvh * s_kh, v_ptr + kvh * s_kh, bt_ptr + b * s_btb
    if NEW_KV:
        kn_at, vn_at = kn_ptr + b * s_knb + kvh * s_knh, vn_ptr + b * s_vnb + kvh * s_vnh
        kn, vn = store_step_kv(k_head, v_head, kn_at, vn_at, tl.load(slot_ptr + b), d, d_ok, s_kb, s_kt, BLOCK_SIZE)
    n_cached = ctx - 1 if NEW_KV else ctx  # the new token (position ctx - 1) is not read back from the cache
    m_i, l_i, acc = walk_context(
        q, m_i, l_i, acc, k_head, v_head, table, 0, n_cached, scale, s_kb, s_kt, d, d_ok, BLOCK_SIZE, BLOCK_N, IEEE
    )
    if NEW_KV:
        out = fold_step_token(q, kn, vn, m_i, l_i, acc, scale)
    else:
        out = acc / l_i[:, None]
    tl.store(
        o_ptr + b * s_ob + heads[:, None] * s_oh + d[None, :],
        out.to(o_ptr.dtype.element_ty),
        mask=(g < GROUP)[:, None] & d_ok[None, :],
    )


def paged_attention_decode(
    q: torch.Tensor,
    k_cache: torch.Tensor,
    v_cache: torch.Tensor,
    block_tables: torch.Tensor,
    context_lens: torch.Tensor,
    scale: float,
    block_n: int = 128,
    num_warps: int = 4,
    num_stages: int = 2,
    k_new: torch.Tensor | None = None,
    v_new: torch.Tensor | None = None,
    slot_mapping: torch.Tensor | None = None,
) -> torch.Tensor:
    """q [B, H, D]; k/v_cache [num_blocks, block_size, kv_heads, D]; returns [B, H, D].
    k_new/v_new [B, kv_heads, D] with slot_mapping [B]: this step's K/V, stored into the cache here
    (context_lens then count them, as the last token)."""
    B, H, D = q.shape
    _, block_size, kvh, _ = k_cache.shape
    if D < 8 or D > 256:
        raise ValueError(f"triton_paged attention serves head_dim 8 to 256, got {D}")
    group = H // kvh
    q = q.contiguous()
    out = torch.empty_like(q)
    new_kv = k_new is not None
    kn, vn, slots = (k_new, v_new, slot_mapping) if new_kv else (q, q, context_lens)  # unused when not new_kv
    block_d = max(16, triton.next_power_of_2(D))
    stages = num_stages if q.is_cuda else 1
    _paged_decode_kernel[(B, kvh)](
        q,
        k_cache,
        v_cache,
        block_tables,
        context_lens,
        out,
        kn,
        vn,
        slots,
        scale,
        q.stride(0),
        q.stride(1),
        k_cache.stride(0),
        k_cache.stride(1),
        k_cache.stride(2),
        block_tables.stride(0),
        out.stride(0),
        out.stride(1),
        kn.stride(0),
        kn.stride(1),
        vn.stride(0),
        vn.stride(1),
        GROUP=group,
        GROUP_PAD=max(16, triton.next_power_of_2(group)),
        HEAD_DIM=D,
        BLOCK_D=block_d,
        BLOCK_SIZE=block_size,
        BLOCK_N=context_tile(block_n, block_d, k_cache.element_size(), stages),
        IEEE=full_precision(q),
        NEW_KV=new_kv,
        num_warps=num_warps,
        num_stages=stages,
    )
    return out


# The K and V tiles of every pipelined stage sit in shared memory (227 KiB per SM on Hopper); keeping
# them within 160 KiB leaves room for the compiler's own buffers (head_dim 256 at 128 tokens did not fit).
TILE_SHARED_BYTES = 160 * 1024


def context_tile(block_n: int, block_d: int, elem_bytes: int, stages: int) -> int:
    """Tokens per step of the context walk: the requested tile, at most 128, shrunk to fit shared memory."""
    rows = TILE_SHARED_BYTES // (2 * block_d * elem_bytes * max(1, stages))
    return max(16, min(block_n, 128, 1 << (rows.bit_length() - 1)))


# Opaque ops for torch.compile: Inductor calls the kernel as is instead of re-compiling the Triton source
# itself (which mistypes the float scale), and fuses the elementwise work around it. The cache writes are
# declared, so functionalization keeps them in place rather than copying the cache.
@torch.library.custom_op("vibeserve::paged_attention_decode", mutates_args=())
def paged_attention_decode_op(
    q: torch.Tensor,
    k_cache: torch.Tensor,
    v_cache: torch.Tensor,
    block_tables: torch.Tensor,
    context_lens: torch.Tensor,
    scale: float,
) -> torch.Tensor:
    return paged_attention_decode(q, k_cache, v_cache, block_tables, context_lens, scale)


@paged_attention_decode_op.register_fake
def _(q, k_cache, v_cache, block_tables, context_lens, scale):
    return torch.empty_like(q.contiguous())


@torch.library.custom_op("vibeserve::paged_attention_decode_store", mutates_args=("k_cache", "v_cache"))
def paged_attention_decode_store_op(
    q: torch.Tensor,
    k: torch.Tensor,
    v: torch.Tensor,
    k_cache: torch.Tensor,
    v_cache: torch.Tensor,
    slot_mapping: torch.Tensor,
    block_tables: torch.Tensor,
    context_lens: torch.Tensor,
    scale: float,
) -> torch.Tensor:
    return paged_attention_decode(
        q, k_cache, v_cache, block_tables, context_lens, scale, k_new=k, v_new=v, slot_mapping=slot_mapping
    )


@paged_attention_decode_store_op.register_fake
def _(q, k, v, k_cache, v_cache, slot_mapping, block_tables, context_lens, scale):
    return torch.empty_like(q.contiguous())
