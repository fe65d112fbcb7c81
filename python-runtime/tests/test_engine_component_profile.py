"""The component profile (engine/component_profile.py): one decode forward's time split by component.
A slowed component takes the largest share, expert linears count as the MoE block's, the probe
leaves the generated tokens unchanged, and the CUDA-graph runner profiles the same static-shape
forward it replays."""

import os

os.environ.setdefault("TRITON_INTERPRET", "1")

import time  # noqa: E402

import pytest  # noqa: E402

from vibeserve_runtime.engine import Engine  # noqa: E402

from test_engine_components import GREEDY, PROMPTS, spec  # noqa: E402


def probed(engine) -> dict:
    engine.profile_components_at_next_decode()
    engine.generate(PROMPTS, GREEDY)
    assert not engine._profile_components
    return engine.component_profile


def shares(profile: dict) -> dict:
    return {k.removeprefix("decode_device_share_"): v for k, v in profile.items()}


def slow_attention(engine, seconds: float) -> None:
    for layer in engine.model.attention_layers:
        fast = layer.attn

        def slow(*args, fast=fast):
            time.sleep(seconds)
            return fast(*args)

        layer.attn = slow


def test_shares_cover_the_forward_and_follow_a_slowed_component():
    base = shares(probed(Engine.from_spec(spec())))
    assert set(base) == {"attention", "linear", "other"}, base
    assert abs(sum(base.values()) - 1) < 1e-3 and all(0 <= v <= 1 for v in base.values())
    slowed = Engine.from_spec(spec())
    slow_attention(slowed, 0.01)
    slow = shares(probed(slowed))
    assert slow["attention"] > 0.8 and slow["attention"] > base["attention"] + 0.2, (base, slow)
    assert slow["linear"] < base["linear"]


@pytest.mark.parametrize("moe", ["loop", "fused_triton", "dense_decode", "fused_tuned"])
def test_expert_linears_count_as_the_moe_block(moe):
    engine = Engine.from_spec(spec("tiny-mixtral", "mixtral", moe=moe))
    s = shares(probed(engine))
    assert set(s) == {"attention", "linear", "moe", "other"}, s
    assert s["moe"] > 0 and abs(sum(s.values()) - 1) < 1e-3  # nested expert linears would push the sum past 1


def test_the_probe_changes_no_tokens_and_ends_after_one_step():
    plain = Engine.from_spec(spec(params={"decode_steps": 4}))
    expected = plain.generate(PROMPTS, GREEDY)
    engine = Engine.from_spec(spec(params={"decode_steps": 4}))
    engine.profile_components_at_next_decode()
    assert engine.generate(PROMPTS, GREEDY) == expected
    assert engine.component_profile and not engine._profile_components
    assert engine.generate(PROMPTS, GREEDY) == expected  # later steps run multi-step again, unprofiled


def test_the_graph_runner_profiles_the_forward_it_replays():
    from vibeserve_runtime.components.execution.cuda_graphs import CudaGraphRunner

    engine = Engine.from_spec(spec(kv_cache="paged", params={"max_model_len": 96}))
    expected = engine.generate(PROMPTS[:3], GREEDY)
    engine.runner = CudaGraphRunner(
        engine.model, engine.kv, {"max_batch_size": 4, "graph_batch_sizes": [1, 4]}, "cpu", emulate=True
    )
    calls = []
    fn = engine.runner.fn
    engine.runner.fn = lambda ids, meta: (calls.append(ids.shape[0]), fn(ids, meta))[1]
    engine.profile_components_at_next_decode()
    assert engine.generate(PROMPTS[:3], GREEDY) == expected
    assert engine.component_profile and calls[:2] == [4, 4]  # the profiled forward, then the step: 3 rows padded to 4
