"""Read a GGUF file's tokenizer.ggml.* fields into the dict that hf_json.from_gguf_metadata takes
(the same shape as the model loader's meta["gguf"])."""

from __future__ import annotations

from pathlib import Path


def read_gguf_tokenizer(path: str | Path) -> dict:
    from gguf import GGUFReader

    r = GGUFReader(str(path))

    def field(name):
        f = r.fields.get(name)
        if f is None:
            return None
        if len(f.data) == 1 and f.types and f.types[0].name != "ARRAY":
            v = f.parts[f.data[0]]
            return bytes(v).decode("utf-8") if f.types[0].name == "STRING" else v.tolist()[0]
        if f.types and f.types[-1].name == "STRING":
            return [bytes(f.parts[i]).decode("utf-8", errors="replace") for i in f.data]
        return [f.parts[i].tolist()[0] for i in f.data]

    tokens = field("tokenizer.ggml.tokens")
    if not tokens:
        raise ValueError(f"{path}: no tokenizer.ggml.tokens in this GGUF file")
    return {
        "tokenizer_model": field("tokenizer.ggml.model"),
        "tokenizer_pre": field("tokenizer.ggml.pre"),
        "tokens": tokens,
        "merges": field("tokenizer.ggml.merges") or [],
        "token_types": field("tokenizer.ggml.token_type") or [],
        "eos_token_id": field("tokenizer.ggml.eos_token_id"),
        "bos_token_id": field("tokenizer.ggml.bos_token_id"),
        "chat_template": field("tokenizer.chat_template"),
    }
