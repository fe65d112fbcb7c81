"""Speculative decoding's verify step (params in design_space.json: speculation, num_speculative_tokens).

A decoding sequence's draft (components/speculation) rides along its next input token: the model
scores the token and the whole draft in one forward pass, as a prefill chunk of 1 + d tokens, and
the sequence keeps the draft's longest prefix that greedy decoding would have produced, then the
model's own token after it (vLLM v1's rejection sampler, greedy case). The output is greedy
decoding's, token for token; a step costs one forward whatever is accepted, so every accepted
token is a decode step saved.

Only greedy requests without logprobs are drafted. Sampling would need the rejection rule
(accept a draft token with probability p_target/p_draft, resample the rest from the residual) and
logprobs a row per token; such requests decode one token per step as before, in the same batches.

Rejected tokens' K/V: the forward wrote it past what the sequence keeps, so the engine rolls
num_computed back over it. Attention never reads past a sequence's context, the next step
overwrites those slots, and blocks wholly past the kept tokens go back to the pool
(KVCacheBase.truncate). The tokens are read right away (acceptance is decided on the host), so
speculation runs neither under async scheduling nor inside multi-step decode (constraints in
design_space.json).
"""

from __future__ import annotations

from .launched_step import LaunchedStep


def may_draft(seq) -> bool:
    """Greedy, no logprobs, and decoding: its one scheduled token is its last known one."""
    p = seq.params
    return (
        p.temperature <= 0
        and p.logprobs is None
        and seq.prompt_logprobs is None
        and seq.num_pending == 0
        and seq.num_computed + 1 == len(seq)
    )


def plan_drafts(batch, proposer, kv, k: int, token_budget: int, max_model_len: int) -> tuple[list, dict]:
    """(the batch with each drafted sequence's entry widened from 1 to 1 + d tokens, {seq: draft}).
    A draft is cut to what the request may still produce (max_tokens, the context) and to the
    step's token budget left over by the scheduler's own plan, and dropped where the cache has no
    room for it (no preemption for a draft)."""
    room = token_budget - sum(n for _, n in batch)
    out, drafts = [], {}
    for seq, n in batch:
        if n == 1 and room > 0 and may_draft(seq):
            limit = min(k, room, seq.params.max_tokens - seq.num_sampled - 1, max_model_len - len(seq) - 1)
            draft = proposer.propose(seq, limit)[:limit] if limit > 0 else []
            if draft and kv.reserve(seq, len(seq) + len(draft)):
                drafts[seq] = draft
                room -= len(draft)
                n += len(draft)
        out.append((seq, n))
    return out, drafts


def accept(targets: list[int], sampled: list, drafts: dict) -> list[list[int]]:
    """Per sampled sequence, the tokens it keeps. `targets` are the model's choices, one per sampled
    row: a drafted sequence has 1 + d rows (after its last token and after each draft token)."""
    out, i = [], 0
    for seq in sampled:
        draft = drafts.get(seq, ())
        rows = targets[i : i + len(draft) + 1]
        i += len(draft) + 1
        a = 0
        while a < len(draft) and draft[a] == rows[a]:
            a += 1
        out.append(list(draft[:a]) + [rows[a]])
    return out


class VerifiedStep(LaunchedStep):
    """A step whose tokens were read when it ran (acceptance needs them): rows of any length."""

    def __init__(self, seqs: list, rows: list[list[int]], num_tokens: int):
        super().__init__(seqs, None, num_tokens=num_tokens)
        self.rows = rows

    def host_tokens(self) -> list[list[int]]:
        return self.rows
