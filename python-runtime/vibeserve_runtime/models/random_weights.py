"""Deterministic random weights in Hugging Face checkpoint naming (like vLLM's dummy load format).

Each tensor is drawn from its own CPU generator seeded by (seed, tensor name), so a tensor does not
depend on which others were drawn nor on the device the model is loaded to.
"""

from __future__ import annotations

import zlib

import torch

INIT_STD = 0.02  # transformers' initializer_range


def _draw(name: str, shape, seed: int, device, dtype, mean: float = 0.0) -> torch.Tensor:
    # always drawn on the CPU, so a GPU engine and a CPU reference built from the same spec agree
    g = torch.Generator().manual_seed(seed * 1_000_003 + zlib.crc32(name.encode()))
    t = torch.randn(shape, generator=g, dtype=torch.float32).mul_(INIT_STD)
    if mean:
        t.add_(mean)
    return t.to(dtype).to(device)


def tensor_shapes(cfg: dict) -> dict[str, tuple]:
    """Name -> shape of every parameter of the HF checkpoint for this config (norm weights marked by name)."""
    mt = cfg["model_type"]
    if mt == "gpt2":
        E, V, P, L = cfg["n_embd"], cfg["vocab_size"], cfg["n_positions"], cfg["n_layer"]
        inner = cfg.get("n_inner") or 4 * E
        s = {"transformer.wte.weight": (V, E), "transformer.wpe.weight": (P, E)}
        for i in range(L):
            p = f"transformer.h.{i}."
            s.update(
                {
                    p + "ln_1.weight": (E,),
                    p + "ln_1.bias": (E,),
                    p + "attn.c_attn.weight": (E, 3 * E),
                    p + "attn.c_attn.bias": (3 * E,),
                    p + "attn.c_proj.weight": (E, E),
                    p + "attn.c_proj.bias": (E,),
                    p + "ln_2.weight": (E,),
                    p + "ln_2.bias": (E,),
                    p + "mlp.c_fc.weight": (E, inner),
                    p + "mlp.c_fc.bias": (inner,),
                    p + "mlp.c_proj.weight": (inner, E),
                    p + "mlp.c_proj.bias": (E,),
                }
            )
        s.update({"transformer.ln_f.weight": (E,), "transformer.ln_f.bias": (E,)})
        if not cfg.get("tie_word_embeddings", True):
            s["lm_head.weight"] = (V, E)
        return s
    H, V, L, I = cfg["hidden_size"], cfg["vocab_size"], cfg["num_hidden_layers"], cfg["intermediate_size"]
    nh = cfg["num_attention_heads"]
    kvh = cfg.get("num_key_value_heads") or nh
    hd = cfg.get("head_dim") or H // nh
    qkv_bias = mt == "qwen2" or bool(cfg.get("attention_bias"))
    o_bias = mt != "qwen2" and bool(cfg.get("attention_bias"))
    s = {"model.embed_tokens.weight": (V, H)}
    for i in range(L):
        p = f"model.layers.{i}."
        s[p + "input_layernorm.weight"] = (H,)
        for n, rows in (("q", nh * hd), ("k", kvh * hd), ("v", kvh * hd)):
            s[p + f"self_attn.{n}_proj.weight"] = (rows, H)
            if qkv_bias:
                s[p + f"self_attn.{n}_proj.bias"] = (rows,)
        s[p + "self_attn.o_proj.weight"] = (H, nh * hd)
        if o_bias:
            s[p + "self_attn.o_proj.bias"] = (H,)
        s[p + "post_attention_layernorm.weight"] = (H,)
        if mt == "mixtral":
            E = cfg["num_local_experts"]
            s[p + "block_sparse_moe.gate.weight"] = (E, H)
            for e in range(E):
                q = p + f"block_sparse_moe.experts.{e}."
                s.update({q + "w1.weight": (I, H), q + "w2.weight": (H, I), q + "w3.weight": (I, H)})
        else:
            s.update(
                {
                    p + "mlp.gate_proj.weight": (I, H),
                    p + "mlp.up_proj.weight": (I, H),
                    p + "mlp.down_proj.weight": (H, I),
                }
            )
    s["model.norm.weight"] = (H,)
    if not cfg.get("tie_word_embeddings", False):
        s["lm_head.weight"] = (V, H)
    return s


def _is_norm_weight(name: str) -> bool:
    return name.endswith("norm.weight") or ".ln_" in name and name.endswith(".weight")


def random_state_dict(cfg: dict, seed: int, dtype=torch.float32, device="cpu") -> dict[str, torch.Tensor]:
    # norm gains around 1 (not exactly 1) so a checker notices a model that skips them
    return {
        n: _draw(n, shape, seed, device, dtype, mean=1.0 if _is_norm_weight(n) else 0.0)
        for n, shape in tensor_shapes(cfg).items()
    }
