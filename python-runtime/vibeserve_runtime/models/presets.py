"""Named architecture configs, written as Hugging Face config.json dicts.

Random-weight models are built from these (plus ModelSpec.config overrides), and the checker builds
the transformers reference from the very same dict.
"""

from __future__ import annotations

import copy


def _llama(**kw) -> dict:
    cfg = dict(
        model_type="llama",
        architectures=["LlamaForCausalLM"],
        hidden_act="silu",
        rms_norm_eps=1e-5,
        rope_theta=10000.0,
        tie_word_embeddings=False,
        attention_bias=False,
        max_position_embeddings=2048,
        bos_token_id=1,
        eos_token_id=2,
    )
    cfg.update(kw)
    return cfg


def _gpt2(**kw) -> dict:
    cfg = dict(
        model_type="gpt2",
        architectures=["GPT2LMHeadModel"],
        activation_function="gelu_new",
        layer_norm_epsilon=1e-5,
        n_positions=1024,
        tie_word_embeddings=True,
        bos_token_id=1,
        eos_token_id=2,
    )
    cfg.update(kw)
    return cfg


def _mixtral(**kw) -> dict:
    cfg = _llama(
        model_type="mixtral",
        architectures=["MixtralForCausalLM"],
        rope_theta=1e6,
        num_local_experts=8,
        num_experts_per_tok=2,
        router_aux_loss_coef=0.0,
    )
    cfg.update(kw)
    return cfg


def _qwen2(**kw) -> dict:
    cfg = _llama(
        model_type="qwen2",
        architectures=["Qwen2ForCausalLM"],
        rms_norm_eps=1e-6,
        rope_theta=1e6,
        tie_word_embeddings=True,
        use_sliding_window=False,
    )
    cfg.pop("attention_bias")  # Qwen2 always has q/k/v bias and no o_proj bias
    cfg.update(kw)
    return cfg


PRESETS: dict[str, dict] = {
    # tiny shapes for CPU tests (vocab >= 259 so the byte tokenizer fits)
    "tiny-llama": _llama(
        hidden_size=64,
        intermediate_size=128,
        num_hidden_layers=2,
        num_attention_heads=4,
        num_key_value_heads=2,
        vocab_size=512,
        max_position_embeddings=512,
    ),
    "tiny-gpt2": _gpt2(n_embd=64, n_layer=2, n_head=4, vocab_size=512, n_positions=512, n_inner=None),
    "tiny-mixtral": _mixtral(
        hidden_size=64,
        intermediate_size=96,
        num_hidden_layers=2,
        num_attention_heads=4,
        num_key_value_heads=2,
        vocab_size=512,
        max_position_embeddings=512,
        num_local_experts=4,
        num_experts_per_tok=2,
    ),
    "tiny-qwen2": _qwen2(
        hidden_size=64,
        intermediate_size=128,
        num_hidden_layers=2,
        num_attention_heads=4,
        num_key_value_heads=2,
        vocab_size=512,
        max_position_embeddings=512,
    ),
    # real shapes
    "smollm2-135m": _llama(
        hidden_size=576,
        intermediate_size=1536,
        num_hidden_layers=30,
        num_attention_heads=9,
        num_key_value_heads=3,
        vocab_size=49152,
        max_position_embeddings=8192,
        rope_theta=100000.0,
        tie_word_embeddings=True,
        bos_token_id=1,
        eos_token_id=2,
    ),
    # gpt-fast's stories110M
    "llama-110m": _llama(
        hidden_size=768,
        intermediate_size=2048,
        num_hidden_layers=12,
        num_attention_heads=12,
        num_key_value_heads=12,
        vocab_size=32000,
        max_position_embeddings=2048,
    ),
    "llama3-8b": _llama(
        hidden_size=4096,
        intermediate_size=14336,
        num_hidden_layers=32,
        num_attention_heads=32,
        num_key_value_heads=8,
        vocab_size=128256,
        max_position_embeddings=8192,
        rope_theta=500000.0,
        bos_token_id=128000,
        eos_token_id=128001,
    ),
    # Llama-3.2-1B's shape (tied embeddings): large enough that two-way tensor parallelism has
    # something to split, small enough that each rank draws its random weights in seconds
    "llama3.2-1b-shape": _llama(
        hidden_size=2048,
        intermediate_size=8192,
        num_hidden_layers=16,
        num_attention_heads=32,
        num_key_value_heads=8,
        head_dim=64,
        vocab_size=128256,
        max_position_embeddings=8192,
        rope_theta=500000.0,
        tie_word_embeddings=True,
        bos_token_id=128000,
        eos_token_id=128001,
    ),
    "gpt2-124m": _gpt2(
        n_embd=768, n_layer=12, n_head=12, vocab_size=50257, n_positions=1024, bos_token_id=50256, eos_token_id=50256
    ),
    # Mixtral-8x7B's per-layer shape with 8 of its 32 layers, so it fits one 80 GB GPU in bf16 (~23 GB)
    "mixtral-8x7b-shape": _mixtral(
        hidden_size=4096,
        intermediate_size=14336,
        num_hidden_layers=8,
        num_attention_heads=32,
        num_key_value_heads=8,
        vocab_size=32000,
        max_position_embeddings=32768,
    ),
    "qwen2-0.5b": _qwen2(
        hidden_size=896,
        intermediate_size=4864,
        num_hidden_layers=24,
        num_attention_heads=14,
        num_key_value_heads=2,
        vocab_size=151936,
        max_position_embeddings=32768,
        bos_token_id=151643,
        eos_token_id=151643,
    ),
}

ARCH_OF_MODEL_TYPE = {"llama": "llama", "qwen2": "llama", "mistral": "llama", "gpt2": "gpt2", "mixtral": "mixtral"}


def get_preset(name: str) -> dict:
    if name not in PRESETS:
        raise ValueError(f"model.preset: unknown preset {name!r}; known: {', '.join(sorted(PRESETS))}")
    return copy.deepcopy(PRESETS[name])


# Token ids below 256 exist in every vocabulary served here (byte-level BPEs and the byte tokenizer):
# random prompts for a model of unknown vocabulary draw from them.
SHARED_VOCAB = 256


def vocab_size_of(model: dict, default: int = SHARED_VOCAB) -> int:
    """A model spec's vocabulary: its config's, else its preset's, else `default`."""
    if (model.get("config") or {}).get("vocab_size"):
        return int(model["config"]["vocab_size"])
    if model.get("preset"):
        return int(get_preset(model["preset"])["vocab_size"])
    return default
