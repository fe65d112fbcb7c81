"""Byte-level tokenizer for random-weight models that ship no tokenizer data.

Ids 0..2 are special (pad, bos, eos); byte b maps to id b + 3, so any vocab >= 259 works.
"""

from __future__ import annotations

OFFSET = 3
BYTE_VOCAB = 256 + OFFSET  # the smallest vocabulary the byte tokenizer fits


class ByteTokenizer:
    pad_token_id = 0
    bos_token_id = 1
    eos_token_id = 2
    chat_template = None

    def __init__(self, vocab_size: int = BYTE_VOCAB):
        if vocab_size < BYTE_VOCAB:
            raise ValueError(f"byte tokenizer needs vocab_size >= {BYTE_VOCAB}, model has {vocab_size}")
        self.vocab_size = vocab_size

    def encode(self, text: str) -> list[int]:
        return [b + OFFSET for b in text.encode("utf-8")]

    def decode(self, ids: list[int]) -> str:
        # ids outside the byte range (specials, or ids a random model samples above 258) carry no text
        data = bytes(i - OFFSET for i in ids if OFFSET <= i < 256 + OFFSET)
        return data.decode("utf-8", errors="replace")
