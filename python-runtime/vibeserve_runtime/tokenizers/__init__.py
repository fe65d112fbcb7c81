"""Tokenizers behind one small interface, chosen by `components.tokenizer` in stack.json.

Every implementation has encode(str) -> list[int], decode(list[int]) -> str, eos_token_id,
bos_token_id, vocab_size and chat_template (a Jinja string or None).
"""

from __future__ import annotations

from dataclasses import asdict, is_dataclass
from pathlib import Path
from typing import Any

from .byte import BYTE_VOCAB, ByteTokenizer
from .detokenize import IncrementalDetokenizer

__all__ = ["load_tokenizer", "tokenizer_of", "ByteTokenizer", "IncrementalDetokenizer"]


def _fields(spec: Any) -> tuple[str, dict]:
    d = asdict(spec) if is_dataclass(spec) else dict(spec)
    return d.get("components", {}).get("tokenizer", "byte"), d.get("params", {}) or {}


def load_tokenizer(spec: Any, model_meta: dict | None = None):
    """spec: a StackSpec or its dict; model_meta: the third value of load_model_weights."""
    kind, params = _fields(spec)
    meta = model_meta or {}
    path = params.get("tokenizer_path")
    vocab_size = meta.get("vocab_size", BYTE_VOCAB)
    if kind == "byte":
        return ByteTokenizer(vocab_size)
    if kind == "hf_json":
        from .hf_json import HFJsonTokenizer, from_gguf_metadata

        if path or meta.get("tokenizer_dir"):
            return HFJsonTokenizer.from_path(path or meta["tokenizer_dir"])
        if meta.get("gguf"):
            return from_gguf_metadata(meta["gguf"])
        raise FileNotFoundError(
            "tokenizer hf_json: set params.tokenizer_path to a tokenizer.json "
            "(or its directory), or load a model that ships one"
        )
    if kind == "tiktoken_bpe":
        from .tiktoken_bpe import TiktokenTokenizer

        if not path:
            raise FileNotFoundError(
                "tokenizer tiktoken_bpe: set params.tokenizer_path to a rank file "
                "('<base64 token> <rank>' per line) or a directory holding one"
            )
        return TiktokenTokenizer.from_path(path)
    if kind == "custom_file":
        from .custom_file import CustomBPETokenizer

        if not path:
            raise FileNotFoundError(
                "tokenizer custom_file: set params.tokenizer_path to a directory "
                "with vocab.json and merges.txt (see tokenizers/train.py)"
            )
        return CustomBPETokenizer.from_path(path)
    raise ValueError(
        f"components.tokenizer: unknown tokenizer {kind!r}; expected hf_json, tiktoken_bpe, custom_file or byte"
    )


def tokenizer_of(spec: dict):
    """A stack's tokenizer without its weights: where a trusted process needs the stack's text (the
    checker's JSON-schema requests, a benchmark's real-text requests) but not its model."""
    model = spec["model"]
    from ..models.presets import vocab_size_of

    meta: dict = {"vocab_size": vocab_size_of(model, default=BYTE_VOCAB)}
    if model.get("weights") == "gguf":
        from ..models.gguf_loading import read_gguf_tokenizer
        from ..models.loading import find_packaged_gguf

        meta["gguf"] = read_gguf_tokenizer(model.get("path") or find_packaged_gguf())
    elif model.get("weights") == "path" and (Path(model["path"]) / "tokenizer.json").is_file():
        meta["tokenizer_dir"] = model["path"]
    return load_tokenizer(spec, meta)
