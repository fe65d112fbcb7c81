"""One preallocated max_model_len region per sequence slot (max_batch_size slots).

Simple and fragmentation-free, but every admitted sequence reserves max_model_len tokens, so memory
efficiency is tokens used / (slots in use * max_model_len).
"""

from __future__ import annotations

from .base import KVCacheBase


class ContiguousKVCache(KVCacheBase):
    stable_block_tables = True  # allocate() and free() give a new list, nothing changes it in between

    def __init__(self, num_layers, num_kv_heads, head_dim, max_batch_size, block_size, max_model_len, dtype, device):
        per_seq = -(-max_model_len // block_size)
        super().__init__(
            num_layers, num_kv_heads, head_dim, max_batch_size * per_seq, block_size, max_model_len, dtype, device
        )
        self.free_slots = list(range(max_batch_size - 1, -1, -1))
        self.seqs = {}

    def allocate(self, seq) -> bool:
        if not self.free_slots:
            return False
        seq.kv_slot = self.free_slots.pop()
        first = seq.kv_slot * self.max_blocks_per_seq
        seq.block_table = list(range(first, first + self.max_blocks_per_seq))
        self.seqs[seq.kv_slot] = seq
        return True

    def reserve(self, seq, total_tokens: int) -> bool:
        return total_tokens <= self.max_model_len

    def free(self, seq) -> None:
        if seq.kv_slot is not None:
            self.seqs.pop(seq.kv_slot, None)
            self.free_slots.append(seq.kv_slot)
            seq.kv_slot = None
        seq.block_table = []

    def stats(self, seqs=()) -> dict:
        used = sum(s.num_computed for s in self.seqs.values())
        allocated = len(self.seqs) * self.max_model_len
        return {
            "kv_cache": "contiguous",
            "kv_tokens_used": used,
            "kv_tokens_allocated": allocated,
            "kv_tokens_capacity": self.num_blocks * self.block_size,
            "kv_blocks_used": len(self.seqs) * self.max_blocks_per_seq,
            "kv_blocks_total": self.num_blocks,
            "prefix_cache_hit_tokens": 0,
            "prefix_cache_query_tokens": 0,
        }
