"""Continuous batching: admit new requests whenever there is room; a step is either a prefill of
newly admitted prompts or one decode token for every running sequence (prefill first, like vLLM v0)."""

from __future__ import annotations

from .base import SchedulerBase


class ContinuousScheduler(SchedulerBase):
    name = "continuous"

    def can_admit(self) -> bool:
        return True

    def schedule(self) -> list:
        if self.can_admit():
            batch = self.admit_prefills(self.max_num_batched_tokens, chunk=None)
            if batch:
                return batch
        return self.decode_batch()
