"""Triton paged-attention decode kernel reading K/V straight from cache blocks; prefill uses SDPA."""
from __future__ import annotations

from ...kernels.paged_attention import paged_attention_decode_op
from .metadata import AttentionMetadata, store_kv
from .sdpa import sdpa_fresh_prefill, sdpa_from_cache


class TritonPagedAttention:
    name = "triton_paged"

    def __call__(self, q, k, v, k_cache, v_cache, meta: AttentionMetadata, scale: float):
        store_kv(k, v, k_cache, v_cache, meta.slot_mapping)
        if meta.fresh_prefill:
            return sdpa_fresh_prefill(q, k, v, meta, scale)
        if not meta.is_decode:
            return sdpa_from_cache(q, k_cache, v_cache, meta, scale)
        return paged_attention_decode_op(q, k_cache, v_cache, meta.block_tables, meta.context_lens, scale)
