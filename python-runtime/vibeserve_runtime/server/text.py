"""Turns a request's tokens into text deltas, honouring stop strings.

Text that could be the start of a stop string is held back until it is known not to be one, so
a client never sees a stop string or part of it.
"""

from __future__ import annotations

from ..tokenizers import IncrementalDetokenizer


class OutputText:
    def __init__(self, tokenizer, stop: list[str]):
        self.detok = IncrementalDetokenizer(tokenizer)
        self.stop = [s for s in stop if s]
        self.hold = max((len(s) for s in self.stop), default=1) - 1
        self.text = ""
        self.sent = 0

    def push(self, ids: list[int], final: bool) -> tuple[str, bool]:
        """New token ids → (text to send now, whether a stop string ended the output)."""
        self.text += self.detok.push(ids)
        if final:
            self.text += self.detok.flush()
        hits = [i for i in (self.text.find(s) for s in self.stop) if i >= 0]
        if hits:
            self.text = self.text[: min(hits)]
            delta, self.sent = self.text[self.sent :], len(self.text)
            return delta, True
        upto = len(self.text) if final else max(self.sent, len(self.text) - self.hold)
        delta, self.sent = self.text[self.sent : upto], upto
        return delta, False
