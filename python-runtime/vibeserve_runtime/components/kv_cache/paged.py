"""Fixed-size blocks handed out on demand, with hash-based prefix caching.

A full block is published under a hash chained over all tokens up to its end, so a later request
with the same prefix reuses the block (refcounted) instead of recomputing it. Freed blocks keep
their hash until reallocated, so a finished request's prefix stays reusable while memory allows.
"""

from __future__ import annotations

from collections import OrderedDict

from .base import KVCacheBase


class PagedKVCache(KVCacheBase):
    # reserve() only appends; free() and allocate() give a new list (truncate() shrinks one in place,
    # but only speculation calls it, which never runs with async scheduling's device-side tables)
    stable_block_tables = True

    def __init__(
        self,
        num_layers,
        num_kv_heads,
        head_dim,
        num_blocks,
        block_size,
        max_model_len,
        dtype,
        device,
        prefix_caching: bool = True,
    ):
        super().__init__(num_layers, num_kv_heads, head_dim, num_blocks, block_size, max_model_len, dtype, device)
        self.prefix_caching = prefix_caching
        self.ref = [0] * num_blocks
        # Free blocks, oldest freed first (their cached prefixes live longest). An OrderedDict, not a
        # dict: taking from the front of a plain dict scans the holes earlier deletions left there,
        # which grows to ~0.1 ms per block after a few hundred thousand allocations.
        self.free_blocks: OrderedDict[int, None] = OrderedDict.fromkeys(range(num_blocks))
        self.block_hash: list[int | None] = [None] * num_blocks
        self.block_tokens: list[tuple | None] = [None] * num_blocks
        self.hash_to_block: dict[int, int] = {}
        self.seq_hashes: dict[str, list[int]] = {}  # request id -> hashes of its published blocks
        self.hit_tokens = 0
        self.query_tokens = 0

    def _take_free_block(self) -> int:
        b, _ = self.free_blocks.popitem(last=False)
        if self.block_hash[b] is not None:  # evict its cached content
            if self.hash_to_block.get(self.block_hash[b]) == b:
                del self.hash_to_block[self.block_hash[b]]
            self.block_hash[b] = self.block_tokens[b] = None
        self.ref[b] = 1
        return b

    def _hash(self, prev: int | None, tokens: tuple) -> int:
        return hash((prev, tokens))

    def allocate(self, seq) -> bool:
        bs = self.block_size
        hashes, hits = [], []
        # a sequence that wants prompt logprobs needs every prompt position computed
        if self.prefix_caching and seq.params.prompt_logprobs is None:
            prev = None
            # at least the last token must be computed to get next-token logits; tokens still in flight
            # (async scheduling, a sequence preempted before they were read) cannot be looked up
            for i in range(min(len(seq) - 1, len(seq.token_ids)) // bs):
                toks = tuple(seq.token_ids[i * bs : (i + 1) * bs])
                h = self._hash(prev, toks)
                b = self.hash_to_block.get(h)
                if b is None or self.block_tokens[b] != toks:
                    break
                hashes.append(h)
                hits.append(b)
                prev = h
            self.query_tokens += len(seq)
        need = -(-len(seq) // bs) - len(hits)
        # hit blocks sitting in the free list are not available as fresh blocks
        if need > len(self.free_blocks) - sum(1 for b in hits if self.ref[b] == 0):
            return False
        for b in hits:
            if self.ref[b] == 0:
                del self.free_blocks[b]
            self.ref[b] += 1
        seq.block_table = hits + [self._take_free_block() for _ in range(need)]
        seq.num_computed = seq.num_cached_prompt = len(hits) * bs
        self.seq_hashes[seq.request_id] = hashes
        self.hit_tokens += len(hits) * bs
        return True

    def reserve(self, seq, total_tokens: int) -> bool:
        if total_tokens > self.max_model_len:
            return False
        need = -(-total_tokens // self.block_size) - len(seq.block_table)
        if need > len(self.free_blocks):
            return False
        seq.block_table.extend(self._take_free_block() for _ in range(need))
        return True

    def truncate(self, seq, num_tokens: int) -> None:
        # blocks wholly past the kept tokens hold only rejected draft tokens: never published, never
        # shared (prefix hits cover computed prompt tokens), so they go straight back to the pool
        keep = -(-num_tokens // self.block_size)
        for b in reversed(seq.block_table[keep:]):
            self.ref[b] -= 1
            if self.ref[b] == 0:
                self.free_blocks[b] = None
        del seq.block_table[keep:]

    def on_computed(self, seq) -> None:
        # async scheduling computes a token's K/V before the host has read the token: a block is
        # published once its tokens are known too (the engine calls again when they are read)
        self._publish(seq, min(seq.num_computed, len(seq.token_ids)))

    def on_scheduled(self, seq, num_tokens: int) -> None:
        """Publishes the blocks this step computes before it runs, as vLLM v1 caches blocks when it
        allocates them: requests that arrive together with one long system prompt then compute it
        once, not once each. A request admitted later in the step hits them, and its attention reads
        their K/V in the same forward: every attention component stores the step's K/V for the whole
        batch before it attends, layer by layer. Only a final batch is published (the schedulers call
        this after the step's preemptions), so every block published here is computed by the step."""
        self._publish(seq, min(num_tokens, len(seq.token_ids)))

    def _publish(self, seq, known: int) -> None:
        """Publishes the sequence's full blocks among its first `known` tokens under their chain hashes."""
        if not self.prefix_caching:
            return
        hashes = self.seq_hashes.setdefault(seq.request_id, [])
        bs = self.block_size
        while (len(hashes) + 1) * bs <= known:
            i = len(hashes)
            toks = tuple(seq.token_ids[i * bs : (i + 1) * bs])
            h = self._hash(hashes[-1] if hashes else None, toks)
            b = seq.block_table[i]
            if self.block_hash[b] is None and h not in self.hash_to_block:
                self.block_hash[b], self.block_tokens[b] = h, toks
                self.hash_to_block[h] = b
            hashes.append(h)

    def free(self, seq) -> None:
        for b in reversed(seq.block_table):  # tail blocks first: they are the least likely to be shared
            self.ref[b] -= 1
            if self.ref[b] == 0:
                self.free_blocks[b] = None
        seq.block_table = []
        self.seq_hashes.pop(seq.request_id, None)

    def stats(self, seqs=()) -> dict:
        # a block is in the free list exactly when nothing references it; counting refs instead would
        # walk the whole pool (a million blocks on a large GPU) on every call
        used_blocks = self.num_blocks - len(self.free_blocks)
        return {
            "kv_cache": "paged",
            "kv_blocks_used": used_blocks,
            "kv_blocks_total": self.num_blocks,
            "kv_tokens_used": self.tokens_used(seqs),
            "kv_tokens_allocated": used_blocks * self.block_size,
            "kv_tokens_capacity": self.num_blocks * self.block_size,
            "prefix_cache_hit_tokens": self.hit_tokens,
            "prefix_cache_query_tokens": self.query_tokens,
            "cached_blocks": len(self.hash_to_block),
        }
