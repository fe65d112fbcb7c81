"""A request as the engine tracks it: its tokens, how many of them are in the KV cache, its blocks.

Under async scheduling (engine/launched_step.py) a sequence's newest tokens may still be on the
device: sampled by a launched step whose results the host has not read yet. They count in len(seq)
(the scheduler plans with them: their positions are computed by the next step) but are not in
token_ids until read (num_pending of them).
"""

from __future__ import annotations

import enum

import torch

from ..types import Request, SamplingParams


class SeqStatus(enum.Enum):
    WAITING = "waiting"
    RUNNING = "running"
    FINISHED = "finished"


class Sequence:
    def __init__(self, request: Request, device):
        self.request_id = request.request_id
        self.params: SamplingParams = request.params
        self.arrival_time = request.arrival_time
        self.token_ids: list[int] = list(request.prompt_token_ids)
        self.num_prompt_tokens = len(self.token_ids)
        self.num_computed = 0  # tokens whose K/V are in the cache
        self.num_cached_prompt = 0  # of those, how many came from the prefix cache
        self.num_pending = 0  # sampled on the device, not read back yet: in len(self), not in token_ids
        self.block_table: list[int] = []
        self.kv_slot: int | None = None  # contiguous cache: the sequence slot it owns
        self.status = SeqStatus.WAITING
        self.finish_reason: str | None = None
        self.generator = None
        self.draft_state = None  # the speculation proposer's own record of this request (its index)
        self.grammar = None  # structured output: the llguidance matcher its output must follow
        self.num_draft_tokens = 0  # draft tokens verified for it, and of them accepted (engine/verify_step.py)
        self.num_accepted_draft_tokens = 0
        # filled while the prompt is computed (engine/logprobs.py), handed out with the first token
        self.prompt_logprobs: list | None = None
        if self.params.prompt_logprobs is not None:
            self.prompt_logprobs = [None] * self.num_prompt_tokens
        if self.params.seed is not None and self.params.temperature > 0:
            self.generator = torch.Generator(device=device).manual_seed(self.params.seed)

    def __len__(self) -> int:
        return len(self.token_ids) + self.num_pending

    @property
    def num_output_tokens(self) -> int:
        """Output tokens the host has read (what has been streamed)."""
        return len(self.token_ids) - self.num_prompt_tokens

    @property
    def num_sampled(self) -> int:
        """Output tokens sampled so far, read or still in flight."""
        return len(self) - self.num_prompt_tokens

    def finishes_in_flight(self, max_model_len: int) -> bool:
        """Its tokens in flight reach max_tokens or the end of the context, so it ends once they are
        read: another step would compute a token only to drop it (vLLM v1's async scheduler skips
        such a request the same way)."""
        n = len(self.token_ids) + self.num_pending  # len(self), without the calls: asked per sequence per step
        return self.num_pending > 0 and (n - self.num_prompt_tokens >= self.params.max_tokens or n >= max_model_len)

    @property
    def output_token_ids(self) -> list[int]:
        return self.token_ids[self.num_prompt_tokens :]

    @property
    def num_uncomputed(self) -> int:
        return len(self) - self.num_computed
