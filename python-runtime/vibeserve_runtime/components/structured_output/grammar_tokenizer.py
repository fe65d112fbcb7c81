"""The engine's tokenizer as llguidance sees it: every token id's bytes, and the EOS id."""

from __future__ import annotations


def grammar_tokenizer(tokenizer, vocab_size: int, eos_token_id: int | None):
    """An llguidance LLTokenizer for the engine's tokenizer, over the model's whole vocabulary
    (ids past the tokenizer's own are never allowed). A Hugging Face tokenizer (hf_json,
    custom_file) is handed over as its tokenizer.json; the others as a list of token bytes."""
    from llguidance import LLTokenizer, TokenizerWrapper

    if eos_token_id is None:
        raise ValueError(
            "structured output needs an end-of-sequence token; this stack's tokenizer names none "
            "(give the tokenizer an eos_token)"
        )
    backend = getattr(tokenizer, "tok", None)
    if backend is not None and hasattr(backend, "to_str"):
        return LLTokenizer(backend.to_str(), n_vocab=vocab_size, eos_token=eos_token_id)
    return LLTokenizer(TokenizerWrapper(_ByteView(tokenizer, vocab_size, eos_token_id)), n_vocab=vocab_size)


class _ByteView:
    """What llguidance's TokenizerWrapper reads: the bytes of every id, and an encoder."""

    def __init__(self, tokenizer, vocab_size: int, eos_token_id: int):
        self.eos_token_id, self.bos_token_id = eos_token_id, getattr(tokenizer, "bos_token_id", None)
        self.tokens = [_token_bytes(tokenizer, i) for i in range(vocab_size)]
        specials = {getattr(tokenizer, n, None) for n in ("pad_token_id", "bos_token_id", "eos_token_id")}
        self.special_token_ids = sorted(i for i in specials if i is not None)
        self._encode = tokenizer.encode

    def __call__(self, text: str) -> list[int]:
        return self._encode(text)


def _token_bytes(tokenizer, i: int) -> bytes:
    from ...tokenizers.byte import OFFSET, ByteTokenizer

    if isinstance(tokenizer, ByteTokenizer):  # id b + OFFSET is byte b; the others carry no text
        return bytes([i - OFFSET]) if OFFSET <= i < 256 + OFFSET else b""
    enc = getattr(tokenizer, "enc", None)  # tiktoken: a token's exact bytes, partial UTF-8 included
    if enc is not None:
        try:
            return enc.decode_single_token_bytes(i)
        except KeyError:
            return b""
    return tokenizer.decode([i]).encode("utf-8")
