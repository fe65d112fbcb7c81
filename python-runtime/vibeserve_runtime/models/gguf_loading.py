"""Llama-architecture GGUF files (llama.cpp): dequantized weights in HF naming, config, tokenizer data.

llama.cpp's converter permutes the rows of Q and K so its RoPE can rotate interleaved pairs; HF
checkpoints rotate halves, so the permutation is undone here.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import torch

_LAYER_NAMES = {
    "attn_norm.weight": "input_layernorm.weight",
    "ffn_norm.weight": "post_attention_layernorm.weight",
    "attn_q.weight": "self_attn.q_proj.weight",
    "attn_k.weight": "self_attn.k_proj.weight",
    "attn_v.weight": "self_attn.v_proj.weight",
    "attn_output.weight": "self_attn.o_proj.weight",
    "ffn_gate.weight": "mlp.gate_proj.weight",
    "ffn_up.weight": "mlp.up_proj.weight",
    "ffn_down.weight": "mlp.down_proj.weight",
    "attn_q.bias": "self_attn.q_proj.bias",
    "attn_k.bias": "self_attn.k_proj.bias",
    "attn_v.bias": "self_attn.v_proj.bias",
}
_TOP_NAMES = {
    "token_embd.weight": "model.embed_tokens.weight",
    "output_norm.weight": "model.norm.weight",
    "output.weight": "lm_head.weight",
}


def _field(reader, key, default=None):
    f = reader.fields.get(key)
    return default if f is None else f.contents()


def _unpermute(w: np.ndarray, n_heads: int) -> np.ndarray:
    out, inp = w.shape[0], w.shape[1:]
    return w.reshape(n_heads, out // n_heads // 2, 2, *inp).swapaxes(1, 2).reshape(out, *inp)


def load_gguf(path, dtype=torch.float32, device="cpu") -> tuple[dict, dict, dict]:
    import gguf

    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(f"model.path: GGUF file {path} does not exist")
    r = gguf.GGUFReader(str(path))
    arch = _field(r, "general.architecture")
    if arch not in ("llama", "qwen2"):
        raise ValueError(f"model.path: GGUF architecture {arch!r} is not supported (llama, qwen2)")
    a = lambda k, d=None: _field(r, f"{arch}.{k}", d)  # noqa: E731
    nh, nkv = a("attention.head_count"), a("attention.head_count_kv") or a("attention.head_count")
    names = {t.name for t in r.tensors}
    cfg = {
        "model_type": arch,
        "architectures": ["LlamaForCausalLM" if arch == "llama" else "Qwen2ForCausalLM"],
        "hidden_size": a("embedding_length"),
        "intermediate_size": a("feed_forward_length"),
        "num_hidden_layers": a("block_count"),
        "num_attention_heads": nh,
        "num_key_value_heads": nkv,
        "max_position_embeddings": a("context_length"),
        "rms_norm_eps": a("attention.layer_norm_rms_epsilon"),
        "rope_theta": a("rope.freq_base", 10000.0),
        "hidden_act": "silu",
        "vocab_size": a("vocab_size") or len(_field(r, "tokenizer.ggml.tokens")),
        "tie_word_embeddings": "output.weight" not in names,
        "bos_token_id": _field(r, "tokenizer.ggml.bos_token_id"),
        "eos_token_id": _field(r, "tokenizer.ggml.eos_token_id"),
    }
    sd = {}
    for t in r.tensors:
        w = gguf.quants.dequantize(t.data, t.tensor_type).astype(np.float32, copy=False)
        if t.name in _TOP_NAMES:
            name = _TOP_NAMES[t.name]
        else:
            _, layer, rest = t.name.split(".", 2)
            name = f"model.layers.{layer}.{_LAYER_NAMES[rest]}"
            if arch == "llama" and rest in ("attn_q.weight", "attn_k.weight"):
                w = _unpermute(w, nh if rest == "attn_q.weight" else nkv)
        sd[name] = torch.tensor(w, dtype=dtype, device=device)
    meta = {
        "path": str(path),
        "architecture": arch,
        "name": _field(r, "general.name"),
        **_tokenizer_meta(r),
        "quantization": sorted({t.tensor_type.name for t in r.tensors}),
    }
    return cfg, sd, meta


def _tokenizer_meta(r) -> dict:
    return {
        "tokenizer_model": _field(r, "tokenizer.ggml.model"),
        "tokenizer_pre": _field(r, "tokenizer.ggml.pre"),
        "tokens": _field(r, "tokenizer.ggml.tokens"),
        "merges": _field(r, "tokenizer.ggml.merges"),
        "token_types": _field(r, "tokenizer.ggml.token_type"),
        "bos_token_id": _field(r, "tokenizer.ggml.bos_token_id"),
        "eos_token_id": _field(r, "tokenizer.ggml.eos_token_id"),
        "padding_token_id": _field(r, "tokenizer.ggml.padding_token_id"),
        "add_bos_token": _field(r, "tokenizer.ggml.add_bos_token"),
        "chat_template": _field(r, "tokenizer.chat_template"),
    }


def read_gguf_tokenizer(path) -> dict:
    """The tokenizer fields of a GGUF (meta["gguf"] as load_gguf gives it), without its weights."""
    import gguf

    if not Path(path).is_file():
        raise FileNotFoundError(f"model.path: GGUF file {path} does not exist")
    return _tokenizer_meta(gguf.GGUFReader(str(path)))
