"""Every CPU-runnable component combination gives the reference's greedy tokens, alone and in mixed
batches; prefix caching reuses blocks; aborts and finishes free them. Triton kernels run under
TRITON_INTERPRET=1."""

import os

os.environ.setdefault("TRITON_INTERPRET", "1")

import itertools  # noqa: E402

import pytest  # noqa: E402
import torch  # noqa: E402

from vibeserve_runtime.components.linear.int8_weight_only import quantize_per_channel  # noqa: E402
from vibeserve_runtime.engine import Engine  # noqa: E402
from vibeserve_runtime.models import load_model_weights  # noqa: E402
from vibeserve_runtime.models.hf_reference import build_hf_reference  # noqa: E402
from vibeserve_runtime.types import Request, SamplingParams  # noqa: E402

PROMPTS = [
    [5, 17, 99, 3, 250, 41, 8, 77, 123, 6, 301, 44, 45, 46, 47, 48, 49, 50, 51],
    [300, 7],
    [
        9,
        8,
        7,
        6,
        5,
        4,
        3,
        2,
        1,
        10,
        11,
        12,
        13,
        14,
        15,
        16,
        17,
        18,
        19,
        20,
        21,
        22,
        23,
        24,
        25,
        26,
        27,
        28,
        29,
        30,
        31,
        32,
        33,
        34,
        35,
    ],
    [100, 200, 300, 400, 500],
]
GREEDY = SamplingParams(max_tokens=8, ignore_eos=True)


def spec(preset="tiny-llama", arch="llama", **components):
    params = components.pop("params", {})
    return {
        "name": "t",
        "model": {"arch": arch, "preset": preset, "seed": 0},
        "components": components,
        "params": {"block_size": 8, "max_batch_size": 4, "max_num_batched_tokens": 64, "chunk_size": 16, **params},
    }


_ref_cache = {}


def hf_greedy(preset, arch):
    if preset not in _ref_cache:
        cfg, sd, _ = load_model_weights({"arch": arch, "preset": preset, "seed": 0})
        ref = build_hf_reference(cfg, sd)
        outs = []
        for p in PROMPTS:
            ids = torch.tensor([p])
            with torch.no_grad():
                for _ in range(GREEDY.max_tokens):
                    ids = torch.cat([ids, ref(ids).logits[:, -1].argmax(-1, keepdim=True)], 1)
            outs.append(ids[0, len(p) :].tolist())
        _ref_cache[preset] = outs
    return _ref_cache[preset]


COMBOS = [
    c
    for c in itertools.product(
        ["contiguous", "paged"], ["static", "continuous", "chunked_prefill"], ["sdpa", "triton_paged"]
    )
    if not (c[1] == "chunked_prefill" and c[0] != "paged") and not (c[2] == "triton_paged" and c[0] != "paged")
]


@pytest.mark.parametrize("kv_cache,scheduler,attention", COMBOS)
def test_combination_matches_hf_alone_and_batched(kv_cache, scheduler, attention):
    want = hf_greedy("tiny-llama", "llama")
    engine = Engine.from_spec(spec(kv_cache=kv_cache, scheduler=scheduler, attention=attention))
    assert engine.generate(PROMPTS, GREEDY) == want  # mixed-length batch
    assert [engine.generate([p], GREEDY)[0] for p in PROMPTS] == want  # each alone
    assert engine.stats()["kv_blocks_used"] == 0 and engine.stats()["num_running"] == 0


@pytest.mark.parametrize(
    "preset,arch,moe",
    [
        ("tiny-gpt2", "gpt2", "loop"),
        ("tiny-qwen2", "qwen2", "loop"),
        ("tiny-mixtral", "mixtral", "loop"),
        ("tiny-mixtral", "mixtral", "fused_triton"),
        ("tiny-mixtral", "mixtral", "dense_decode"),
        ("tiny-mixtral", "mixtral", "fused_tuned"),
    ],
)
def test_other_models_match_hf(preset, arch, moe):
    engine = Engine.from_spec(spec(preset, arch, moe=moe, scheduler="chunked_prefill"))
    assert engine.generate(PROMPTS, GREEDY) == hf_greedy(preset, arch)


