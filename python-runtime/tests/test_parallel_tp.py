"""Tensor parallelism (tp=2) over gloo with two CPU processes: the same code path NCCL runs on 2 GPUs.

tp=2 must give the logits of tp=1 and of transformers (fp32, tolerance), the same greedy tokens in a
mixed-length batch, and each rank's KV cache must hold only its own KV heads.
"""

import pytest
import torch

from vibeserve_runtime.engine import Engine
from vibeserve_runtime.engine.spec import load_stack_spec
from vibeserve_runtime.models import load_model_weights
from vibeserve_runtime.models.hf_reference import build_hf_reference
from vibeserve_runtime.parallel.linear import column_parallel_weight, row_parallel_weight
from vibeserve_runtime.parallel.process_group import SAFE_COMM_ENV, apply_safe_comm_env
from vibeserve_runtime.parallel.sharding import check_tp_compatible, shard_gpt2, shard_llama

PROMPT = [5, 17, 99, 3, 250, 41, 8, 77, 123, 6, 301]
FORCED = [12, 400, 7, 19, 33]
BATCH = [PROMPT, [1, 2, 3], [300, 200, 100, 50, 25]]


def spec(model, tp, **components):
    return {
        "name": f"tp{tp}",
        "model": model,
        "components": {"tp": tp, **components},
        "params": {"block_size": 8, "max_batch_size": 4},
    }


# A linear layer from the stack's own code (as a generated component would be): the worker rank must
# register it too, or it cannot build its model.
CUSTOM_LINEAR = """
from torch import nn
from vibeserve_runtime.engine.registry import register_component


class TransposedLinear(nn.Module):
    def __init__(self, weight, bias=None):
        super().__init__()
        self.wt = nn.Parameter(weight.t().contiguous(), requires_grad=False)
        self.bias = None if bias is None else nn.Parameter(bias, requires_grad=False)

    def forward(self, x):
        y = x @ self.wt
        return y if self.bias is None else y + self.bias


register_component("linear", "custom_transposed_from_stack", TransposedLinear)
"""


@pytest.fixture
def stack_linear(tmp_path):
    import importlib.util
    from vibeserve_runtime.engine.registry import unregister_component

    path = tmp_path / "transposed_linear.py"
    path.write_text(CUSTOM_LINEAR)
    s = importlib.util.spec_from_file_location("vibeserve_custom_transposed_linear", path)
    s.loader.exec_module(importlib.util.module_from_spec(s))
    yield "custom_transposed_from_stack"
    unregister_component("linear", "custom_transposed_from_stack")


# qwen2 is the llama code path plus q/k/v biases (GQA 4 query / 2 KV heads); gpt2 has its own layout
@pytest.mark.parametrize(
    "arch,preset,kv_cache,stack_code",
    [("qwen2", "tiny-qwen2", "paged", False), ("gpt2", "tiny-gpt2", "contiguous", True)],
)
def test_tp2_matches_tp1_and_transformers(arch, preset, kv_cache, stack_code, request):
    model = {"arch": arch, "preset": preset, "seed": 3}
    comps = {"kv_cache": kv_cache}
    if stack_code:
        comps["linear"] = request.getfixturevalue("stack_linear")
    cfg, sd, _ = load_model_weights(model)
    with torch.no_grad():
        want = build_hf_reference(cfg, sd)(torch.tensor([PROMPT + FORCED])).logits[0, len(PROMPT) - 1 :].float()
    single = Engine.from_spec(spec(model, "1", **comps))
    with Engine.from_spec(spec(model, "2", **comps)) as tp2:
        got = tp2.teacher_forced_logits(PROMPT, FORCED)
        tokens = tp2.generate(BATCH)
        reports = tp2.rank_reports
    assert want.std() > 0.1, "degenerate reference logits"
    torch.testing.assert_close(got, single.teacher_forced_logits(PROMPT, FORCED), atol=1e-5, rtol=1e-5)
    torch.testing.assert_close(got, want, atol=2e-4, rtol=1e-4)
    assert tokens == single.generate(BATCH)

    kv_heads = cfg.get("num_key_value_heads") or cfg.get("num_attention_heads") or cfg["n_head"]
    assert [r["rank"] for r in reports] == [0, 1]
    for r in reports:  # rank 1's report comes from the worker process itself
        assert r["num_kv_heads"] == kv_heads // 2
        assert r["k_cache_shape"][-2] == kv_heads // 2
        assert r["k_cache_shape"] == reports[0]["k_cache_shape"], "ranks must share one block layout"
    assert single.kv.k_caches[0].shape[-2] == kv_heads


