"""Hugging Face `tokenizers` tokenizer.json, and the same built from a GGUF file's vocabulary."""

from __future__ import annotations

import json
from pathlib import Path


class HFJsonTokenizer:
    def __init__(
        self, tok, eos_token: str | None = None, bos_token: str | None = None, chat_template: str | None = None
    ):
        self.tok = tok
        self.vocab_size = tok.get_vocab_size(with_added_tokens=True)
        self.eos_token_id = tok.token_to_id(eos_token) if eos_token else None
        self.bos_token_id = tok.token_to_id(bos_token) if bos_token else None
        self.eos_token, self.bos_token = eos_token, bos_token
        self.chat_template = chat_template

    @classmethod
    def from_path(cls, path: str | Path) -> "HFJsonTokenizer":
        from tokenizers import Tokenizer

        p = Path(path)
        file = p / "tokenizer.json" if p.is_dir() else p
        if not file.is_file():
            raise FileNotFoundError(f"tokenizer hf_json: {file} not found")
        cfg_file = file.parent / "tokenizer_config.json"
        cfg = json.loads(cfg_file.read_text()) if cfg_file.is_file() else {}
        tok_name = lambda v: v.get("content") if isinstance(v, dict) else v
        eos, bos = tok_name(cfg.get("eos_token")), tok_name(cfg.get("bos_token"))
        tok = Tokenizer.from_file(str(file))
        if eos is None:  # GPT-2 style files name no eos in a config; use the conventional one if present
            eos = next((t for t in ("<|endoftext|>", "</s>", "<|im_end|>") if tok.token_to_id(t) is not None), None)
        return cls(tok, eos, bos, cfg.get("chat_template"))

    def encode(self, text: str) -> list[int]:
        return self.tok.encode(text, add_special_tokens=False).ids

    def decode(self, ids: list[int]) -> str:
        return self.tok.decode(list(ids), skip_special_tokens=True)


def from_gguf_metadata(g: dict) -> HFJsonTokenizer:
    """Byte-level BPE from a GGUF's tokenizer.ggml.* fields (tokens, merges, token_type, eos/bos ids).

    meta["gguf"] keys (as models/gguf_loading.py writes them): tokens, merges, token_types,
    eos_token_id, bos_token_id, tokenizer_model, tokenizer_pre (llama.cpp's pre-tokenizer name),
    chat_template.
    """
    from tokenizers import AddedToken, Tokenizer, decoders, models, pre_tokenizers

    tokens, merges = list(g["tokens"]), list(g["merges"])
    model = g.get("tokenizer_model", g.get("model"))
    if model not in ("gpt2", None):
        raise ValueError(f"GGUF tokenizer model {model!r} is not byte-level BPE (gpt2)")
    vocab = {t: i for i, t in enumerate(tokens)}
    pairs = [tuple(m.split(" ", 1)) for m in merges]
    tok = Tokenizer(models.BPE(vocab, pairs, ignore_merges=False))
    byte_level = pre_tokenizers.ByteLevel(add_prefix_space=False, use_regex=True)
    # llama.cpp's "smollm" pre-tokenizer splits digits one by one before the GPT-2 regex
    pre = g.get("tokenizer_pre", g.get("pre"))
    tok.pre_tokenizer = (
        pre_tokenizers.Sequence([pre_tokenizers.Digits(individual_digits=True), byte_level])
        if pre in ("smollm", "starcoder", "refact")
        else byte_level
    )
    tok.decoder = decoders.ByteLevel()
    types = g.get("token_types", g.get("token_type")) or []
    specials = [tokens[i] for i, t in enumerate(types) if int(t) == 3]  # 3 = control token
    if specials:
        tok.add_special_tokens([AddedToken(s, special=True, normalized=False) for s in specials])
    eos_id, bos_id = g.get("eos_token_id"), g.get("bos_token_id")
    return HFJsonTokenizer(
        tok,
        tokens[eos_id] if eos_id is not None else None,
        tokens[bos_id] if bos_id is not None else None,
        g.get("chat_template"),
    )
