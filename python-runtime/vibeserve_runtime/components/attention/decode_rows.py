"""A mixed step's decode rows apart from its prefill rows.

A step that mixes prompt chunks (or speculative verify rows) with decoding sequences attends over
padded [sequences, longest query] tensors in SDPA, so each decoding sequence's single query pays for
the longest chunk's. Split apart, the decoding sequences go to a decode kernel and only the others
to SDPA. Finding them reads the query lengths on the host once per step.
"""

from __future__ import annotations

from dataclasses import dataclass

import torch

from .metadata import AttentionMetadata


@dataclass
class DecodeRowsSplit:
    decode_seqs: torch.Tensor  # [Bd] sequences with one query token this step
    decode_tokens: torch.Tensor  # [Bd] their token's index on the step's flat token axis
    other_tokens: torch.Tensor  # [T - Bd] the other sequences' tokens, in order
    other_meta: AttentionMetadata  # the step's metadata for the other sequences alone


def split_decode_rows(meta: AttentionMetadata) -> DecodeRowsSplit | None:
    """None where the step has no decoding sequence, or nothing else (a pure decode step)."""
    one = meta.query_lens == 1
    n_decode = int(one.sum())
    if n_decode == 0 or n_decode == one.shape[0]:
        return None
    token_one = one[meta.token_batch_idx]
    other_seqs = torch.nonzero(~one).squeeze(1)
    other_tokens = torch.nonzero(~token_one).squeeze(1)
    renumber = torch.cumsum(~one, 0) - 1  # a sequence's index among the others
    other_meta = AttentionMetadata(
        positions=meta.positions[other_tokens],
        slot_mapping=meta.slot_mapping[other_tokens],
        block_tables=meta.block_tables[other_seqs],
        context_lens=meta.context_lens[other_seqs],
        query_lens=meta.query_lens[other_seqs],
        token_batch_idx=renumber[meta.token_batch_idx[other_tokens]],
        token_q_idx=meta.token_q_idx[other_tokens],
        max_q=meta.max_q,  # the longest query is another's: decoding ones have 1
    )
    decode_tokens = torch.nonzero(token_one).squeeze(1)
    return DecodeRowsSplit(
        decode_seqs=meta.token_batch_idx[decode_tokens],
        decode_tokens=decode_tokens,
        other_tokens=other_tokens,
        other_meta=other_meta,
    )
