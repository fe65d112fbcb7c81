"""Jump-forward's draft source (structured_output=jump_forward): a constrained sequence's draft is
what its grammar forces next; the others, and a constrained one with nothing forced, draft from
the speculation proposer, if the stack has one. The drafts are verified like any other
(engine/verify_step.py), with the grammar's masks on every row."""

from __future__ import annotations

# forced tokens one step may carry per sequence: a few keys and their punctuation
MAX_FORCED_TOKENS = 32


class ForcedTokenDrafts:
    def __init__(self, structured, proposer, num_speculative_tokens: int):
        self.structured, self.proposer, self.num_speculative_tokens = structured, proposer, num_speculative_tokens
        self.max_draft = max(MAX_FORCED_TOKENS, num_speculative_tokens)

    def propose(self, seq, k: int) -> list[int]:
        if seq.grammar is not None:
            forced = self.structured.forced_tokens(seq)[:k]
            if forced:
                return forced
        if self.proposer is None:
            return []
        return self.proposer.propose(seq, min(k, self.num_speculative_tokens))
