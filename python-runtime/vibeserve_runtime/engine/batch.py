"""Turn a scheduled batch [(seq, n_new_tokens)] into model inputs and attention metadata."""

from __future__ import annotations

import itertools

import torch

from ..components.attention.metadata import AttentionMetadata
from ..components.kv_cache.base import KVCacheBase
from .launched_step import copy_to_device


def build_batch(batch, kv, device, in_flight=None, tables=None, drafts=None):
    """-> (input_ids [T], meta, sample_idx [S], sampled seqs). A sequence is sampled when this pass
    computes its last known token.

    Speculation (engine/verify_step.py): `drafts` {seq: draft token ids} follow a sequence's own
    tokens in its entry, and a drafted sequence is sampled at its last token and at every draft
    token, 1 + d rows in order.

    Async scheduling: a position whose token is still on the device (sampled by `in_flight`, a
    LaunchedStep, and not read yet) gets its input id from that step's tokens, copied on the device.
    `tables` (DeviceBlockTables) keeps the block tables on the device; without it they are built here."""
    ids, pos, slots, tb, tq, qlens, ctx, tables_host, sample_idx, sampled = [], [], [], [], [], [], [], [], [], []
    feed_dst, feed_src = [], []  # input ids to take from the step in flight: where they go, where they are
    bs = kv.block_size
    inline_slots = type(kv).slot is KVCacheBase.slot  # a cache that overrides slot() is asked per token
    if inline_slots and all(n == 1 for _, n in batch):  # one token each (decode): no per-token ranges
        B = len(batch)
        for seq, _ in batch:
            p = seq.num_computed
            table = seq.block_table
            if p < len(seq.token_ids):
                ids.append(seq.token_ids[p])
            else:
                feed_dst.append(len(ids))
                feed_src.append(in_flight.source_of(seq, p))
                ids.append(0)
            pos.append(p)
            slots.append(table[p // bs] * bs + p % bs)
            ctx.append(p + 1)
            if tables is None:
                tables_host.append(table[: p // bs + 1])
            if p + 1 == len(seq):
                sample_idx.append(len(ids) - 1)
                sampled.append(seq)
        tb, tq, qlens = list(range(B)), [0] * B, [1] * B
        width = -(-max(ctx) // bs)
        batch_seqs = [seq for seq, _ in batch]
        batch = ()
    else:
        batch_seqs = [seq for seq, _ in batch]
        width = max(-(-(seq.num_computed + n) // bs) for seq, n in batch)
    for b, (seq, n) in enumerate(batch):
        start = seq.num_computed
        known = seq.token_ids[start : start + n]
        draft = drafts.get(seq, ()) if drafts else ()
        if draft:
            known = (known + list(draft))[:n]
        for p in range(start + len(known), start + n):  # the rest are still on the device
            feed_dst.append(len(ids) + p - start)
            feed_src.append(in_flight.source_of(seq, p))
        ids += known + [0] * (n - len(known))
        pos += range(start, start + n)
        table = seq.block_table
        slots += (
            [table[p // bs] * bs + p % bs for p in range(start, start + n)]
            if inline_slots
            else [kv.slot(seq, p) for p in range(start, start + n)]
        )
        tb += [b] * n
        tq += range(n)
        qlens.append(n)
        ctx.append(start + n)
        if tables is None:
            tables_host.append(table[: -(-(start + n) // bs)])
        if start + n == len(seq) + len(draft):
            sample_idx.extend(range(len(ids) - 1 - len(draft), len(ids)))
            sampled.append(seq)
    if tables is None:
        padded = (t + [kv.scratch_block] * (width - len(t)) for t in tables_host)
        table_parts = [list(itertools.chain.from_iterable(padded))]
    else:
        table_parts = tables.plan(batch_seqs)

    # one host-to-device copy for everything (per-copy latency dominates small decode steps); ids, positions,
    # slots and context lengths come first so a decode batch can hand them on as one [4, B] block
    parts = [ids, pos, slots, ctx, tb, tq, qlens, sample_idx, feed_dst, feed_src, *table_parts]
    flat = copy_to_device(torch.tensor(list(itertools.chain.from_iterable(parts)), dtype=torch.long), device)
    pieces = flat.split([len(p) for p in parts])
    ids_t, pos_t, slots_t, ctx_t, tb_t, tq_t, qlens_t, sidx_t, dst_t, src_t, *table_t = pieces
    if feed_dst:  # writes into flat itself, so meta.decode_inputs below sees the ids too
        ids_t.index_copy_(0, dst_t, in_flight.tokens.view(-1).index_select(0, src_t))
    block_tables = table_t[0].view(len(ctx), width) if tables is None else tables.gather(*table_t, width)
    decode = max(qlens) == 1
    meta = AttentionMetadata(
        positions=pos_t,
        slot_mapping=slots_t,
        block_tables=block_tables,
        context_lens=ctx_t,
        query_lens=qlens_t,
        token_batch_idx=tb_t,
        token_q_idx=tq_t,
        max_q=max(qlens),
        fresh_prefill=not decode and all(seq.num_computed == 0 for seq in batch_seqs),
        decode_inputs=flat[: 4 * len(ids)].view(4, len(ids)) if decode else None,
    )
    return ids_t, meta, sidx_t, sampled
