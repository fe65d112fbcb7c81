"""Shared storage and the interface the scheduler and engine use."""

from __future__ import annotations

from abc import ABC, abstractmethod

import torch


class KVCacheBase(ABC):
    # True when a sequence's block table only grows in place between allocate() and free(), and
    # allocate()/free() give it a new list: a copy kept on the device (engine/device_block_tables.py)
    # then stays right by sending it only the new entries. Other caches send whole tables every step.
    stable_block_tables = False

    def __init__(
        self,
        num_layers: int,
        num_kv_heads: int,
        head_dim: int,
        num_blocks: int,
        block_size: int,
        max_model_len: int,
        dtype,
        device,
    ):
        self.block_size = block_size
        self.num_blocks = num_blocks
        self.max_model_len = max_model_len
        self.max_blocks_per_seq = -(-max_model_len // block_size)
        self.scratch_block = num_blocks
        shape = (num_blocks + 1, block_size, num_kv_heads, head_dim)
        self.k_caches = [torch.zeros(shape, dtype=dtype, device=device) for _ in range(num_layers)]
        self.v_caches = [torch.zeros(shape, dtype=dtype, device=device) for _ in range(num_layers)]
        self.bytes_per_token = 2 * num_layers * num_kv_heads * head_dim * torch.tensor([], dtype=dtype).element_size()

    # --- interface -------------------------------------------------------------------------
    @abstractmethod
    def allocate(self, seq) -> bool:
        """Admit a sequence: give it room for all its current tokens (may set seq.num_computed from a cache hit)."""
        ...

    @abstractmethod
    def reserve(self, seq, total_tokens: int) -> bool:
        """Make room for the sequence to hold total_tokens; False when out of blocks."""
        ...

    @abstractmethod
    def free(self, seq) -> None: ...

    def on_computed(self, seq) -> None:
        """Called after seq.num_computed advanced (the paged cache publishes full blocks here)."""

    def on_scheduled(self, seq, num_tokens: int) -> None:
        """Called once a step's batch is final, for each sequence in it: its first num_tokens will be
        computed by that step. The paged cache publishes their full prompt blocks here already, so a
        request admitted later in the same step reuses them (see PagedKVCache.on_scheduled)."""

    def truncate(self, seq, num_tokens: int) -> None:
        """The sequence keeps only its first num_tokens (speculation drops rejected draft tokens):
        room past them may go back. Their K/V needs no clearing: attention reads a sequence's
        context only, and the next step's tokens overwrite those slots."""

    def slot(self, seq, pos: int) -> int:
        """Flat cache slot of token `pos` of `seq`."""
        return seq.block_table[pos // self.block_size] * self.block_size + pos % self.block_size

    @abstractmethod
    def stats(self, seqs) -> dict:
        """Occupancy; `seqs` are the sequences holding blocks (for tokens-used counts)."""
        ...

    def tokens_used(self, seqs) -> int:
        """Distinct cached tokens (a block shared by a common prefix counts once)."""
        fill: dict[int, int] = {}
        for s in seqs:
            for i, b in enumerate(s.block_table):
                n = min(max(s.num_computed - i * self.block_size, 0), self.block_size)
                fill[b] = max(fill.get(b, 0), n)
        return sum(fill.values())
