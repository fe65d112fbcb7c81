"""GPU validation (skipped without CUDA): every component, including the GPU-only ones, gives the
reference's greedy tokens on the device. Run with TRITON_INTERPRET unset:
    TRITON_INTERPRET=0 pytest python-runtime/tests/test_engine_gpu.py python-runtime/tests/test_kernels_triton.py
"""

import itertools

import pytest
import torch

from vibeserve_runtime.engine import Engine
from vibeserve_runtime.models import load_model_weights
from vibeserve_runtime.models.hf_reference import build_hf_reference
from vibeserve_runtime.types import SamplingParams

pytestmark = pytest.mark.skipif(not torch.cuda.is_available(), reason="needs a CUDA GPU")

PROMPTS = [
    [5, 17, 99, 3, 250, 41, 8, 77, 123, 6, 301, 44, 45, 46, 47, 48, 49, 50, 51],
    [300, 7],
    list(range(9, 60)),
    [100, 200, 300, 400, 500],
]
GREEDY = SamplingParams(max_tokens=10, ignore_eos=True)
_refs = {}


def reference(preset, arch):
    if preset not in _refs:
        cfg, sd, _ = load_model_weights({"arch": arch, "preset": preset, "seed": 0})
        ref = build_hf_reference(cfg, sd).cuda()
        outs = []
        for p in PROMPTS:
            ids = torch.tensor([p], device="cuda")
            with torch.no_grad():
                for _ in range(GREEDY.max_tokens):
                    ids = torch.cat([ids, ref(ids).logits[:, -1].argmax(-1, keepdim=True)], 1)
            outs.append(ids[0, len(p) :].tolist())
        _refs[preset] = outs
    return _refs[preset]


def engine(preset="tiny-llama", arch="llama", dtype="float32", params=None, **components):
    return Engine.from_spec(
        {
            "name": "gpu",
            "device": "cuda",
            "model": {"arch": arch, "preset": preset, "seed": 0, "dtype": dtype},
            "components": components,
            "params": {
                "block_size": 16,
                "max_batch_size": 8,
                "max_num_batched_tokens": 256,
                "chunk_size": 32,
                "graph_batch_sizes": [1, 2, 4, 8],
                **(params or {}),
            },
        }
    )


@pytest.mark.parametrize(
    "attention,execution,scheduler",
    list(
        itertools.product(
            ["sdpa", "triton_paged"], ["eager", "cuda_graphs", "torch_compile"], ["continuous", "chunked_prefill"]
        )
    ),
)
def test_gpu_combinations_match_hf(attention, execution, scheduler):
    torch.backends.cuda.matmul.allow_tf32 = False
    e = engine(kv_cache="paged", attention=attention, execution=execution, scheduler=scheduler)
    want = reference("tiny-llama", "llama")
    assert e.generate(PROMPTS, GREEDY) == want
    assert [e.generate([p], GREEDY)[0] for p in PROMPTS] == want


@pytest.mark.parametrize(
    "preset,arch,moe",
    [
        ("tiny-gpt2", "gpt2", "loop"),
        ("tiny-mixtral", "mixtral", "fused_triton"),
        ("tiny-mixtral", "mixtral", "dense_decode"),
        ("tiny-mixtral", "mixtral", "fused_tuned"),
        ("tiny-qwen2", "qwen2", "loop"),
    ],
)
def test_gpu_models_with_graphs(preset, arch, moe):
    e = engine(preset, arch, kv_cache="paged", attention="triton_paged", execution="cuda_graphs", moe=moe)
    assert e.generate(PROMPTS, GREEDY) == reference(preset, arch)


def _agreement(a, b):
    return sum(x == y for ra, rb in zip(a, b) for x, y in zip(ra, rb)) / sum(len(r) for r in a)


def test_bf16_graphs_close_to_fp32_reference():
    e = engine(dtype="bfloat16", kv_cache="paged", attention="triton_paged", execution="cuda_graphs")
    ref = engine(kv_cache="paged")
    tf = e.teacher_forced_logits(PROMPTS[0], [1, 2, 3])
    tf_ref = ref.teacher_forced_logits(PROMPTS[0], [1, 2, 3])
    assert (tf - tf_ref).abs().max() < 0.05 * tf_ref.abs().max()


