"""A launched step: a forward pass (or a multi-step run) queued on the device, whose sampled tokens
the host has not read yet.

Async scheduling (params.async_scheduling, as vLLM v1's) keeps one such step in flight. While the
device runs step N the host schedules step N+1 and builds its inputs; step N's tokens feed step
N+1's input ids on the device (`source_of`), and the host reads them one step late, after step N+1
is launched (`host_tokens`), to append them, check stop conditions and stream them. Without async
scheduling every step is read right after its launch; the code path is the same.

The tokens start their way to the host at launch: a non-blocking copy into pinned memory, then a
CUDA event, so reading them waits for this step's work only, never for the step launched after it.
On a CPU the tokens are already on the host.
"""

from __future__ import annotations

import torch


class LaunchedStep:
    def __init__(self, seqs: list, tokens: torch.Tensor | None, logprobs=None, span=None, num_tokens: int = 0):
        """seqs: the sampled sequences, one row each of tokens [rows, k] (k tokens per sequence; k > 1
        for a multi-step run). logprobs: logprobs.SampledLogprobs or None. span: the forward's timing
        (step_profile.ForwardSpan) when the step is a profiled decode step; num_tokens: its positions."""
        self.seqs = seqs
        self.tokens = tokens
        self.logprobs = logprobs
        self.span = span
        self.num_tokens = num_tokens
        self._row = {seq: i for i, seq in enumerate(seqs)}
        self._host = None if tokens is None else copy_to_host(tokens)
        self._ready = None
        if tokens is not None and tokens.is_cuda:  # after every copy of this step (logprobs' included)
            self._ready = torch.cuda.Event()
            self._ready.record()

    def source_of(self, seq, position: int) -> int:
        """Where a token of `seq` still in flight lies in tokens.view(-1): the next step's input id of
        that position. A sequence's tokens in flight are this step's row, in order, after its known ones."""
        k = self.tokens.shape[1]
        return self._row[seq] * k + position - len(seq.token_ids)

    def host_tokens(self) -> list[list[int]]:
        """Every row's tokens on the host; waits until this step's sampling is done."""
        if self._host is None:
            return [[] for _ in self.seqs]
        if self._ready is not None:
            self._ready.synchronize()
        return self._host.tolist()


def copy_to_host(t: torch.Tensor) -> torch.Tensor:
    """A device tensor's host copy, started without waiting: readable once the step's event has passed.
    (.cpu() or .tolist() would wait for everything queued on the device, the next step included.)"""
    if not t.is_cuda:
        return t
    host = torch.empty(t.shape, dtype=t.dtype, pin_memory=True)
    return host.copy_(t, non_blocking=True)


def copy_to_device(t: torch.Tensor, device) -> torch.Tensor:
    """A host tensor's device copy without a device synchronization (a pageable copy would wait for the
    step in flight)."""
    if torch.device(device).type != "cuda":
        return t
    return t.pin_memory().to(device, non_blocking=True)
