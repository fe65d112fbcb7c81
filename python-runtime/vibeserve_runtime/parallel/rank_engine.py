"""Build one rank's engine: its shard of the model and a KV cache holding only its KV heads."""

from __future__ import annotations

from dataclasses import replace

import torch
import torch.distributed as dist

from ..engine.engine import BuildContext, Engine, model_parts
from ..engine.spec import load_stack_spec
from ..models import load_model_weights
from ..models.loading import torch_dtype
from .sharding import build_tp_model


def _same_kv_size_everywhere(spec, model, meta, tp):
    """On GPUs each rank sizes its cache from its own free memory; all ranks must agree on the block
    count (rank 0's block tables index every rank's cache), so they take the smallest."""
    p = spec.params
    if tp.device.type != "cuda" or p.get("kv_cache_tokens"):
        return spec
    max_pos = meta["max_position_embeddings"] or 2048
    max_len = p["max_model_len"] or min(max_pos, 4096)
    ctx = BuildContext(
        len(model.layers), model.num_kv_heads, model.head_dim, max_len, p, torch_dtype(spec.model.dtype), tp.device
    )
    n = torch.tensor([ctx.num_blocks()], dtype=torch.long)
    dist.all_reduce(n, op=dist.ReduceOp.MIN, group=tp.control)
    return replace(spec, params=dict(p, kv_cache_tokens=int(n) * p["block_size"]))


def build_rank_engine(spec, tp, engine_cls=Engine):
    """Every rank loads the weights on the host, keeps its shard, and builds the same components, so
    execution set-up (warm-up, CUDA-graph capture) issues the same collectives in the same order."""
    spec = load_stack_spec(spec)
    local = replace(spec, device=str(tp.device))
    cfg, sd, meta = load_model_weights(spec.model, device="cpu")
    model = build_tp_model(cfg, sd, model_parts(local), tp)
    del sd
    local = _same_kv_size_everywhere(local, model, meta, tp)
    engine = engine_cls.from_model(local, model, cfg, meta)
    report = {
        "rank": tp.rank,
        "device": str(tp.device),
        "num_kv_heads": model.num_kv_heads,
        "k_cache_shape": list(engine.kv.k_caches[0].shape),
        "num_layers": len(engine.kv.k_caches),
    }
    reports = [None] * tp.world_size if tp.rank == 0 else None
    dist.gather_object(report, reports, dst=0, group=tp.control)
    return engine, reports