@pytest.mark.parametrize("linear", ["int8_weight_only", "fp8"])
def test_quantized_linear_close_to_native(linear):
    if linear == "fp8" and torch.cuda.get_device_capability() < (8, 9):
        pytest.skip("fp8 needs compute capability >= 8.9")
    q = engine(
        dtype="bfloat16",
        kv_cache="paged",
        attention="triton_paged",
        execution="cuda_graphs",
        linear=linear,
        params={"max_model_len": 256},
    )
    ref = engine(dtype="bfloat16", kv_cache="paged", params={"max_model_len": 256})
    a, b = q.teacher_forced_logits(PROMPTS[2], [1, 2, 3]), ref.teacher_forced_logits(PROMPTS[2], [1, 2, 3])
    rel = ((a - b).norm() / b.norm()).item()
    assert rel < (0.03 if linear == "int8_weight_only" else 0.08), rel
    assert _agreement(q.generate(PROMPTS, GREEDY), ref.generate(PROMPTS, GREEDY)) > 0.5


@pytest.mark.parametrize("preset,arch", [("tiny-llama", "llama"), ("tiny-gpt2", "gpt2")])
def test_gpu_compiled_decode_graphs_match_hf(preset, arch):
    """params.compile_decode: the torch.compile'd step (custom ops for the paged kernel and the cache
    store) captured in CUDA graphs."""
    torch.backends.cuda.matmul.allow_tf32 = False
    e = engine(
        preset,
        arch,
        params={"compile_decode": True},
        kv_cache="paged",
        attention="triton_paged",
        execution="cuda_graphs",
    )
    assert e.generate(PROMPTS, GREEDY) == reference(preset, arch)


@pytest.mark.parametrize(
    "preset,arch,moe", [("tiny-llama", "llama", "loop"), ("tiny-mixtral", "mixtral", "fused_triton")]
)
def test_gpu_multi_step_decode_in_graphs_matches_hf(preset, arch, moe):
    """params.decode_steps through captured graphs: each replay's input ids come from the previous
    replay's sampled tokens on the device; sequences end at different steps."""
    plist = [SamplingParams(max_tokens=m, ignore_eos=True) for m in (10, 3, 7, 10)]
    e = engine(
        preset,
        arch,
        params={"decode_steps": 4},
        kv_cache="paged",
        attention="triton_paged",
        execution="cuda_graphs",
        moe=moe,
    )
    assert e.decode_steps == 4
    want = [r[: p.max_tokens] for r, p in zip(reference(preset, arch), plist)]
    assert e.generate(PROMPTS, plist) == want


@pytest.mark.parametrize("decode_steps", [1, 4])
def test_gpu_decode_profile_times_the_forward_with_cuda_events(decode_steps):
    """The decode-step profile on a GPU: the forward's span comes from CUDA events, and host work
    added around it (a slowed scheduler) shows as host share."""
    import time

    from vibeserve_runtime.engine.step_profile import host_share_between

    e = engine(params={"decode_steps": decode_steps}, kv_cache="paged", execution="cuda_graphs")
    e.generate(PROMPTS, GREEDY)  # warm-up
    before = e.enable_profile().snapshot()
    e.generate(PROMPTS, GREEDY)
    plain = host_share_between(before, e.profile.snapshot())
    assert e.profile.forward_s > 0 and 0 <= plain["decode_host_share"] < 1, plain
    schedule = e.scheduler.schedule
    e.scheduler.schedule = lambda: (time.sleep(0.01), schedule())[1]
    before = e.profile.snapshot()
    e.generate(PROMPTS, GREEDY)
    slowed = host_share_between(before, e.profile.snapshot())
    assert slowed["decode_host_share"] > max(0.5, plain["decode_host_share"]), (plain, slowed)


