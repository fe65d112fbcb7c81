"""CUDA graphs captured only up to the largest decode batch a check or bench can send: the buckets
kept, the eager fallback above them, the option's path from Engine.from_spec (never the spec), and
the caps the bench and check verbs pass. The graph runner runs emulated on CPU."""

import os

os.environ.setdefault("TRITON_INTERPRET", "1")

import pytest  # noqa: E402
import torch  # noqa: E402

from test_engine_components import GREEDY, PROMPTS, hf_greedy, spec  # noqa: E402
from vibeserve_runtime.bench.workload import Workload  # noqa: E402
from vibeserve_runtime.cli.check_cmd import _largest_batch  # noqa: E402
from vibeserve_runtime.cli.offline_bench import capture_cap_for  # noqa: E402
from vibeserve_runtime.components.execution import cuda_graphs  # noqa: E402
from vibeserve_runtime.components.execution.cuda_graphs import CudaGraphRunner  # noqa: E402
from vibeserve_runtime.engine import Engine, builtin_components  # noqa: E402
from vibeserve_runtime.engine.registry import register_component, unregister_component  # noqa: E402
from vibeserve_runtime.types import SamplingParams  # noqa: E402

BUCKETS = {"max_batch_size": 8, "graph_batch_sizes": [1, 2, 4, 8]}


def _engine():
    return Engine.from_spec(spec(kv_cache="paged", params={"max_model_len": 96, "max_batch_size": 8}))


@pytest.mark.parametrize(
    "cap,kept", [(None, [1, 2, 4, 8]), (1, [1]), (2, [1, 2]), (3, [1, 2, 4]), (8, [1, 2, 4, 8]), (100, [1, 2, 4, 8])]
)
def test_buckets_stop_at_the_smallest_one_that_holds_the_cap(cap, kept):
    e = _engine()
    runner = CudaGraphRunner(e.model, e.kv, BUCKETS, "cpu", emulate=True, capture_cap=cap)
    assert runner.buckets == runner.captured_buckets == kept
    assert runner.capture_s == 0.0  # emulated: nothing captured
    assert runner.inputs.shape[1] == kept[-1]  # static buffers sized for the largest kept bucket


def _recording(engine):
    """The engine's runner, noting each forward's (decode?, rows, logits)."""
    run, seen = engine.runner.run, []

    def recording(input_ids, meta, sample_idx):
        logits = run(input_ids, meta, sample_idx)
        seen.append((bool(meta.is_decode), input_ids.shape[0], logits.clone()))
        return logits

    engine.runner.run = recording
    return seen


def test_a_decode_batch_above_the_cap_runs_eagerly_with_identical_logits():
    eager, capped = _engine(), _engine()
    capped.runner = CudaGraphRunner(capped.model, capped.kv, BUCKETS, "cpu", emulate=True, capture_cap=2)
    assert capped.runner.buckets == [1, 2]
    padded = []
    stage = capped.runner._stage
    capped.runner._stage = lambda ids, meta: (padded.append(ids.shape[0]), stage(ids, meta))[1]
    want_seen, got_seen = _recording(eager), _recording(capped)
    prompts = PROMPTS[:3]
    assert capped.generate(prompts, GREEDY) == eager.generate(prompts, GREEDY) == hf_greedy("tiny-llama", "llama")[:3]
    assert not padded  # every decode batch held 3 sequences: none went through the buckets
    assert [(d, n) for d, n, _ in got_seen] == [(d, n) for d, n, _ in want_seen]
    assert any(d and n == 3 for d, n, _ in got_seen)
    for (_, _, got), (_, _, want) in zip(got_seen, want_seen):
        assert torch.equal(got, want)  # the eager fallback is the eager runner's very forward


def test_batches_shrinking_into_the_kept_buckets_replay_them():
    engine = _engine()
    engine.runner = CudaGraphRunner(engine.model, engine.kv, BUCKETS, "cpu", emulate=True, capture_cap=2)
    padded = []
    stage = engine.runner._stage
    engine.runner._stage = lambda ids, meta: (padded.append(ids.shape[0]), stage(ids, meta))[1]
    plist = [SamplingParams(max_tokens=m, ignore_eos=True) for m in (8, 3, 5)]
    want = [w[: p.max_tokens] for w, p in zip(hf_greedy("tiny-llama", "llama")[:3], plist)]
    assert engine.generate(PROMPTS[:3], plist) == want
    assert set(padded) == {1, 2}  # 3 running: eager; then 2 and 1 through the kept buckets


@pytest.fixture
def graphs_on_cpu(monkeypatch):
    """execution=cuda_graphs' own factory (builtin_components._cuda_graphs), its runner emulated."""

    class Emulated(CudaGraphRunner):
        def __init__(self, *args, **kwargs):
            super().__init__(*args, emulate=True, **kwargs)

    monkeypatch.setattr(cuda_graphs, "CudaGraphRunner", Emulated)
    register_component("execution", "custom_graphs_on_cpu", builtin_components._cuda_graphs)
    yield spec(execution="custom_graphs_on_cpu", params=BUCKETS)
    unregister_component("execution", "custom_graphs_on_cpu")


def test_the_cap_reaches_the_runner_from_engine_construction_not_from_the_spec(graphs_on_cpu):
    capped = Engine.from_spec(graphs_on_cpu, capture_cap=3)
    full = Engine.from_spec(graphs_on_cpu)
    assert capped.runner.captured_buckets == [1, 2, 4] and full.runner.captured_buckets == [1, 2, 4, 8]
    assert capped.spec == full.spec and "capture_cap" not in capped.spec.params
    assert capped.generate(PROMPTS, GREEDY) == hf_greedy("tiny-llama", "llama")


@pytest.mark.parametrize(
    "workload,cap",
    [
        ({"num_prompts": 16}, 16),  # all at once: every request in flight
        ({"num_prompts": 64, "max_concurrency": 16}, 16),
        ({"num_prompts": 4, "max_concurrency": 16}, 4),  # a pass never has more than its requests
        ({"num_prompts": 100, "request_rate": 5.0}, 100),  # arrivals spread out: no bound below n
    ],
)
def test_the_bench_cap_is_the_most_requests_in_flight(workload, cap):
    assert capture_cap_for(Workload.from_dict(workload)) == cap


def test_the_check_cap_is_its_largest_batch():
    probe = {"prompts": [[5]] * 3, "fillers": [([6], 4), ([7], 2)]}
    assert _largest_batch(probe) == 5  # the mixed batch: prompts and fillers
    assert _largest_batch({**probe, "speculation": [{}] * 7}) == 7  # all speculation cases at once
    assert _largest_batch({**probe, "structured_output": [{}] * 6}) == 6
