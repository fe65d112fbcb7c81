"""tiktoken-style BPE: a rank file with `<base64 token> <rank>` per line, run by tiktoken.Encoding.

params.tokenizer_path is the rank file, or a directory holding `*.tiktoken` and optionally
`tokenizer_config.json` with {"pattern": regex, "special_tokens": {"<|endoftext|>": id}, "eos_token": str}.
"""

from __future__ import annotations

import base64
import json
from pathlib import Path

# GPT-4's cl100k split pattern, tiktoken's most common choice
CL100K_PATTERN = (
    r"""'(?i:[sdmt]|ll|ve|re)|[^\r\n\p{L}\p{N}]?+\p{L}+|\p{N}{1,3}| ?[^\s\p{L}\p{N}]++[\r\n]*|"""
    r"""\s*[\r\n]|\s+(?!\S)|\s+"""
)


def read_ranks(path: str | Path) -> dict[bytes, int]:
    ranks = {}
    for n, line in enumerate(Path(path).read_text().splitlines(), 1):
        if not line.strip():
            continue
        try:
            tok, rank = line.split()
            ranks[base64.b64decode(tok)] = int(rank)
        except ValueError:
            raise ValueError(f"{path}:{n}: expected '<base64 token> <rank>', got {line[:60]!r}")
    return ranks


def write_ranks(ranks: dict[bytes, int], path: str | Path) -> None:
    Path(path).write_text(
        "".join(f"{base64.b64encode(t).decode()} {r}\n" for t, r in sorted(ranks.items(), key=lambda x: x[1]))
    )


class TiktokenTokenizer:
    chat_template = None

    def __init__(
        self,
        ranks: dict[bytes, int],
        pattern: str = CL100K_PATTERN,
        special_tokens: dict[str, int] | None = None,
        eos_token: str | None = None,
        name: str = "custom",
    ):
        import tiktoken

        specials = special_tokens if special_tokens is not None else {"<|endoftext|>": len(ranks)}
        self.enc = tiktoken.Encoding(name, pat_str=pattern, mergeable_ranks=ranks, special_tokens=specials)
        self.vocab_size = self.enc.n_vocab
        eos = eos_token or ("<|endoftext|>" if "<|endoftext|>" in specials else None)
        self.eos_token_id = specials.get(eos) if eos else None
        self.bos_token_id = None
        self._special_ids = set(specials.values())

    @classmethod
    def from_path(cls, path: str | Path) -> "TiktokenTokenizer":
        p = Path(path)
        cfg = {}
        if p.is_dir():
            files = sorted(p.glob("*.tiktoken"))
            if not files:
                raise FileNotFoundError(f"tokenizer tiktoken_bpe: no *.tiktoken rank file in {p}")
            if (p / "tokenizer_config.json").is_file():
                cfg = json.loads((p / "tokenizer_config.json").read_text())
            p = files[0]
        elif not p.is_file():
            raise FileNotFoundError(f"tokenizer tiktoken_bpe: {p} not found")
        return cls(
            read_ranks(p), cfg.get("pattern", CL100K_PATTERN), cfg.get("special_tokens"), cfg.get("eos_token"), p.stem
        )

    def encode(self, text: str) -> list[int]:
        return self.enc.encode(text, disallowed_special=())

    def decode(self, ids: list[int]) -> str:
        return self.enc.decode([i for i in ids if i not in self._special_ids and 0 <= i < self.vocab_size])
