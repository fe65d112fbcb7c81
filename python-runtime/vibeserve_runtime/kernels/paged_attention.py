"""Paged-attention decode: one query token per sequence, K/V read through a block table.

One program per (sequence, kv head) handles all query heads of that GQA group, so each K/V tile is
read from memory once; an online softmax walks the context BLOCK_N tokens at a time.
"""
from __future__ import annotations

import torch
import triton
import triton.language as tl


@triton.jit
def _paged_decode_kernel(q_ptr, k_ptr, v_ptr, bt_ptr, ctx_ptr, o_ptr, scale,
                         s_qb, s_qh, s_kb, s_kt, s_kh, s_btb, s_ob, s_oh,
                         GROUP: tl.constexpr, GROUP_PAD: tl.constexpr, HEAD_DIM: tl.constexpr,
                         BLOCK_SIZE: tl.constexpr, BLOCK_N: tl.constexpr, IEEE: tl.constexpr):
    b = tl.program_id(0)
    kvh = tl.program_id(1)
    ctx = tl.load(ctx_ptr + b)
    g = tl.arange(0, GROUP_PAD)
    d = tl.arange(0, HEAD_DIM)
    n = tl.arange(0, BLOCK_N)
    heads = kvh * GROUP + g
    q = tl.load(q_ptr + b * s_qb + heads[:, None] * s_qh + d[None, :], mask=(g < GROUP)[:, None], other=0.0)
    m_i = tl.full([GROUP_PAD], float("-inf"), tl.float32)
    l_i = tl.zeros([GROUP_PAD], tl.float32)
    acc = tl.zeros([GROUP_PAD, HEAD_DIM], tl.float32)
    for i in range(0, tl.cdiv(ctx, BLOCK_N)):
        tok = i * BLOCK_N + n
        valid = tok < ctx
        blk = tl.load(bt_ptr + b * s_btb + tok // BLOCK_SIZE, mask=valid, other=0)
        off = blk * s_kb + (tok % BLOCK_SIZE) * s_kt + kvh * s_kh
        k = tl.load(k_ptr + off[:, None] + d[None, :], mask=valid[:, None], other=0.0)
        v = tl.load(v_ptr + off[:, None] + d[None, :], mask=valid[:, None], other=0.0)
        if IEEE:
            s = tl.dot(q, tl.trans(k), input_precision="ieee")
        else:
            s = tl.dot(q, tl.trans(k))
        s = tl.where(valid[None, :], s * scale, float("-inf"))
        m_new = tl.maximum(m_i, tl.max(s, 1))
        p = tl.exp(s - m_new[:, None])
        alpha = tl.exp(m_i - m_new)
        l_i = l_i * alpha + tl.sum(p, 1)
        if IEEE:
            acc = acc * alpha[:, None] + tl.dot(p.to(v.dtype), v, input_precision="ieee")
        else:
            acc = acc * alpha[:, None] + tl.dot(p.to(v.dtype), v)
        m_i = m_new
    out = acc / l_i[:, None]
    tl.store(o_ptr + b * s_ob + heads[:, None] * s_oh + d[None, :], out.to(o_ptr.dtype.element_ty),
             mask=(g < GROUP)[:, None])


def paged_attention_decode(q: torch.Tensor, k_cache: torch.Tensor, v_cache: torch.Tensor,
                           block_tables: torch.Tensor, context_lens: torch.Tensor, scale: float,
                           block_n: int = 64, num_warps: int = 4, num_stages: int = 2) -> torch.Tensor:
    """q [B, H, D]; k/v_cache [num_blocks, block_size, kv_heads, D]; returns [B, H, D]."""
    B, H, D = q.shape
    _, block_size, kvh, _ = k_cache.shape
    if D & (D - 1) or D < 16:
        raise ValueError(f"triton_paged attention needs a power-of-two head_dim >= 16, got {D}")
    group = H // kvh
    q = q.contiguous()
    out = torch.empty_like(q)
    _paged_decode_kernel[(B, kvh)](
        q, k_cache, v_cache, block_tables, context_lens, out, scale,
        q.stride(0), q.stride(1), k_cache.stride(0), k_cache.stride(1), k_cache.stride(2),
        block_tables.stride(0), out.stride(0), out.stride(1),
        GROUP=group, GROUP_PAD=max(16, triton.next_power_of_2(group)), HEAD_DIM=D,
        BLOCK_SIZE=block_size, BLOCK_N=max(16, min(block_n, 128)), IEEE=q.dtype == torch.float32,
        num_warps=num_warps, num_stages=num_stages if q.is_cuda else 1)
    return out


# An opaque op for torch.compile: Inductor calls the kernel as is instead of re-compiling the Triton
# source itself (which mistypes the float scale), and fuses the elementwise work around it.
@torch.library.custom_op("vibeserve::paged_attention_decode", mutates_args=())
def paged_attention_decode_op(q: torch.Tensor, k_cache: torch.Tensor, v_cache: torch.Tensor,
                              block_tables: torch.Tensor, context_lens: torch.Tensor, scale: float) -> torch.Tensor:
    return paged_attention_decode(q, k_cache, v_cache, block_tables, context_lens, scale)


@paged_attention_decode_op.register_fake
def _(q, k_cache, v_cache, block_tables, context_lens, scale):
    return torch.empty_like(q.contiguous())