@pytest.mark.parametrize("sampling", ["sort_based", "gumbel"])
def test_sampling_seeded_and_filtered(sampling):
    engine = Engine.from_spec(spec(sampling=sampling))
    p = SamplingParams(max_tokens=12, temperature=1.0, seed=7, ignore_eos=True)
    a = engine.generate(PROMPTS[:2], p)
    assert a == engine.generate(PROMPTS[:2], p)  # same seed, same tokens
    assert a != engine.generate(PROMPTS[:2], SamplingParams(max_tokens=12, temperature=1.0, seed=8, ignore_eos=True))
    # top_k=1 is greedy whatever the temperature; greedy requests are unaffected by sampled neighbours
    assert engine.generate(
        [PROMPTS[0]], SamplingParams(max_tokens=8, temperature=5.0, top_k=1, seed=1, ignore_eos=True)
    ) == [hf_greedy("tiny-llama", "llama")[0]]
    mixed = engine.generate(
        PROMPTS[:2], [GREEDY, SamplingParams(max_tokens=8, temperature=1.0, seed=3, ignore_eos=True)]
    )
    assert mixed[0] == hf_greedy("tiny-llama", "llama")[0]
    # every sampled token lies inside the top-p nucleus of the reference distribution
    prompt = PROMPTS[1]
    out = engine.generate([prompt], SamplingParams(max_tokens=6, temperature=1.0, top_p=0.05, seed=5, ignore_eos=True))[
        0
    ]
    logits = engine.teacher_forced_logits(prompt, out[:-1])
    for row, tok in zip(logits, out):
        probs, order = torch.softmax(row, -1).sort(descending=True)
        keep = int(((probs.cumsum(0) - probs) < 0.05).sum())
        assert tok in order[:keep].tolist()


def test_prefix_cache_reuses_blocks_and_gives_same_output():
    engine = Engine.from_spec(spec(kv_cache="paged"))
    prompt = PROMPTS[2]  # 35 tokens = 4 full blocks of 8 + 3
    first = engine.generate([prompt], GREEDY)
    hits_before = engine.stats()["prefix_cache_hit_tokens"]
    assert engine.generate([prompt], GREEDY) == first
    assert engine.stats()["prefix_cache_hit_tokens"] - hits_before == 32
    # two live requests sharing a prefix hold the shared blocks once
    engine.add_request(Request("a", prompt + [1, 2], GREEDY))
    engine.add_request(Request("b", prompt + [3, 4], GREEDY))
    engine.step()
    st = engine.stats()
    assert st["kv_blocks_used"] == 4 + 2 * 1  # 4 shared full blocks + one tail block each
    while engine.has_unfinished_requests():
        engine.step()
    assert engine.stats()["kv_blocks_used"] == 0


def test_prefix_caching_off_gives_same_output():
    on = Engine.from_spec(spec(kv_cache="paged"))
    off = Engine.from_spec(spec(kv_cache="paged", params={"prefix_caching": False}))
    for e in (on, off):
        e.generate([PROMPTS[2]], GREEDY)
    assert on.generate([PROMPTS[2]], GREEDY) == off.generate([PROMPTS[2]], GREEDY)
    assert off.stats()["prefix_cache_hit_tokens"] == 0


@pytest.mark.parametrize("kv_cache", ["contiguous", "paged"])
def test_abort_frees_blocks(kv_cache):
    engine = Engine.from_spec(spec(kv_cache=kv_cache))
    engine.add_request(Request("x", PROMPTS[0], SamplingParams(max_tokens=100, ignore_eos=True)))
    engine.add_request(Request("y", PROMPTS[1], SamplingParams(max_tokens=100, ignore_eos=True)))
    engine.step()
    engine.step()
    assert engine.stats()["kv_blocks_used"] > 0
    assert engine.abort_request("x") and not engine.abort_request("nope")
    outs = engine.step()
    assert any(o.request_id == "x" and o.finished and o.finish_reason == "abort" for o in outs)
    engine.abort_request("y")
    engine.step()
    assert engine.stats()["kv_blocks_used"] == 0 and not engine.has_unfinished_requests()


