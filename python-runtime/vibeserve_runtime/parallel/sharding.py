"""Shard a Hugging Face state dict and config for one tensor-parallel rank, and build its model.

Attention is split by head groups: rank r holds query heads [r*nh/tp, (r+1)*nh/tp) and the KV heads
they read, so attention runs locally and the KV cache of each rank holds only its own KV heads.
The MLP's gate/up are split by columns and down_proj by rows. Embeddings, norms and the LM head stay
replicated (every rank computes the full logits; only rank 0 samples).
"""

from __future__ import annotations

from ..models import ModelParts, build_model
from ..models.presets import ARCH_OF_MODEL_TYPE
from .linear import RowParallelLinear, column_parallel_weight, row_parallel_weight, shard_rows

# modules whose input is sharded (their outputs need the all-reduce), per architecture
ROW_PARALLEL = {"llama": ("attn.o_proj", "mlp.down"), "gpt2": ("c_proj", "mlp_proj")}


def check_tp_compatible(cfg: dict, world_size: int) -> None:
    arch = ARCH_OF_MODEL_TYPE.get(cfg.get("model_type"))
    if arch not in ROW_PARALLEL:
        raise ValueError(
            f"components.tp={world_size}: tensor parallelism supports llama-family and gpt2 models, "
            f"not model_type {cfg.get('model_type')!r}; use tp=1"
        )
    if arch == "gpt2":
        heads = {"n_head": cfg["n_head"]}
    else:
        heads = {
            "num_attention_heads": cfg["num_attention_heads"],
            "num_key_value_heads": cfg.get("num_key_value_heads") or cfg["num_attention_heads"],
            "intermediate_size": cfg["intermediate_size"],
        }
    for name, n in heads.items():
        if n % world_size:
            raise ValueError(f"components.tp={world_size}: the model's {name}={n} is not divisible by {world_size}")


def shard_llama(cfg: dict, sd: dict, rank: int, ws: int) -> tuple[dict, dict]:
    nh = cfg["num_attention_heads"]
    kvh = cfg.get("num_key_value_heads") or nh
    hd = cfg.get("head_dim") or cfg["hidden_size"] // nh
    local = dict(
        cfg,
        num_attention_heads=nh // ws,
        num_key_value_heads=kvh // ws,
        head_dim=hd,
        intermediate_size=cfg["intermediate_size"] // ws,
    )
    out = dict(sd)
    for i in range(cfg["num_hidden_layers"]):
        p = f"model.layers.{i}."
        for name, unit in (("q_proj", hd), ("k_proj", hd), ("v_proj", hd), ("gate_proj", 1), ("up_proj", 1)):
            key = p + ("self_attn." if name[0] in "qkv" else "mlp.") + name + "."
            w, b = column_parallel_weight(out[key + "weight"], out.get(key + "bias"), rank, ws, unit)
            out[key + "weight"] = w
            if b is not None:
                out[key + "bias"] = b
        for key, unit in ((p + "self_attn.o_proj.", hd), (p + "mlp.down_proj.", 1)):
            w, b = row_parallel_weight(out[key + "weight"], out.get(key + "bias"), rank, ws, unit)
            out[key + "weight"] = w
            if b is not None:
                out[key + "bias"] = b
    return local, out


def shard_gpt2(cfg: dict, sd: dict, rank: int, ws: int) -> tuple[dict, dict]:
    """GPT-2 Conv1D weights are [in, out]; c_attn's out axis is q|k|v, each nh heads wide."""
    H, nh = cfg["n_embd"], cfg["n_head"]
    hd = H // nh
    out = dict(sd)
    for i in range(cfg["n_layer"]):
        p = f"transformer.h.{i}."
        w, b = out[p + "attn.c_attn.weight"], out[p + "attn.c_attn.bias"]
        out[p + "attn.c_attn.weight"] = shard_rows(w.view(H, 3, nh * hd), rank, ws, hd, dim=2).reshape(H, -1)
        out[p + "attn.c_attn.bias"] = shard_rows(b.view(3, nh * hd), rank, ws, hd, dim=1).reshape(-1)
        out[p + "mlp.c_fc.weight"], out[p + "mlp.c_fc.bias"] = column_parallel_weight(
            out[p + "mlp.c_fc.weight"], out[p + "mlp.c_fc.bias"], rank, ws, out_dim=1
        )
        for key, unit in ((p + "attn.c_proj.", hd), (p + "mlp.c_proj.", 1)):
            out[key + "weight"], out[key + "bias"] = row_parallel_weight(
                out[key + "weight"], out[key + "bias"], rank, ws, unit, in_dim=0
            )
    return cfg, out


def _set_module(root, path: str, module) -> None:
    *parents, last = path.split(".")
    for name in parents:
        root = getattr(root, name)
    setattr(root, last, module)


def _get_module(root, path: str):
    for name in path.split("."):
        root = getattr(root, name)
    return root


def build_tp_model(cfg: dict, sd: dict, parts: ModelParts, tp):
    """This rank's model: built from its shard of the weights, row-parallel layers wrapped for the
    all-reduce. Reports num_kv_heads of this rank, so the engine sizes a KV cache of its heads only."""
    check_tp_compatible(cfg, tp.world_size)
    arch = ARCH_OF_MODEL_TYPE[cfg["model_type"]]
    shard = shard_gpt2 if arch == "gpt2" else shard_llama
    local_cfg, local_sd = shard(cfg, sd, tp.rank, tp.world_size)
    model = build_model(local_cfg, local_sd, parts)
    if arch == "gpt2":
        # the block derives head_dim from n_embd // n_head, so it is built with the global head count
        # and told afterwards how many of those heads live on this rank
        for block in model.layers:
            block.nh //= tp.world_size
        model.num_kv_heads //= tp.world_size
    for layer in model.layers:
        for path in ROW_PARALLEL[arch]:
            _set_module(layer, path, RowParallelLinear(_get_module(layer, path), tp))
    return model.to(tp.device)
