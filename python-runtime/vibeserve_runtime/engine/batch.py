"""Turn a scheduled batch [(seq, n_new_tokens)] into model inputs and attention metadata."""
from __future__ import annotations

import itertools

import torch

from ..components.attention.metadata import AttentionMetadata
from ..components.kv_cache.base import KVCacheBase


def build_batch(batch, kv, device):
    """-> (input_ids [T], meta, sample_idx [S], sampled seqs). A sequence is sampled when this pass
    computes its last known token."""
    ids, pos, slots, tb, tq, qlens, ctx, tables, sample_idx, sampled = [], [], [], [], [], [], [], [], [], []
    bs = kv.block_size
    inline_slots = type(kv).slot is KVCacheBase.slot   # a cache that overrides slot() is asked per token
    if inline_slots and all(n == 1 for _, n in batch):   # one token each (decode): no per-token ranges
        B = len(batch)
        for seq, _ in batch:
            p = seq.num_computed
            table = seq.block_table
            ids.append(seq.token_ids[p])
            pos.append(p)
            slots.append(table[p // bs] * bs + p % bs)
            ctx.append(p + 1)
            tables.append(table[:p // bs + 1])
            if p + 1 == len(seq):
                sample_idx.append(len(ids) - 1)
                sampled.append(seq)
        tb, tq, qlens = list(range(B)), [0] * B, [1] * B
        batch = ()
    for b, (seq, n) in enumerate(batch):
        start = seq.num_computed
        ids += seq.token_ids[start:start + n]
        pos += range(start, start + n)
        table = seq.block_table
        slots += [table[p // bs] * bs + p % bs for p in range(start, start + n)] if inline_slots \
            else [kv.slot(seq, p) for p in range(start, start + n)]
        tb += [b] * n
        tq += range(n)
        qlens.append(n)
        ctx.append(start + n)
        tables.append(table[:-(-(start + n) // bs)])
        if start + n == len(seq):
            sample_idx.append(len(ids) - 1)
            sampled.append(seq)
    width = max(len(t) for t in tables)
    tables = [t + [kv.scratch_block] * (width - len(t)) for t in tables]

    # one host-to-device copy for everything (per-copy latency dominates small decode steps); ids, positions,
    # slots and context lengths come first so a decode batch can hand them on as one [4, B] block
    parts = [ids, pos, slots, ctx, tb, tq, qlens, sample_idx, list(itertools.chain.from_iterable(tables))]
    flat = torch.tensor(list(itertools.chain.from_iterable(parts)), dtype=torch.long)
    if torch.device(device).type == "cuda":
        flat = flat.pin_memory().to(device, non_blocking=True)
    ids_t, pos_t, slots_t, ctx_t, tb_t, tq_t, qlens_t, sidx_t, tables_t = flat.split([len(p) for p in parts])
    decode = max(qlens) == 1
    meta = AttentionMetadata(positions=pos_t, slot_mapping=slots_t, block_tables=tables_t.view(len(tables), width),
                             context_lens=ctx_t, query_lens=qlens_t, token_batch_idx=tb_t, token_q_idx=tq_t,
                             max_q=max(qlens),
                             fresh_prefill=not decode and all(seq.num_computed == 0 for seq, _ in batch),
                             decode_inputs=flat[:4 * len(ids)].view(4, len(ids)) if decode else None)
    return ids_t, meta, sidx_t, sampled
