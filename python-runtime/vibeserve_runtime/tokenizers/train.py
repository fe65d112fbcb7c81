"""Train a small custom byte-level BPE and save it as vocab.json + merges.txt (for custom_file).

    python -m vibeserve_runtime.tokenizers.train --out DIR --vocab-size 512 [text files...]
Without files it trains on a built-in English sample, enough for tests and demos.
"""

from __future__ import annotations

import argparse
from pathlib import Path

SAMPLE = """The quick brown fox jumps over the lazy dog. A serving engine batches requests, keeps a
cache of keys and values, and streams tokens back as soon as they are sampled. Paged attention
reads the cache through a block table; continuous batching admits new sequences at every step.
Numbers like 12345 and 2026 appear too, as do punctuation marks: commas, periods; and questions?"""


def train_custom_bpe(out_dir: str | Path, vocab_size: int = 512, texts: list[str] | None = None) -> Path:
    from tokenizers import ByteLevelBPETokenizer

    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    tok = ByteLevelBPETokenizer()
    tok.train_from_iterator(
        texts or [SAMPLE] * 20, vocab_size=vocab_size, min_frequency=1, special_tokens=["<|endoftext|>"]
    )
    tok.save_model(str(out))
    return out


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__)
    ap.add_argument("--out", required=True)
    ap.add_argument("--vocab-size", type=int, default=512)
    ap.add_argument("files", nargs="*")
    a = ap.parse_args()
    texts = [Path(f).read_text() for f in a.files] or None
    print(train_custom_bpe(a.out, a.vocab_size, texts))


if __name__ == "__main__":
    main()
