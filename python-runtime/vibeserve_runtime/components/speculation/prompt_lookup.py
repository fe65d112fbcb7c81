"""Prompt lookup (n-gram) drafting, vLLM's ngram proposer: the sequence's latest n tokens, found
earlier in its prompt or output, are likely followed by what followed them there. Outputs that
quote their input (code edits, summaries, answers over retrieved text) draft well; others draft
little, and a step without a draft is a plain decode step."""

from __future__ import annotations

from .ngram_index import NgramIndex


class PromptLookupProposer:
    name = "prompt_lookup"

    def __init__(self, ngram_min: int, ngram_max: int):
        self.ngram_min, self.ngram_max = ngram_min, ngram_max

    def propose(self, seq, k: int) -> list[int]:
        """The k tokens after the latest earlier occurrence of the longest n-gram ending the
        sequence (the latest: nearby context is the likelier to repeat)."""
        if seq.draft_state is None:
            seq.draft_state = NgramIndex(self.ngram_min, self.ngram_max)
        index: NgramIndex = seq.draft_state
        tokens = seq.token_ids
        index.update(tokens)
        hit = index.find(tokens)
        if hit is None:
            return []
        end = hit[1][-1]
        return tokens[end : end + k]
