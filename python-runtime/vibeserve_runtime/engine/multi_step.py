"""Multi-step decode: k decode steps per scheduler step, each step's sampled tokens fed to the next
on the device, read back to the host once (by the engine, as a LaunchedStep of k tokens per sequence).

A small model's decode step is mostly host work (scheduling, batch building, the wait for the
sampled token, per-token output handling); running k steps back to back pays it once per k tokens.
The positions, cache slots and context lengths of all k steps are known in advance, so every step's
inputs travel in one host-to-device copy and only the input ids are filled in on the device. A
sequence that finishes inside the k steps keeps the tokens up to its end; the steps after it wrote
K/V only into blocks reserved for it, which are freed with it. Under async scheduling the first
step's input ids may come from the step still in flight, as in build_batch.
"""

from __future__ import annotations

import itertools

import torch

from ..components.attention.metadata import AttentionMetadata
from ..components.kv_cache.base import KVCacheBase
from .launched_step import copy_to_device


def decode_steps_for(batch, decode_steps: int, max_model_len: int, kv) -> int:
    """How many steps to run for this batch: 1 unless it is a pure decode batch (one token each,
    every sequence sampled, none asking for logprobs) and every sequence has room for more; capped by the tokens the
    shortest-lived sequence may still produce, so little work is thrown away."""
    if decode_steps <= 1 or not batch:
        return 1
    k = decode_steps
    for seq, n in batch:
        if (
            n != 1
            or seq.num_computed + 1 != len(seq)
            or seq.params.logprobs is not None
            or seq.prompt_logprobs is not None
        ):
            return 1  # logprobs need each step's logits on the host; prompt logprobs go out with a single step
        k = min(k, seq.params.max_tokens - seq.num_sampled, max_model_len - len(seq) + 1)
    if k <= 1:
        return 1
    if not all(kv.reserve(seq, seq.num_computed + k) for seq, _ in batch):
        return 1  # no room for the extra tokens now: this step runs single (blocks taken stay the sequence's)
    return k


def build_decode_steps(
    batch, kv, device, k: int, in_flight=None, tables=None
) -> list[tuple[torch.Tensor, AttentionMetadata, torch.Tensor]]:
    """Inputs of k consecutive decode steps for a batch of decoding sequences, in one transfer.
    Step i's input ids are only known for i == 0 (and, under async scheduling, maybe not even then:
    `in_flight` has them); later steps' ids are written on the device. `tables`: DeviceBlockTables."""
    B = len(batch)
    bs = kv.block_size
    inline_slots = type(kv).slot is KVCacheBase.slot
    steps: list[list[int]] = []
    feed_dst, feed_src = [], []
    for i in range(k):
        ids, pos, slots, ctx = [], [], [], []
        for b, (seq, _) in enumerate(batch):
            p = seq.num_computed + i
            if i == 0 and p < len(seq.token_ids):
                ids.append(seq.token_ids[p])
            else:  # written on the device: from step i-1's tokens, or for i == 0 from the step in flight
                if i == 0:
                    feed_dst.append(b)
                    feed_src.append(in_flight.source_of(seq, p))
                ids.append(0)
            pos.append(p)
            slots.append(seq.block_table[p // bs] * bs + p % bs if inline_slots else kv.slot(seq, p))
            ctx.append(p + 1)
        steps.append(ids + pos + slots + ctx)
    # one block table for all k steps, wide enough for the last one (columns past a row's context are
    # never read)
    width = max(-(-(seq.num_computed + k) // bs) for seq, _ in batch)
    if tables is None:
        table_parts = [
            list(
                itertools.chain.from_iterable(
                    seq.block_table[:width] + [kv.scratch_block] * (width - min(width, len(seq.block_table)))
                    for seq, _ in batch
                )
            )
        ]
    else:
        table_parts = tables.plan([seq for seq, _ in batch])
    shared = [list(range(B)), [0] * B, [1] * B, list(range(B))]  # batch idx, q idx, query lens, sample idx
    parts = steps + shared + [feed_dst, feed_src] + table_parts
    flat = copy_to_device(torch.tensor(list(itertools.chain.from_iterable(parts)), dtype=torch.long), device)
    pieces = flat.split([len(p) for p in parts])
    tb, tq, qlens, sample_idx, dst, src = pieces[k : k + 6]
    if feed_dst:  # row 0 of step 0's block: its input ids
        pieces[0][:B].index_copy_(0, dst, in_flight.tokens.view(-1).index_select(0, src))
    block_tables = pieces[k + 6].view(B, width) if tables is None else tables.gather(*pieces[k + 6 :], width)
    out = []
    for i in range(k):
        block = pieces[i].view(4, B)
        meta = AttentionMetadata(
            positions=block[1],
            slot_mapping=block[2],
            block_tables=block_tables,
            context_lens=block[3],
            query_lens=qlens,
            token_batch_idx=tb,
            token_q_idx=tq,
            max_q=1,
            fresh_prefill=False,
            decode_inputs=block,
        )
        out.append((block[0], meta, sample_idx))
    return out


def run_decode_steps(
    runner, sample_on_device, batch, kv, device, k: int, span=None, in_flight=None, tables=None
) -> torch.Tensor:
    """Runs k decode steps; returns each sequence's k sampled tokens [B, k], left on the device.
    `span` (a step_profile.ForwardSpan) times the span from the first forward to the last sample."""
    seqs = [seq for seq, _ in batch]
    sampled = []
    for i, (ids, meta, sample_idx) in enumerate(build_decode_steps(batch, kv, device, k, in_flight, tables)):
        if i:
            ids.copy_(sampled[-1])  # also row 0 of meta.decode_inputs: the same storage
        elif span is not None:
            span.start()
        logits = runner.run(ids, meta, sample_idx)
        sampled.append(sample_on_device(logits, seqs).to(torch.long))
    if span is not None:
        span.stop()
    return torch.stack(sampled, dim=1)
