"""Tensor parallelism over NCCL on two GPUs (skipped on hosts with fewer): tp=2 must reproduce tp=1 on
one GPU with the execution and attention choices a search combines with it, CUDA graphs included
(their capture records the all-reduces), and each rank must hold half of the KV heads."""

import pytest
import torch

from vibeserve_runtime.engine import Engine

pytestmark = pytest.mark.skipif(torch.cuda.device_count() < 2, reason="needs 2 CUDA GPUs")

PROMPT = [5, 17, 99, 3, 250, 41, 8, 77, 123, 6, 301]
FORCED = [12, 400, 7, 19, 33]
BATCH = [PROMPT, [1, 2, 3], [300, 200, 100, 50, 25], list(range(40, 90))]


def spec(model, tp, **components):
    return {
        "name": f"tp{tp}",
        "device": "cuda",
        "model": model,
        "components": {"tp": tp, **components},
        "params": {"block_size": 16, "max_batch_size": 8, "max_model_len": 256},
    }


@pytest.mark.parametrize(
    "components",
    [
        {"execution": "eager"},
        {"execution": "cuda_graphs"},
        {"execution": "cuda_graphs", "attention": "triton_paged"},
    ],
    ids=lambda c: "+".join(c.values()),
)
def test_tp2_nccl_matches_tp1(components):
    model = {"arch": "qwen2", "preset": "tiny-qwen2", "seed": 3, "dtype": "float32"}
    single = Engine.from_spec(spec(model, "1", **components))
    want_logits, want_tokens = single.teacher_forced_logits(PROMPT, FORCED), single.generate(BATCH)
    del single
    with Engine.from_spec(spec(model, "2", **components)) as tp2:
        got = tp2.teacher_forced_logits(PROMPT, FORCED)
        tp2.profile_components_at_next_decode()  # one pass outside the graphs, on both ranks
        tokens = tp2.generate(BATCH)
        shares = tp2.component_profile
        reports = tp2.rank_reports
    assert want_logits.std() > 0.1, "degenerate reference logits"
    torch.testing.assert_close(got, want_logits, atol=2e-4, rtol=1e-4)
    assert tokens == want_tokens
    assert shares and shares["decode_device_share_attention"] > 0
    assert [r["device"] for r in reports] == ["cuda:0", "cuda:1"]
    assert all(r["num_kv_heads"] == 1 for r in reports)  # tiny-qwen2 has 2 KV heads


def test_tp2_bf16_1b_greedy_agrees():
    """A real-sized shape in bf16: the all-reduce sums in another order, so logits agree to bf16
    tolerance rather than exactly."""
    model = {"arch": "llama", "preset": "llama3.2-1b-shape", "seed": 0, "dtype": "bfloat16"}
    comps = {"execution": "cuda_graphs", "attention": "triton_paged"}
    single = Engine.from_spec(spec(model, "1", **comps))
    want = single.teacher_forced_logits(PROMPT, FORCED).float()
    del single
    torch.cuda.empty_cache()
    with Engine.from_spec(spec(model, "2", **comps)) as tp2:
        got = tp2.teacher_forced_logits(PROMPT, FORCED).float()
    assert (got.argmax(-1) == want.argmax(-1)).float().mean() >= 0.8
    assert (got - want).abs().max() < 0.1 * want.abs().max()
