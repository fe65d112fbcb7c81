"""Attention with torch scaled_dot_product_attention over K/V gathered from the cache.

Handles any mix of prefill chunks and decodes: queries are padded to [B, max_q], keys to the
block-table width, and a mask keeps each query to its own causal context.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F

from .metadata import AttentionMetadata, store_kv


def gather_kv(cache: torch.Tensor, meta: AttentionMetadata) -> torch.Tensor:
    """[B, L, kv_heads, head_dim] view-by-copy of each sequence's cached tokens (L = block-table width)."""
    block_size, kvh, hd = cache.shape[1:]
    L = meta.block_tables.shape[1] * block_size
    j = torch.arange(L, device=cache.device)
    slots = meta.block_tables[:, j // block_size] * block_size + j % block_size
    return cache.view(-1, kvh, hd)[slots]


class SDPAAttention:
    name = "sdpa"

    def __call__(self, q, k, v, k_cache, v_cache, meta: AttentionMetadata, scale: float):
        store_kv(k, v, k_cache, v_cache, meta.slot_mapping)
        if meta.fresh_prefill:
            return sdpa_fresh_prefill(q, k, v, meta, scale)
        return sdpa_from_cache(q, k_cache, v_cache, meta, scale)


def _pad(x, meta):
    xp = x.new_zeros(meta.context_lens.shape[0], meta.max_q, *x.shape[1:])
    xp[meta.token_batch_idx, meta.token_q_idx] = x
    return xp.transpose(1, 2)


def sdpa_fresh_prefill(q, k, v, meta: AttentionMetadata, scale: float):
    """Whole prompts with nothing cached: attend over the new K/V directly with a causal kernel (flash
    on GPU). Right padding is harmless under a causal mask: real queries never see later positions."""
    B, T = meta.context_lens.shape[0], q.shape[0]
    if B * meta.max_q == T:  # equal lengths: the flat tokens already are [B, max_q], no padding copies

        def pad(x):
            return x.view(B, meta.max_q, *x.shape[1:]).transpose(1, 2)
    else:

        def pad(x):
            return _pad(x, meta)

    out = F.scaled_dot_product_attention(
        pad(q), pad(k), pad(v), is_causal=True, scale=scale, enable_gqa=k.shape[1] != q.shape[1]
    )
    if B * meta.max_q == T:
        return out.transpose(1, 2).reshape(T, *q.shape[1:])
    return out.transpose(1, 2)[meta.token_batch_idx, meta.token_q_idx]


def sdpa_from_cache(q, k_cache, v_cache, meta: AttentionMetadata, scale: float):
    B, H, D = meta.context_lens.shape[0], q.shape[1], q.shape[2]
    keys, values = gather_kv(k_cache, meta), gather_kv(v_cache, meta)
    L = keys.shape[1]
    qp = q.new_zeros(B, meta.max_q, H, D)
    qp[meta.token_batch_idx, meta.token_q_idx] = q
    ctx = meta.context_lens[:, None]
    qpos = ctx - meta.query_lens[:, None] + torch.arange(meta.max_q, device=q.device)  # [B, max_q]
    j = torch.arange(L, device=q.device)
    mask = (j[None, None, :] <= qpos[:, :, None]) & (j[None, None, :] < ctx[:, :, None])
    out = F.scaled_dot_product_attention(
        qp.transpose(1, 2),
        keys.transpose(1, 2),
        values.transpose(1, 2),
        attn_mask=mask[:, None],
        scale=scale,
        enable_gqa=keys.shape[2] != H,
    )
    return out.transpose(1, 2)[meta.token_batch_idx, meta.token_q_idx]
