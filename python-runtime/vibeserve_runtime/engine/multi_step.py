"""Multi-step decode: k decode steps per scheduler step, each step's sampled tokens fed to the next
on the device, read back to the host once.

A small model's decode step is mostly host work (scheduling, batch building, the wait for the
sampled token, per-token output handling); running k steps back to back pays it once per k tokens.
The positions, cache slots and context lengths of all k steps are known in advance, so every step's
inputs travel in one host-to-device copy and only the input ids are filled in on the device. A
sequence that finishes inside the k steps keeps the tokens up to its end; the steps after it wrote
K/V only into blocks reserved for it, which are freed with it.
"""
from __future__ import annotations

import itertools

import torch

from ..components.attention.metadata import AttentionMetadata
from ..components.kv_cache.base import KVCacheBase


def decode_steps_for(batch, decode_steps: int, max_model_len: int, kv) -> int:
    """How many steps to run for this batch: 1 unless it is a pure decode batch (one token each,
    every sequence sampled, none asking for logprobs) and every sequence has room for more; capped by the tokens the
    shortest-lived sequence may still produce, so little work is thrown away."""
    if decode_steps <= 1 or not batch:
        return 1
    k = decode_steps
    for seq, n in batch:
        if n != 1 or seq.num_computed + 1 != len(seq) or seq.params.logprobs is not None \
                or seq.prompt_logprobs is not None:
            return 1   # logprobs need each step's logits on the host; prompt logprobs go out with a single step
        k = min(k, seq.params.max_tokens - seq.num_output_tokens, max_model_len - len(seq) + 1)
    if k <= 1:
        return 1
    if not all(kv.reserve(seq, seq.num_computed + k) for seq, _ in batch):
        return 1   # no room for the extra tokens now: this step runs single (blocks taken stay the sequence's)
    return k


def build_decode_steps(batch, kv, device, k: int) -> list[tuple[torch.Tensor, AttentionMetadata, torch.Tensor]]:
    """Inputs of k consecutive decode steps for a batch of decoding sequences, in one transfer.
    Step i's input ids are only known for i == 0; later steps' ids are written on the device."""
    B = len(batch)
    bs = kv.block_size
    inline_slots = type(kv).slot is KVCacheBase.slot
    steps: list[list[int]] = []
    for i in range(k):
        ids, pos, slots, ctx = [], [], [], []
        for seq, _ in batch:
            p = seq.num_computed + i
            ids.append(seq.token_ids[p] if i == 0 else 0)
            pos.append(p)
            slots.append(seq.block_table[p // bs] * bs + p % bs if inline_slots else kv.slot(seq, p))
            ctx.append(p + 1)
        steps.append(ids + pos + slots + ctx)
    # one block table for all k steps, wide enough for the last one (columns past a row's context are
    # never read)
    width = max(-(-(seq.num_computed + k) // bs) for seq, _ in batch)
    tables = [seq.block_table[:width] + [kv.scratch_block] * (width - min(width, len(seq.block_table)))
              for seq, _ in batch]
    shared = [list(range(B)), [0] * B, [1] * B, list(range(B))]   # batch idx, q idx, query lens, sample idx
    parts = steps + shared + [list(itertools.chain.from_iterable(tables))]
    flat = torch.tensor(list(itertools.chain.from_iterable(parts)), dtype=torch.long)
    if torch.device(device).type == "cuda":
        flat = flat.pin_memory().to(device, non_blocking=True)
    pieces = flat.split([len(p) for p in parts])
    tb, tq, qlens, sample_idx = pieces[k:k + 4]
    block_tables = pieces[k + 4].view(B, width)
    out = []
    for i in range(k):
        block = pieces[i].view(4, B)
        meta = AttentionMetadata(positions=block[1], slot_mapping=block[2], block_tables=block_tables,
                                 context_lens=block[3], query_lens=qlens, token_batch_idx=tb, token_q_idx=tq,
                                 max_q=1, fresh_prefill=False, decode_inputs=block)
        out.append((block[0], meta, sample_idx))
    return out


def run_decode_steps(runner, sample_on_device, batch, kv, device, k: int, profile=None) -> list[list[int]]:
    """Runs k decode steps; returns each sequence's k sampled tokens (one device-to-host read).
    `profile` (a DecodeStepProfile) times the span from the first forward to the last sample."""
    seqs = [seq for seq, _ in batch]
    sampled = []
    for i, (ids, meta, sample_idx) in enumerate(build_decode_steps(batch, kv, device, k)):
        if i:
            ids.copy_(sampled[-1])   # also row 0 of meta.decode_inputs: the same storage
        elif profile is not None:
            profile.begin_forward()
        logits = runner.run(ids, meta, sample_idx)
        sampled.append(sample_on_device(logits, seqs).to(torch.long))
    if profile is not None:
        profile.end_forward()
    return torch.stack(sampled, dim=1).tolist()
