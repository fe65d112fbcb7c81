"""A custom byte-level BPE given by the scenario as vocab.json + merges.txt (GPT-2 file format,
as written by `tokenizers`' ByteLevelBPETokenizer.save_model; see train.py)."""

from __future__ import annotations

import json
from pathlib import Path

from .hf_json import HFJsonTokenizer

SPECIALS = ("<|endoftext|>", "<|im_start|>", "<|im_end|>", "<s>", "</s>", "<pad>")


class CustomBPETokenizer(HFJsonTokenizer):
    @classmethod
    def from_path(cls, path: str | Path) -> "CustomBPETokenizer":
        from tokenizers import AddedToken, Tokenizer, decoders, models, pre_tokenizers

        p = Path(path)
        d = p if p.is_dir() else p.parent
        vocab, merges = d / "vocab.json", d / "merges.txt"
        for f in (vocab, merges):
            if not f.is_file():
                raise FileNotFoundError(f"tokenizer custom_file: {f} not found (need vocab.json and merges.txt)")
        tok = Tokenizer(models.BPE.from_file(str(vocab), str(merges)))
        tok.pre_tokenizer = pre_tokenizers.ByteLevel(add_prefix_space=False)
        tok.decoder = decoders.ByteLevel()
        table = json.loads(vocab.read_text())
        specials = [s for s in SPECIALS if s in table]
        tok.add_special_tokens([AddedToken(s, special=True, normalized=False) for s in specials])
        eos = next((s for s in ("<|endoftext|>", "</s>", "<|im_end|>") if s in table), None)
        return cls(tok, eos, "<s>" if "<s>" in table else None)
