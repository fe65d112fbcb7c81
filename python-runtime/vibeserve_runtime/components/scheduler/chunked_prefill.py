"""Chunked prefill: every step carries one decode token per running sequence plus prompt chunks of
at most chunk_size tokens, within max_num_batched_tokens, so long prompts never stall decodes."""

from __future__ import annotations

from ...engine.sequence import SeqStatus
from .base import SchedulerBase


class ChunkedPrefillScheduler(SchedulerBase):
    name = "chunked_prefill"

    def schedule(self) -> list:
        budget = self.max_num_batched_tokens
        batch = []
        # decodes first (one token each), then partially prefilled prompts, oldest first
        for seq in sorted(list(self.running), key=lambda s: s.num_uncomputed > 1):
            if not self.needs_step(seq) or budget <= 0:
                continue
            n = min(seq.num_uncomputed, self.chunk_size, budget)
            if self.reserve_or_preempt(seq, seq.num_computed + n):
                batch.append((seq, n))
                budget -= n
        batch = [(s, n) for s, n in batch if s.status is SeqStatus.RUNNING]
        for s, n in batch:  # final now (preemptions are done): the prompts admitted below may reuse these chunks
            if n > 1:  # prompt chunks; a decode token's block is published when it is read, as before
                self.kv.on_scheduled(s, s.num_computed + n)
        return batch + self.admit_prefills(budget, chunk=self.chunk_size)