def test_shards_reassemble_the_full_layer():
    torch.manual_seed(0)
    w, b, x = torch.randn(12, 8), torch.randn(12), torch.randn(3, 8)
    cols = [column_parallel_weight(w, b, r, 2, unit=3) for r in range(2)]
    torch.testing.assert_close(torch.cat([x @ cw.T + cb for cw, cb in cols], dim=-1), x @ w.T + b)
    w2, b2 = torch.randn(5, 12), torch.randn(5)
    h = x @ w.T
    rows = [row_parallel_weight(w2, b2, r, 2, unit=3) for r in range(2)]
    partial = [h[:, r * 6 : (r + 1) * 6] @ rw.T + rb for r, (rw, rb) in enumerate(rows)]
    torch.testing.assert_close(sum(partial), h @ w2.T + b2)  # what the all-reduce computes


@pytest.mark.parametrize("arch,preset", [("llama", "tiny-llama"), ("gpt2", "tiny-gpt2")])
def test_every_weight_is_split_in_half(arch, preset):
    cfg, sd, _ = load_model_weights({"arch": arch, "preset": preset, "seed": 1})
    shard = shard_gpt2 if arch == "gpt2" else shard_llama
    local_cfg, local = shard(cfg, sd, 1, 2)
    split = [k for k in sd if local[k].numel() != sd[k].numel()]
    assert split and all(local[k].numel() * 2 == sd[k].numel() for k in split)
    n_split = sum(sd[k].numel() for k in split)
    assert n_split > 0.3 * sum(t.numel() for t in sd.values())  # attention + MLP, not only a few tensors
    if arch == "llama":
        assert local_cfg["num_key_value_heads"] == cfg["num_key_value_heads"] // 2


def test_tp_refuses_what_it_cannot_split():
    cfg, _, _ = load_model_weights({"arch": "llama", "preset": "tiny-llama", "config": {"num_key_value_heads": 1}})
    with pytest.raises(ValueError, match="num_key_value_heads=1 is not divisible by 2"):
        check_tp_compatible(cfg, 2)
    cfg, _, _ = load_model_weights({"arch": "mixtral", "preset": "tiny-mixtral"})
    with pytest.raises(ValueError, match="model_type 'mixtral'"):
        check_tp_compatible(cfg, 2)
    with pytest.raises(ValueError, match="components.tp': unknown choice '3'"):
        load_stack_spec(spec({"arch": "llama", "preset": "tiny-llama"}, "3"))
    model = {"arch": "llama", "preset": "tiny-llama"}
    assert load_stack_spec(spec(model, 2)).components["tp"] == "2"
    cfg, sd, meta = load_model_weights(model)
    with pytest.raises(ValueError, match="Engine.from_spec"):
        Engine.from_weights(spec(model, "2"), cfg, sd, meta)


@pytest.mark.skipif(torch.cuda.device_count() >= 2, reason="this host has 2 GPUs")
def test_tp2_on_cuda_needs_two_gpus():
    s = dict(spec({"arch": "llama", "preset": "tiny-llama"}, "2"), device="cuda")
    with pytest.raises(ValueError, match="components.tp='2' needs 2 GPUs"):
        load_stack_spec(s)


def test_startup_failure_is_reported_and_workers_are_reaped(tmp_path):
    # a valid spec whose weights the ranks cannot load: a model directory without config.json
    with pytest.raises(RuntimeError, match="tensor parallel start-up failed.*has no config.json"):
        Engine.from_spec(spec({"arch": "llama", "weights": "path", "path": str(tmp_path)}, "2"))
    import torch.distributed as dist

    assert not dist.is_initialized()


def test_multicast_stays_off():
    env = apply_safe_comm_env({"NCCL_NVLS_ENABLE": "1"})
    assert env["NCCL_NVLS_ENABLE"] == "0" and env["TORCH_SYMM_MEM_DISABLE_MULTICAST"] == "1"
    assert SAFE_COMM_ENV == {"NCCL_NVLS_ENABLE": "0", "TORCH_SYMM_MEM_DISABLE_MULTICAST": "1"}


def test_tp2_profiled_decode_runs_on_every_rank():
    """The benchmark's component probe runs one decode pass outside the runner's usual path; the
    worker rank must run it too (else rank 0 waits forever in its all-reduce), and the tokens after it
    must be those of tp=1."""
    from vibeserve_runtime.types import SamplingParams

    model = {"arch": "llama", "preset": "tiny-llama", "seed": 2}
    params = SamplingParams(max_tokens=6, ignore_eos=True)
    want = Engine.from_spec(spec(model, "1")).generate(BATCH, params)
    with Engine.from_spec(spec(model, "2")) as tp2:
        tp2.profile_components_at_next_decode()
        got = tp2.generate(BATCH, params)
        shares = tp2.component_profile
        stats = tp2.stats()
    assert got == want
    assert shares and abs(sum(shares.values()) - 1.0) < 0.01 and shares["decode_device_share_attention"] > 0
    assert stats["tensor_parallel"] == {"ranks": ["cpu", "cpu"], "kv_heads_per_rank": [1, 1]}
