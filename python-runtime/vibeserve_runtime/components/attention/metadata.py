"""What one forward pass needs to know about its batch of sequences.

Tokens of all sequences are flattened into one [T] axis (nano-vllm style). Sequence b contributes
query_lens[b] tokens whose K/V land in cache slots slot_mapping[...], and after this pass it has
context_lens[b] tokens in the cache, found through block_tables[b] (block ids, block_size tokens each).
"""

from __future__ import annotations

from dataclasses import dataclass

import torch


@dataclass
class AttentionMetadata:
    positions: torch.Tensor  # [T] position of each token in its sequence
    slot_mapping: torch.Tensor  # [T] flat cache slot (block * block_size + offset) for each token's K/V
    block_tables: torch.Tensor  # [B, max_blocks] int64
    context_lens: torch.Tensor  # [B] tokens in cache after this pass
    query_lens: torch.Tensor  # [B] new tokens per sequence this pass
    token_batch_idx: torch.Tensor  # [T] which sequence a token belongs to
    token_q_idx: torch.Tensor  # [T] index of the token among its sequence's new tokens
    max_q: int  # host int: longest query (1 for a pure decode batch)
    fresh_prefill: bool = False  # host bool: no sequence has cached tokens before this pass
    decode_inputs: torch.Tensor | None = None  # decode batches: [4, B] rows input ids, positions, slots, context
    # lens in one block, so a graph runner refreshes them with one copy

    @property
    def is_decode(self) -> bool:
        return self.max_q == 1


def _store(
    k: torch.Tensor, v: torch.Tensor, k_cache: torch.Tensor, v_cache: torch.Tensor, slot_mapping: torch.Tensor
) -> None:
    kvh, hd = k.shape[-2:]
    k_cache.view(-1, kvh, hd).index_copy_(0, slot_mapping, k.reshape(-1, kvh, hd))
    v_cache.view(-1, kvh, hd).index_copy_(0, slot_mapping, v.reshape(-1, kvh, hd))


# A custom op that declares its mutation: under torch.compile an in-place index_copy_ into the cache
# (a graph input) is functionalized into a copy of the whole cache per layer; this op is re-inplaced.
@torch.library.custom_op("vibeserve::store_kv", mutates_args=("k_cache", "v_cache"))
def _store_kv_op(
    k: torch.Tensor, v: torch.Tensor, k_cache: torch.Tensor, v_cache: torch.Tensor, slot_mapping: torch.Tensor
) -> None:
    _store(k, v, k_cache, v_cache, slot_mapping)


def store_kv(
    k: torch.Tensor, v: torch.Tensor, k_cache: torch.Tensor, v_cache: torch.Tensor, slot_mapping: torch.Tensor
) -> None:
    """Writes the step's K/V rows into the caches at slot_mapping. Eager code skips the custom op: its
    dispatch costs time per layer, and its first call imports dynamo (seconds, on CPU for nothing)."""
    if torch.compiler.is_compiling():
        _store_kv_op(k, v, k_cache, v_cache, slot_mapping)
    else:
        _store(k, v, k_cache, v_cache, slot_mapping)
