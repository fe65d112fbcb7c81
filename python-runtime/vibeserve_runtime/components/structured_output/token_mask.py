"""structured_output=token_mask: at every step, the logits of the tokens the request's grammar does
not allow next are set to -inf before sampling (llguidance computes the allowed set as a bitmask)."""

from __future__ import annotations

import time

import torch

from .grammar_tokenizer import grammar_tokenizer
from .json_schema_grammar import compile_json_schema

_BITS = torch.arange(32, dtype=torch.int32)


class TokenMaskDecoding:
    name = "token_mask"
    drafts_forced_tokens = False  # the engine drafts from forced_tokens() only where this is set

    def __init__(self, tokenizer, vocab_size: int, eos_token_id: int | None):
        self.tokenizer, self.vocab_size, self.eos_token_id = tokenizer, vocab_size, eos_token_id
        self._grammar_tokenizer = None  # built at the first constrained request (~0.2 s for a 50k vocab)
        self.mask_seconds = 0.0  # host time spent computing masks, for the benchmark's profile

    def start(self, schema: dict):
        """A matcher for one request's output; ValueError when the schema cannot be served."""
        from llguidance import LLMatcher

        if self._grammar_tokenizer is None:
            self._grammar_tokenizer = grammar_tokenizer(self.tokenizer, self.vocab_size, self.eos_token_id)
        grammar = compile_json_schema(schema)
        error = LLMatcher.validate_grammar(grammar, self._grammar_tokenizer)
        if error:
            raise ValueError(f"response_format: unsupported JSON schema for this tokenizer: {error}")
        return LLMatcher(self._grammar_tokenizer, grammar)

    def mask(self, logits: torch.Tensor, sampled: list, drafts: dict | None = None) -> torch.Tensor:
        """`logits` [rows, V], one row per sampled sequence, or 1 + d rows for one carrying a d-token
        draft (engine/verify_step.py): row j is scored after the draft's first j tokens, so its mask
        is the grammar's after them. Rows past a draft token the grammar refuses keep every token:
        verification stops at that token anyway. Returns the logits unchanged when no row is constrained."""
        if all(seq.grammar is None for seq in sampled):
            return logits
        t0 = time.perf_counter()
        width = -(-logits.shape[-1] // 32)
        bitmask = torch.full((logits.shape[0], width), -1, dtype=torch.int32)
        row = 0
        for seq in sampled:
            draft = drafts.get(seq, ()) if drafts else ()
            matcher = seq.grammar
            if matcher is not None:
                consumed = 0
                for j in range(len(draft) + 1):
                    self._fill_row(matcher, bitmask, row + j)
                    if j == len(draft) or matcher.try_consume_tokens([draft[j]]) != 1:
                        break
                    consumed += 1
                if consumed:
                    matcher.rollback(consumed)
            row += len(draft) + 1
        allowed = ((bitmask.unsqueeze(-1) >> _BITS) & 1).view(bitmask.shape[0], -1)[:, : logits.shape[-1]]
        self.mask_seconds += time.perf_counter() - t0
        return logits.masked_fill(allowed.to(logits.device, non_blocking=True) == 0, float("-inf"))

    @staticmethod
    def _fill_row(matcher, bitmask: torch.Tensor, row: int) -> None:
        """The matcher's allowed-token bits written straight into `bitmask[row]` (what
        llguidance.torch.fill_next_token_bitmask does; importing that module costs ~3 s, as it
        torch.compiles a helper at import)."""
        v = bitmask[row]
        matcher.unsafe_compute_mask_ptr(v.data_ptr(), v.numel() * v.element_size())

    def advance(self, seq, token: int) -> bool:
        """Feeds an appended token to the sequence's grammar; False when the grammar refuses it or
        admits nothing after it (the JSON is complete), so the request ends there."""
        matcher = seq.grammar
        return matcher.consume_token(token) and not matcher.is_stopped()

    def forced_tokens(self, seq) -> list[int]:
        return []
