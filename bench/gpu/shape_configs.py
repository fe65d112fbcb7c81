"""The architecture configs of bench/gpu/shape_matrix.py: real model families' per-layer shapes with
2-4 layers of random weights, as model specs of the runtime (a tiny preset of the right architecture,
every shape field overridden). They span widths 512-8192, head_dim 64-256 (also an explicit head_dim
that is not width / heads), MHA, GQA (groups of 4 to 8) and MQA (71 heads on one), tied and untied
embeddings, Qwen2's q/k/v bias, GPT-2, dense and mixture-of-experts models from 8 to 64 experts with
top-1 to top-8 routing, and one int8 row. Families whose architecture the runtime does not build
(Phi-3, Gemma, Falcon, OLMoE, Switch) are represented by their shapes in the Llama or Mixtral layout.

The vocabulary is capped (VOCAB_CAP) so that drawing random weights and the fp32 reference stay
quick: the embedding and LM head do not change what the matrix is about, the layers' shapes.
`tiny()` shrinks a config to CPU size while keeping what kind of shape it is.
"""

from __future__ import annotations

VOCAB_CAP = 32768


def _row(name: str, family: str, source: str, preset: str, layers: int, **config) -> dict:
    layer_key = "n_layer" if preset == "tiny-gpt2" else "num_hidden_layers"
    return {"name": name, "family": family, "source": source, "preset": preset, "config": {layer_key: layers, **config}}


# family: which fast design applies (shape_matrix.FAST); preset: the architecture's tiny preset,
# whose fields the config overrides (tiny-qwen2 brings the q/k/v bias, tiny-mixtral the router).
CONFIGS: list[dict] = [
    # the two shapes whose correct bf16 stacks the fixed 0.08 bound rejected on an H100 (issue 19)
    _row(
        "phi3-mini",
        "dense",
        "Phi-3-mini's shape as Llama: width 3072, MHA, head_dim 96, untied",
        "tiny-llama",
        4,
        hidden_size=3072,
        num_attention_heads=32,
        num_key_value_heads=32,
        intermediate_size=8192,
        vocab_size=32064,
        max_position_embeddings=4096,
    ),
    _row(
        "llama3-8b",
        "dense",
        "Llama-3-8B: GQA 32/8, head_dim 128, untied",
        "tiny-llama",
        4,
        hidden_size=4096,
        num_attention_heads=32,
        num_key_value_heads=8,
        intermediate_size=14336,
        vocab_size=128256,
        rope_theta=500000.0,
        max_position_embeddings=8192,
    ),
    _row(
        "gemma-7b-shape",
        "dense",
        "Gemma-7B's attention as Llama: MHA, 16 heads of head_dim 256, tied",
        "tiny-llama",
        2,
        hidden_size=3072,
        num_attention_heads=16,
        num_key_value_heads=16,
        head_dim=256,
        intermediate_size=24576,
        vocab_size=256000,
        tie_word_embeddings=True,
        max_position_embeddings=8192,
    ),
    _row(
        "falcon-7b-shape",
        "dense",
        "Falcon-7B's attention as Llama: MQA, 71 heads of 64, tied",
        "tiny-llama",
        2,
        hidden_size=4544,
        num_attention_heads=71,
        num_key_value_heads=1,
        intermediate_size=18176,
        vocab_size=65024,
        tie_word_embeddings=True,
    ),
    _row(
        "qwen2.5-0.5b",
        "dense",
        "Qwen2.5-0.5B: GQA 14/2, q/k/v bias, tied",
        "tiny-qwen2",
        2,
        hidden_size=896,
        num_attention_heads=14,
        num_key_value_heads=2,
        intermediate_size=4864,
        vocab_size=151936,
        max_position_embeddings=32768,
    ),
    _row(
        "mixtral-8x7b",
        "moe",
        "Mixtral-8x7B: 8 experts, top-2",
        "tiny-mixtral",
        2,
        hidden_size=4096,
        num_attention_heads=32,
        num_key_value_heads=8,
        intermediate_size=14336,
        num_local_experts=8,
        num_experts_per_tok=2,
        vocab_size=32000,
        max_position_embeddings=32768,
    ),
    _row(
        "olmoe-1b-7b",
        "moe",
        "OLMoE-1B-7B: 64 fine-grained experts, top-8 (without its QK norm)",
        "tiny-mixtral",
        2,
        hidden_size=2048,
        num_attention_heads=16,
        num_key_value_heads=16,
        intermediate_size=1024,
        num_local_experts=64,
        num_experts_per_tok=8,
        vocab_size=50304,
        max_position_embeddings=4096,
    ),
    _row(
        "qwen1.5-moe-a2.7b",
        "moe",
        "Qwen1.5-MoE-A2.7B's routed experts: 60, top-4 (without the shared expert)",
        "tiny-mixtral",
        2,
        hidden_size=2048,
        num_attention_heads=16,
        num_key_value_heads=16,
        intermediate_size=1408,
        num_local_experts=60,
        num_experts_per_tok=4,
        vocab_size=151936,
    ),
    _row(
        "switch-base-16",
        "moe",
        "Switch Transformer's top-1 routing at Switch-Base's width: 16 experts, MHA",
        "tiny-mixtral",
        2,
        hidden_size=768,
        num_attention_heads=12,
        num_key_value_heads=12,
        intermediate_size=3072,
        num_local_experts=16,
        num_experts_per_tok=1,
        vocab_size=32128,
        max_position_embeddings=2048,
    ),
    _row(
        "llama3-8b-int8",
        "int8",
        "Llama-3-8B with int8 weight-only linears",
        "tiny-llama",
        2,
        hidden_size=4096,
        num_attention_heads=32,
        num_key_value_heads=8,
        intermediate_size=14336,
        vocab_size=128256,
        rope_theta=500000.0,
        max_position_embeddings=8192,
    ),
    _row(
        "pythia-70m-shape",
        "dense",
        "Pythia-70M's width as Llama: 512, MHA, 8 heads of 64, untied",
        "tiny-llama",
        2,
        hidden_size=512,
        num_attention_heads=8,
        num_key_value_heads=8,
        intermediate_size=2048,
        vocab_size=50304,
        max_position_embeddings=2048,
    ),
    _row(
        "gpt2-medium",
        "dense",
        "GPT-2 medium: MHA, learned positions, biases, tied",
        "tiny-gpt2",
        2,
        n_embd=1024,
        n_head=16,
        n_inner=None,
        vocab_size=50257,
        n_positions=1024,
    ),
    _row(
        "mistral-nemo-12b",
        "dense",
        "Mistral-NeMo-12B: width 5120, head_dim 128 (not 5120/32), GQA 32/8",
        "tiny-llama",
        2,
        hidden_size=5120,
        num_attention_heads=32,
        num_key_value_heads=8,
        head_dim=128,
        intermediate_size=14336,
        vocab_size=131072,
        rope_theta=1000000.0,
        max_position_embeddings=8192,
    ),
    _row(
        "llama3-70b",
        "dense",
        "Llama-3-70B: width 8192, GQA 64/8, untied",
        "tiny-llama",
        2,
        hidden_size=8192,
        num_attention_heads=64,
        num_key_value_heads=8,
        intermediate_size=28672,
        vocab_size=128256,
        rope_theta=500000.0,
        max_position_embeddings=8192,
    ),
]


