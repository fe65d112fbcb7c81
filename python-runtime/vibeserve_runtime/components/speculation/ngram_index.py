"""An index of a token list's n-grams, grown as the list grows, for the two proposers' lookups."""

from __future__ import annotations


class NgramIndex:
    """Every n-gram (min_n <= n <= max_n tokens) of `tokens` -> the positions right after its
    occurrences, in order. An n-gram is indexed once a token follows it, so a lookup of the list's
    own last n tokens finds only earlier occurrences. Kept per request and fed the new tokens of
    each step, a lookup costs O(max_n) dict probes instead of a scan of the context (vLLM's ngram
    proposer scans with KMP every step)."""

    def __init__(self, min_n: int, max_n: int):
        self.min_n, self.max_n = min_n, max_n
        self.ends: dict[tuple, list[int]] = {}
        self.next_end = min_n  # the first n-gram end (exclusive) not indexed yet

    def update(self, tokens: list[int]) -> None:
        """Indexes the n-grams that a token of `tokens` now follows (tokens only ever grows)."""
        for end in range(self.next_end, len(tokens)):
            for n in range(self.min_n, min(self.max_n, end) + 1):
                self.ends.setdefault(tuple(tokens[end - n : end]), []).append(end)
        self.next_end = max(self.next_end, len(tokens))

    def find(self, suffix: list[int]) -> tuple[int, list[int]] | None:
        """(n, ends) for the longest n-gram that ends `suffix` and occurs in the index, else None."""
        for n in range(min(self.max_n, len(suffix)), self.min_n - 1, -1):
            ends = self.ends.get(tuple(suffix[len(suffix) - n :]))
            if ends:
                return n, ends
        return None
