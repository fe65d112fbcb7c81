"""Queues, admission and preemption shared by the batching policies."""

from __future__ import annotations

from collections import deque

from ...engine.sequence import SeqStatus


class SchedulerBase:
    def __init__(self, kv_cache, max_batch_size: int, max_num_batched_tokens: int, chunk_size: int = 256):
        self.kv = kv_cache
        self.max_batch_size = max_batch_size
        self.max_num_batched_tokens = max_num_batched_tokens
        self.chunk_size = chunk_size
        self.waiting: deque = deque()
        self.running: list = []
        self.num_preemptions = 0

    def add(self, seq) -> None:
        self.waiting.append(seq)

    def has_unfinished(self) -> bool:
        return bool(self.waiting or self.running)

    def remove(self, request_id: str):
        """Take a sequence out of the queues (abort); frees its blocks. Returns it, or None."""
        for q in (self.running, self.waiting):
            for s in q:
                if s.request_id == request_id:
                    q.remove(s)
                    self.kv.free(s)
                    return s
        return None

    def finish(self, seq) -> None:
        try:
            self.running.remove(seq)
        except ValueError:  # async scheduling: preempted while its last token was in flight, ended by that token
            self.waiting.remove(seq)
        self.kv.free(seq)

    def preempt(self, seq) -> None:
        """Give the sequence's blocks back; it is recomputed from scratch (prefix cache permitting) later."""
        self.running.remove(seq)
        self.kv.free(seq)
        seq.num_computed = 0
        seq.status = SeqStatus.WAITING
        self.waiting.appendleft(seq)
        self.num_preemptions += 1

    def admit_prefills(self, budget: int, chunk: int | None) -> list:
        """Move waiting sequences into running while batch slots, token budget and KV blocks allow."""
        batch = []
        while self.waiting and len(self.running) < self.max_batch_size and budget > 0:
            seq = self.waiting[0]
            if not self.kv.allocate(seq):
                break
            n = seq.num_uncomputed if chunk is None else min(seq.num_uncomputed, chunk, budget)
            if chunk is None and n > budget and batch:
                self.kv.free(seq)
                seq.num_computed = 0
                break
            self.waiting.popleft()
            seq.status = SeqStatus.RUNNING
            self.running.append(seq)
            batch.append((seq, n))
            budget -= n
            self.kv.on_scheduled(seq, seq.num_computed + n)  # admission never preempts: this chunk runs
        return batch

    def reserve_or_preempt(self, seq, total_tokens: int) -> bool:
        """Reserve KV room for seq, preempting the newest other running sequences if needed."""
        while not self.kv.reserve(seq, total_tokens):
            victims = [s for s in self.running if s is not seq]
            if not victims:
                self.preempt(seq)
                return False
            self.preempt(victims[-1])
        return True

    def needs_step(self, seq) -> bool:
        """A running sequence with something to compute: not one whose token in flight ends it."""
        # status, not list membership: O(1) per sequence at large batch sizes
        return seq.status is SeqStatus.RUNNING and not seq.finishes_in_flight(self.kv.max_model_len)

    def decode_batch(self) -> list:
        batch = []
        for seq in list(self.running):
            if self.needs_step(seq) and self.reserve_or_preempt(seq, len(seq)):
                batch.append((seq, 1))
        return [(s, n) for s, n in batch if s.status is SeqStatus.RUNNING]
