"""The context length a served stack offers: the model's own (or --max-model-len), not the
workload's that a search writes into stack.json (params.max_model_len = prompt_len + output_len,
so the benchmark's engine holds exactly the longest request it measures).

The KV pool keeps the size the stack was measured with, grown only as far as one sequence of the
served length needs: on a GPU it comes from free memory anyway, and on a CPU a paged pool is sized
from max_model_len unless params.kv_cache_tokens fixes it, so it is fixed here. A contiguous cache
reserves the full context per batch slot, so its memory grows with the served context.
"""

from __future__ import annotations

from typing import Any

from ..models.context_length import model_context_length


def served_spec(spec: dict[str, Any], max_model_len: int | None) -> dict[str, Any]:
    """The stack spec with the served context; max_model_len: the caller's choice, else the model's."""
    params = dict(spec["params"])
    measured = params.get("max_model_len")
    served = max_model_len or model_context_length(spec["model"]) or measured
    if not served:
        return spec
    params["max_model_len"] = served
    paged_on_cpu = spec.get("device", "cpu") == "cpu" and spec["components"].get("kv_cache") == "paged"
    if paged_on_cpu and measured and not params.get("kv_cache_tokens"):
        params["kv_cache_tokens"] = max(int(params.get("max_batch_size") or 16) * measured, served)
    return {**spec, "params": params}
