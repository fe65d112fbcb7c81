"""A request as the engine tracks it: its tokens, how many of them are in the KV cache, its blocks."""
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
        self.num_computed = 0            # tokens whose K/V are in the cache
        self.num_cached_prompt = 0       # of those, how many came from the prefix cache
        self.block_table: list[int] = []
        self.kv_slot: int | None = None  # contiguous cache: the sequence slot it owns
        self.status = SeqStatus.WAITING
        self.finish_reason: str | None = None
        self.generator = None
        # filled while the prompt is computed (engine/logprobs.py), handed out with the first token
        self.prompt_logprobs: list | None = None
        if self.params.prompt_logprobs is not None:
            self.prompt_logprobs = [None] * self.num_prompt_tokens
        if self.params.seed is not None and self.params.temperature > 0:
            self.generator = torch.Generator(device=device).manual_seed(self.params.seed)

    def __len__(self) -> int:
        return len(self.token_ids)

    @property
    def num_output_tokens(self) -> int:
        return len(self.token_ids) - self.num_prompt_tokens

    @property
    def output_token_ids(self) -> list[int]:
        return self.token_ids[self.num_prompt_tokens:]

    @property
    def num_uncomputed(self) -> int:
        return len(self.token_ids) - self.num_computed
