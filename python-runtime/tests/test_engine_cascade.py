"""attention=triton_cascade in the engine: requests behind one system prompt (prefix caching shares its
blocks) decode the same greedy tokens as with triton_paged, with the prefix attended as a group. Triton
kernels run under TRITON_INTERPRET=1."""

import os

os.environ.setdefault("TRITON_INTERPRET", "1")

import random  # noqa: E402

import pytest  # noqa: E402

from vibeserve_runtime.components.attention import triton_cascade  # noqa: E402
from vibeserve_runtime.engine import Engine, load_stack_spec  # noqa: E402
from vibeserve_runtime.types import Request, SamplingParams  # noqa: E402

BS = 8
GREEDY = SamplingParams(max_tokens=6, temperature=0.0, ignore_eos=True, logprobs=0)


def engine(attention: str, scheduler: str = "continuous", **params) -> Engine:
    return Engine.from_spec(
        {
            "name": "shared-prefix",
            "model": {"arch": "llama", "preset": "tiny-llama", "seed": 0},
            "components": {"kv_cache": "paged", "scheduler": scheduler, "attention": attention},
            "params": {"block_size": BS, "max_batch_size": 6, "max_model_len": 128, "prefix_caching": True, **params},
        }
    )


def shared_prefix_prompts(seed: int) -> list[list[int]]:
    """Five prompts: a 3.5-block system prompt and a few tokens of their own; one unrelated prompt."""
    rng = random.Random(seed)
    system = [rng.randrange(3, 500) for _ in range(3 * BS + 4)]
    own = [system + [rng.randrange(3, 500) for _ in range(2 + 3 * i)] for i in range(5)]
    return own + [[rng.randrange(3, 500) for _ in range(11)]]


def generate(eng: Engine, prompts: list[list[int]]) -> tuple[list[list[int]], list[list[float]]]:
    """Greedy tokens of every prompt, all admitted together, and their logprobs."""
    for i, p in enumerate(prompts):
        eng.add_request(Request(str(i), p, GREEDY))
    tokens: dict[str, list[int]] = {str(i): [] for i in range(len(prompts))}
    logprobs: dict[str, list[float]] = {str(i): [] for i in range(len(prompts))}
    while eng.has_unfinished_requests():
        for o in eng.step():
            tokens[o.request_id] += o.new_token_ids
            logprobs[o.request_id] += [lp.logprob for lp in o.logprobs or []]
    return list(tokens.values()), list(logprobs.values())


def assert_same_decoding(got, want):
    """The same greedy tokens, and logprobs as close as two orders of fp32 summation allow."""
    assert got[0] == want[0]
    for g, w in zip(got[1], want[1], strict=True):
        assert g == pytest.approx(w, abs=1e-5)


@pytest.fixture
def planned_prefixes(monkeypatch):
    """The prefix lengths of every step's plan."""
    seen: list[list[int]] = []
    original = triton_cascade.plan_shared_prefix

    def spy(*args):
        plan = original(*args)
        seen.append(plan.prefix_lens.tolist())
        return plan

    monkeypatch.setattr(triton_cascade, "plan_shared_prefix", spy)
    return seen


@pytest.mark.parametrize("params", [{}, {"decode_steps": 4}, {"async_scheduling": True}])
def test_cascade_decodes_the_paged_kernels_tokens(planned_prefixes, params):
    prompts = shared_prefix_prompts(0)
    want = generate(engine("triton_paged", **params), prompts)
    assert_same_decoding(generate(engine("triton_cascade", **params), prompts), want)
    # the system prompt's three full blocks were attended together by the five requests behind it
    assert any(sorted(lens)[-5:] == [3 * BS] * 5 for lens in planned_prefixes), planned_prefixes
    # planned once per decode step, not once per layer
    assert len(planned_prefixes) == GREEDY.max_tokens - 1


def test_mixed_steps_send_their_decoding_sequences_to_the_cascade_kernel(planned_prefixes, monkeypatch):
    """Chunked prefill of 8 tokens per prompt per step: later prompts are still prefilling while the
    first ones decode, and those decoding rows attend through the cascade kernel, not SDPA."""
    splits = []
    original = triton_cascade.split_decode_rows
    monkeypatch.setattr(triton_cascade, "split_decode_rows", lambda meta: splits.append(original(meta)) or splits[-1])
    prompts = shared_prefix_prompts(2)
    params = {"chunk_size": 8, "max_num_batched_tokens": 24}
    want = generate(engine("triton_paged", "chunked_prefill", **params), prompts)
    assert_same_decoding(generate(engine("triton_cascade", "chunked_prefill", **params), prompts), want)
    mixed = [s for s in splits if s is not None]
    assert mixed and all(len(s.decode_seqs) and len(s.other_tokens) for s in mixed)
    # and decoding sequences behind the system prompt shared its leading blocks within a mixed step
    decoding = {len(s.decode_seqs) for s in mixed}
    assert any(len(lens) in decoding and sum(n > 0 for n in lens) >= 2 for lens in planned_prefixes), planned_prefixes


def test_cascade_through_the_cuda_graph_runners_padded_batches(planned_prefixes):
    """The CUDA-graph runner's static-shape path (batches padded to a bucket with scratch rows, block
    tables as wide as max_model_len), run eagerly on CPU: padding rows share the scratch block."""
    from vibeserve_runtime.components.execution.cuda_graphs import CudaGraphRunner

    prompts = shared_prefix_prompts(1)
    want = generate(engine("triton_paged"), prompts)
    cascade = engine("triton_cascade")
    cascade.runner = CudaGraphRunner(
        cascade.model, cascade.kv, {"max_batch_size": 8, "graph_batch_sizes": [1, 8]}, "cpu", emulate=True
    )
    assert_same_decoding(generate(cascade, prompts), want)
    assert any(len(lens) == 8 and sorted(lens)[-5:] == [3 * BS] * 5 for lens in planned_prefixes), planned_prefixes


@pytest.mark.parametrize(
    "components,params,field",
    [
        ({"kv_cache": "contiguous"}, {}, "components.kv_cache"),
        ({}, {"prefix_caching": False}, "params.prefix_caching"),
        ({"execution": "torch_compile"}, {}, "components.execution"),
    ],
)
def test_cascade_needs_prefix_caching_in_the_paged_cache_outside_torch_compile(components, params, field):
    spec = {
        "name": "t",
        "model": {"arch": "llama", "preset": "tiny-llama"},
        "components": {"attention": "triton_cascade", **components},
        "params": params,
        "device": "cpu",
    }
    with pytest.raises(ValueError, match=f"{field}.*cascade-kernel-needs-shared-blocks"):
        load_stack_spec(spec)
    assert load_stack_spec({**spec, "components": {"attention": "triton_cascade"}, "params": {}})
