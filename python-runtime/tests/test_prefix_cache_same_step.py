"""Requests that arrive together behind one system prompt compute it once: the first one's prefill
blocks are published when its step is scheduled (PagedKVCache.on_scheduled), so the others admitted
into the same step reuse them, and their attention reads that K/V in the same forward. The tokens
are exactly those of a run without prefix caching."""

import random

import pytest

from vibeserve_runtime.engine.engine import Engine
from vibeserve_runtime.types import SamplingParams

BS = 16


def engine(scheduler: str, prefix_caching: bool, **params) -> Engine:
    return Engine.from_spec(
        {
            "name": "same-step-prefix",
            "model": {"arch": "llama", "preset": "tiny-llama", "seed": 0},
            "components": {"kv_cache": "paged", "scheduler": scheduler},
            "params": {
                "max_model_len": 256,
                "max_batch_size": 8,
                "block_size": BS,
                "prefix_caching": prefix_caching,
                **params,
            },
            "device": "cpu",
        }
    )


def run_together(eng: Engine, prompts: list[list[int]], max_tokens: int = 6) -> list[list[int]]:
    return eng.generate(prompts, SamplingParams(max_tokens=max_tokens, temperature=0.0, ignore_eos=True))


@pytest.mark.parametrize(
    "scheduler,params,hit_blocks",
    [
        ("continuous", {}, 3 * 3),  # each of the three later requests reuses the three prefix blocks
        # 32-token chunks: the 2nd request reuses the 1st one's two blocks of this step and computes the
        # third itself, which the 3rd and 4th then reuse
        ("chunked_prefill", {"chunk_size": 32, "max_num_batched_tokens": 256}, 2 + 3 + 3),
    ],
)
def test_requests_admitted_together_share_the_prefix_their_step_computes(scheduler, params, hit_blocks):
    rng = random.Random(0)
    system = [rng.randrange(3, 200) for _ in range(3 * BS)]  # three full blocks
    prompts = [system + [rng.randrange(3, 200) for _ in range(5 + i)] for i in range(4)]
    cached = engine(scheduler, True, **params)
    got = run_together(cached, prompts)
    assert cached.kv.hit_tokens == hit_blocks * BS  # although all four started in one step
    assert got == run_together(engine(scheduler, False, **params), prompts)


def test_a_chunk_still_to_come_is_not_shared():
    """Chunked prefill of 32 tokens per step: a prompt's later blocks are published only with the
    step that computes them, never ahead of it."""
    rng = random.Random(1)
    system = [rng.randrange(3, 200) for _ in range(4 * BS)]
    prompts = [system + [7, 8, 9], system + [10, 11]]
    cached = engine("chunked_prefill", True, chunk_size=32, max_num_batched_tokens=40)
    got = run_together(cached, prompts)
    assert got == run_together(engine("chunked_prefill", False, chunk_size=32, max_num_batched_tokens=40), prompts)