def test_preemption_under_kv_pressure_keeps_outputs():
    # 8 blocks of 8 tokens: four 7-token prompts fit at admission, but growing to 27 tokens each needs
    # 16 blocks, so sequences get preempted and recomputed
    prompts = [p[:7] for p in (PROMPTS[0], PROMPTS[2], PROMPTS[0][3:], PROMPTS[2][5:])]
    params = SamplingParams(max_tokens=20, ignore_eos=True)
    roomy = Engine.from_spec(spec(kv_cache="paged"))
    tight = Engine.from_spec(spec(kv_cache="paged", params={"kv_cache_tokens": 64, "max_model_len": 64}))
    assert tight.generate(prompts, params) == roomy.generate(prompts, params)
    assert tight.stats()["num_preemptions"] > 0 and tight.stats()["kv_blocks_used"] == 0


def test_int8_weight_only_equals_native_on_dequantized_weights():
    cfg, sd, meta = load_model_weights({"arch": "llama", "preset": "tiny-llama", "seed": 0})
    deq = {}
    for k, w in sd.items():
        if k.endswith("_proj.weight"):
            q, s = quantize_per_channel(w)
            w = q.float() * s[:, None]
        deq[k] = w
    int8 = Engine.from_weights(spec(linear="int8_weight_only"), cfg, sd, meta)
    native = Engine.from_weights(spec(), cfg, deq, meta)
    torch.testing.assert_close(
        int8.teacher_forced_logits(PROMPTS[0], [1, 2, 3]),
        native.teacher_forced_logits(PROMPTS[0], [1, 2, 3]),
        atol=1e-4,
        rtol=1e-4,
    )
    assert int8.generate(PROMPTS, GREEDY) == native.generate(PROMPTS, GREEDY)


def test_stop_conditions():
    engine = Engine.from_spec(spec())
    ref = hf_greedy("tiny-llama", "llama")[0]
    out = engine.generate([PROMPTS[0]], SamplingParams(max_tokens=8, stop_token_ids=[ref[2]], ignore_eos=True))[0]
    assert out == ref[:3]
    engine.add_request(Request("r", PROMPTS[0], SamplingParams(max_tokens=3)))
    outs = []
    while engine.has_unfinished_requests():
        outs += engine.step()
    assert outs[-1].finished and outs[-1].finish_reason == "length" and outs[-1].num_output_tokens == 3


@pytest.mark.parametrize("attention", ["sdpa", "triton_paged"])
def test_cuda_graph_padding_logic_emulated_on_cpu(attention):
    """The CUDA-graph runner's static-shape path (batches padded to buckets, padding rows writing to the
    scratch block, block tables padded to max_model_len), run eagerly on CPU."""
    from vibeserve_runtime.components.execution.cuda_graphs import CudaGraphRunner

    engine = Engine.from_spec(spec(kv_cache="paged", attention=attention, params={"max_model_len": 96}))
    engine.runner = CudaGraphRunner(
        engine.model, engine.kv, {"max_batch_size": 4, "graph_batch_sizes": [1, 4]}, "cpu", emulate=True
    )
    assert engine.runner.buckets == [1, 4]
    assert engine.generate(PROMPTS[:3], GREEDY) == hf_greedy("tiny-llama", "llama")[:3]  # 3 rows padded to 4


def test_the_engine_has_kernels_timed_for_every_step_size_at_load(monkeypatch):
    """moe=fused_tuned times its tiles when the engine is built, up to the largest step the scheduler
    can form, so no request waits for it (on CPU there is nothing to time and no tile is chosen)."""
    from vibeserve_runtime.components.moe.fused_tuned import TunedFusedMoE
    from vibeserve_runtime.kernels import moe_tile_tuning

    asked = []
    original = TunedFusedMoE.prepare_for_tokens
    monkeypatch.setattr(TunedFusedMoE, "prepare_for_tokens", lambda self, n: (asked.append(n), original(self, n))[1])
    before = dict(moe_tile_tuning._chosen)
    engine = Engine.from_spec(spec("tiny-mixtral", "mixtral", moe="fused_tuned", params={"max_num_batched_tokens": 48}))
    assert asked and set(asked) == {48}  # one call per MoE layer, each with the step bound
    assert moe_tile_tuning._chosen == before  # nothing timed without a GPU
    assert engine.generate(PROMPTS[:1], GREEDY) == hf_greedy("tiny-mixtral", "mixtral")[:1]