@pytest.mark.parametrize("attention", ["sdpa", "triton_paged"])
def test_gpu_component_profile_attributes_the_kernels_a_replay_runs(attention):
    """engine/component_profile.py on a GPU: the kernels of one decode forward, by component, from
    CUDA kernel times; an attention that launches one kernel per layer takes a smaller share than
    the gather-and-SDPA path, and the probe leaves the tokens unchanged."""
    e = engine(kv_cache="paged", attention=attention, execution="cuda_graphs")
    e.profile_components_at_next_decode()
    assert e.generate(PROMPTS, GREEDY) == reference("tiny-llama", "llama")
    s = {k.removeprefix("decode_device_share_"): v for k, v in e.component_profile.items()}
    assert set(s) == {"attention", "linear", "other"} and abs(sum(s.values()) - 1) < 1e-3, s
    assert s["attention"] > 0.02 and s["linear"] > 0.02, s
    _shares[attention] = s["attention"]
    if len(_shares) == 2:
        assert _shares["triton_paged"] < _shares["sdpa"], _shares


_shares: dict = {}


def test_gpu_component_profile_counts_triton_launched_kernels():
    """int8_weight_only's matmuls are Triton kernels started by Triton's own launcher: they still
    count as linear time (attributed by when they ran, not by runtime-call correlation)."""
    e = engine(
        dtype="bfloat16",
        kv_cache="paged",
        attention="triton_paged",
        execution="cuda_graphs",
        linear="int8_weight_only",
        params={"max_model_len": 256},
    )
    e.profile_components_at_next_decode()
    e.generate(PROMPTS, GREEDY)
    assert e.component_profile["decode_device_share_linear"] > 0.1, e.component_profile


@pytest.mark.parametrize("decode_steps", [1, 4])
def test_gpu_async_scheduling_in_graphs_matches_hf(decode_steps):
    """params.async_scheduling through captured graphs and the paged kernel: step N+1's input ids are
    copied on the device from step N's tokens before the host reads them; sequences end at different
    steps (max_tokens and a stop token read one step late)."""
    ref = reference("tiny-llama", "llama")
    stop = ref[0][4]
    plist = [SamplingParams(max_tokens=10, stop_token_ids=[stop], ignore_eos=True)] + [
        SamplingParams(max_tokens=m, ignore_eos=True) for m in (3, 7, 10)
    ]
    e = engine(
        params={"async_scheduling": True, "decode_steps": decode_steps},
        kv_cache="paged",
        attention="triton_paged",
        execution="cuda_graphs",
        scheduler="chunked_prefill",
    )
    assert e.async_scheduling and e.block_tables is not None
    want = [ref[0][: ref[0].index(stop) + 1]] + [r[: p.max_tokens] for r, p in zip(ref[1:], plist[1:])]
    assert e.generate(PROMPTS, plist) == want
    assert e.stats()["kv_blocks_used"] == 0


def test_gpu_async_decode_steps_never_synchronize_the_device():
    """Greedy decode steps under async scheduling launch the next step without a blocking copy or a stream
    synchronization (torch's sync debug mode raises on either); the host waits only on the event of the
    step it reads, which that mode does not count."""
    from vibeserve_runtime.types import Request

    e = engine(
        params={"async_scheduling": True},
        kv_cache="paged",
        attention="triton_paged",
        execution="cuda_graphs",
        scheduler="chunked_prefill",
    )
    e.generate(PROMPTS, GREEDY)  # warm-up: kernels compiled, pinned buffers cached
    for i, p in enumerate(PROMPTS):
        e.add_request(Request(f"s{i}", p, SamplingParams(max_tokens=40, ignore_eos=True)))
    while e.scheduler.waiting or not all(s.num_sampled > 1 for s in e.scheduler.running):
        e.step()  # prefills, then the first decodes
    torch.cuda.set_sync_debug_mode("error")
    try:
        for _ in range(20):
            e.step()
    finally:
        torch.cuda.set_sync_debug_mode("default")
    while e.has_unfinished_requests():
        e.step()
