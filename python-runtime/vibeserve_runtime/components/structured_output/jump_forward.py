"""structured_output=jump_forward: token masking, plus the tokens the grammar forces (a key, its
quotes and colon, a const value) proposed as a draft that the next step's forward verifies
(engine/verify_step.py) with every row masked. One forward computes the forced tokens' K/V and
checks them, so the output is masked greedy decoding's token for token, and each forced token
the model agrees with is a decode step saved. Greedy requests without logprobs jump; the others
are masked one token per step."""

from __future__ import annotations

from .token_mask import TokenMaskDecoding


class JumpForwardDecoding(TokenMaskDecoding):
    name = "jump_forward"
    drafts_forced_tokens = True

    def forced_tokens(self, seq) -> list[int]:
        """The tokens llguidance's forced bytes tokenize to, where the grammar allows one continuation."""
        return seq.grammar.compute_ff_tokens()