def model_config(row: dict, vocab_cap: int | None = VOCAB_CAP) -> dict:
    cfg = dict(row["config"])
    if vocab_cap:
        cfg["vocab_size"] = min(cfg["vocab_size"], vocab_cap)
    return cfg


def arch_of(row: dict) -> str:
    return {"tiny-gpt2": "gpt2", "tiny-mixtral": "mixtral"}.get(row["preset"], "llama")


def tiny(row: dict) -> dict:
    """The row at CPU size: 4 heads of 16 (an explicit head_dim stays explicit, 24), the same kind of
    attention (MHA, GQA or MQA), at most 8 experts with the same top-k share, vocabulary 512."""
    c = dict(row["config"])
    if arch_of(row) == "gpt2":
        c.update(n_embd=64, n_head=4, vocab_size=512, n_positions=512)
        return {**row, "config": c}
    heads, kv = c["num_attention_heads"], c.get("num_key_value_heads") or c["num_attention_heads"]
    kv_tiny = 4 if kv == heads else (1 if kv == 1 else 2)
    c.update(
        num_attention_heads=4,
        num_key_value_heads=kv_tiny,
        intermediate_size=96,
        vocab_size=512,
        max_position_embeddings=512,
    )
    if "head_dim" in c:
        c.update(head_dim=24, hidden_size=64)
    else:
        c.update(hidden_size=64)
    if "num_local_experts" in c:
        experts = min(c["num_local_experts"], 8)
        c.update(num_local_experts=experts, num_experts_per_tok=min(c["num_experts_per_tok"], max(1, experts // 2)))
    return {**row, "config": c}


def resolved_config(row: dict, cfg: dict) -> dict:
    """The full Hugging Face config the runtime builds (the preset's fields under the row's)."""
    from vibeserve_runtime.model_shape import model_config as runtime_config

    return runtime_config({"weights": "random", "preset": row["preset"], "config": cfg})


def parameter_count(full: dict) -> int:
    """Weights of a resolved config (embedding and LM head included), for memory estimates."""
    if full["model_type"] == "gpt2":
        e, layers = full["n_embd"], full["n_layer"]
        return full["vocab_size"] * e + full["n_positions"] * e + layers * 12 * e * e
    h, heads = full["hidden_size"], full["num_attention_heads"]
    kv = full.get("num_key_value_heads") or heads
    hd = full.get("head_dim") or h // heads
    attn = h * hd * (2 * heads + 2 * kv)
    mlp = 3 * h * full["intermediate_size"] * full.get("num_local_experts", 1)
    embed = full["vocab_size"] * h * (1 if full.get("tie_word_embeddings") else 2)
    return embed + full["num_hidden_layers"] * (attn + mlp)


def describe(full: dict) -> dict:
    """The shape facts a reader of the matrix compares rows by, from a resolved config."""
    if full["model_type"] == "gpt2":
        e, heads = full["n_embd"], full["n_head"]
        return {
            "hidden_size": e,
            "head_dim": e // heads,
            "heads": heads,
            "kv_heads": heads,
            "attention": "MHA",
            "tied": True,
            "qkv_bias": True,
            "experts": None,
            "top_k": None,
            "layers": full["n_layer"],
            "vocab_size": full["vocab_size"],
        }
    h, heads = full["hidden_size"], full["num_attention_heads"]
    kv = full.get("num_key_value_heads") or heads
    return {
        "hidden_size": h,
        "head_dim": full.get("head_dim") or h // heads,
        "heads": heads,
        "kv_heads": kv,
        "attention": "MHA" if kv == heads else ("MQA" if kv == 1 else "GQA"),
        "tied": bool(full.get("tie_word_embeddings")),
        "qkv_bias": full["model_type"] == "qwen2",
        "experts": full.get("num_local_experts"),
        "top_k": full.get("num_experts_per_tok"),
        "layers": full["num_hidden_layers"],
        "vocab_size": full["vocab_size"],
    }
