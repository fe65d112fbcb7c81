"""Triton paged-attention decode kernel reading K/V straight from cache blocks (and storing the step's own
K/V in the same launch); prefill uses SDPA."""

from __future__ import annotations

from ...kernels.paged_attention import paged_attention_decode_store_op
from .metadata import AttentionMetadata, store_kv
from .sdpa import sdpa_fresh_prefill, sdpa_from_cache


class TritonPagedAttention:
    name = "triton_paged"

    def __call__(self, q, k, v, k_cache, v_cache, meta: AttentionMetadata, scale: float):
        if meta.is_decode:  # one kernel stores this step's K/V and attends
            return paged_attention_decode_store_op(
                q, k, v, k_cache, v_cache, meta.slot_mapping, meta.block_tables, meta.context_lens, scale
            )
        store_kv(k, v, k_cache, v_cache, meta.slot_mapping)
        if meta.fresh_prefill:
            return sdpa_fresh_prefill(q, k, v, meta, scale)
        return sdpa_from_cache(q, k_cache, v_cache, meta, scale)
