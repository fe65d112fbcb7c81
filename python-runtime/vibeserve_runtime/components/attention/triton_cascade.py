"""Cascade attention for decode: sequences whose block tables start with the same cached blocks (a shared
system prompt, with prefix caching) attend over that prefix together, then over their own tokens; the
prefix's K/V is read once per group instead of once per sequence. In a step that mixes prompt chunks
with decoding sequences the decoding ones take the same path and only the others go to SDPA."""

from __future__ import annotations

from dataclasses import dataclass

import torch

from ...kernels.cascade_attention import SharedPrefixPlan, cascade_attention_decode, plan_shared_prefix
from .decode_rows import DecodeRowsSplit, split_decode_rows
from .metadata import AttentionMetadata, store_kv
from .sdpa import sdpa_fresh_prefill, sdpa_from_cache


@dataclass
class _StepPlan:
    meta: AttentionMetadata
    in_capture: bool
    split: DecodeRowsSplit | None  # mixed steps only
    prefixes: SharedPrefixPlan | None  # of the decoding sequences; None in a step without any
    tables: torch.Tensor | None = None  # mixed steps: the decoding sequences' block tables
    lens: torch.Tensor | None = None  # and context lengths


class TritonCascadeAttention:
    name = "triton_cascade"

    def __init__(self):
        self._step: _StepPlan | None = None

    def _plan_for(self, meta: AttentionMetadata, block_size: int) -> _StepPlan:
        """Every layer of a step shares its plan, made by the first layer's call. It is keyed by the step's
        metadata and by whether a CUDA graph is being captured: a plan made before the capture would not
        be recomputed on replay."""
        capturing = torch.cuda.is_available() and torch.cuda.is_current_stream_capturing()
        step = self._step
        if step is not None and step.meta is meta and step.in_capture == capturing:
            return step
        if meta.is_decode:
            # the step's own token is stored by the kernel, not read back: the cached tokens are one fewer
            prefixes = plan_shared_prefix(meta.block_tables, meta.context_lens - 1, block_size)
            self._step = _StepPlan(meta, capturing, None, prefixes)
        elif meta.fresh_prefill or (split := split_decode_rows(meta)) is None:
            self._step = _StepPlan(meta, capturing, None, None)
        else:  # the decoding sequences' K/V is stored with the others' before they attend
            tables, lens = meta.block_tables[split.decode_seqs], meta.context_lens[split.decode_seqs]
            prefixes = plan_shared_prefix(tables, lens, block_size)
            self._step = _StepPlan(meta, capturing, split, prefixes, tables, lens)
        return self._step

    def __call__(self, q, k, v, k_cache, v_cache, meta: AttentionMetadata, scale: float):
        step = self._plan_for(meta, k_cache.shape[1])
        if meta.is_decode:  # the kernel stores this step's K/V as it attends
            return cascade_attention_decode(
                q,
                k_cache,
                v_cache,
                meta.block_tables,
                meta.context_lens,
                scale,
                plan=step.prefixes,
                k_new=k,
                v_new=v,
                slot_mapping=meta.slot_mapping,
            )
        store_kv(k, v, k_cache, v_cache, meta.slot_mapping)
        if meta.fresh_prefill:
            return sdpa_fresh_prefill(q, k, v, meta, scale)
        split = step.split
        if split is None:
            return sdpa_from_cache(q, k_cache, v_cache, meta, scale)
        out = torch.empty_like(q)
        out[split.other_tokens] = sdpa_from_cache(q[split.other_tokens], k_cache, v_cache, split.other_meta, scale)
        out[split.decode_tokens] = cascade_attention_decode(
            q[split.decode_tokens], k_cache, v_cache, step.tables, step.lens, scale, plan=step.prefixes
        )
        return out
