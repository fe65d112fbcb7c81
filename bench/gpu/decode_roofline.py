"""Decode and prefill speed of the engine against the hardware's own limits, measured in one run.

Figures (each fails soft: an error is recorded and the run goes on):
  bandwidth          large device-to-device copy and a read-only reduction; the higher read rate is the roofline's
  matmul_peak        bf16 8192^3 matmul, TFLOP/s
  llama8b_decode_b1  Llama-3-8B shape, batch 1: tokens/s vs non-embedding weight bytes / bandwidth,
                     both a device loop (CUDA graph of the whole step, argmax fed back on device, no host sync)
                     and the engine's own step() loop
  gpt2_decode_b1     GPT-2 124M, batch 1, the same two ways
  llama8b_prefill    8 x 1024-token prompts in one pass: model FLOP/s vs matmul peak
  llama8b_batch256   256 requests of 1024 prompt / 128 output tokens through the engine (continuous batching,
                     paged KV + Triton decode kernel + CUDA graphs): decode step time vs (weights + KV) / bandwidth,
                     output throughput, KV memory efficiency
  hf_generate_gpt2   naive transformers generate of GPT-2 124M, batch 1
  gpt2_async_overlap     decode step time without and with async scheduling (params.async_scheduling: the host
                         builds step N+1 while the GPU runs step N), GPT-2 124M, 256 requests of 896 prompt /
  llama8b_async_overlap  128 output tokens (its 1024-position context), and the 8B shape at 256 x (1024/128); the
                         generic stack's components; median step at full batch, the decode profile's host share,
                         and whether both modes gave the same tokens

Usage: python bench/gpu/decode_roofline.py --out bench/results/decode_roofline_h100.json
       python bench/gpu/decode_roofline.py --only gpt2_async_overlap,llama8b_async_overlap --out OUT.json
       python bench/gpu/decode_roofline.py --smoke --out /tmp/smoke.json    (tiny shapes; also runs on CPU)
"""

from __future__ import annotations

import argparse
import gc
import json
import shlex
import sys
import time
import traceback
from pathlib import Path

import torch

ROOT = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(ROOT / "python-runtime"))

from vibeserve_runtime.components.attention.metadata import AttentionMetadata  # noqa: E402
from vibeserve_runtime.engine import Engine, load_stack_spec  # noqa: E402
from vibeserve_runtime.engine.batch import build_batch  # noqa: E402
from vibeserve_runtime.engine.engine import model_parts  # noqa: E402
from vibeserve_runtime.engine.sequence import Sequence  # noqa: E402
from vibeserve_runtime.engine.step_profile import host_share_between  # noqa: E402
from vibeserve_runtime.models import build_model, load_model_weights  # noqa: E402
from vibeserve_runtime.types import Request, SamplingParams  # noqa: E402


# --- timing --------------------------------------------------------------------------------
def sync(dev):
    if dev.type == "cuda":
        torch.cuda.synchronize(dev)


def timed(fn, dev, iters: int, warmup: int = 2) -> float:
    """Seconds per call (median of `iters` single-call timings after warm-up)."""
    for _ in range(warmup):
        fn()
    sync(dev)
    ts = []
    for _ in range(iters):
        t = time.perf_counter()
        fn()
        sync(dev)
        ts.append(time.perf_counter() - t)
    return sorted(ts)[len(ts) // 2]


def weight_bytes(model) -> int:
    """Bytes of weights read per decode step: every weight except the embedding tables (one row is
    looked up), but including the lm_head even when it is tied to the embedding."""
    embed = {id(getattr(model, n)) for n in ("embed", "wte", "wpe") if hasattr(model, n)}
    seen, total = set(), 0
    tensors = list(model.named_parameters(remove_duplicate=False)) + list(model.named_buffers())
    for name, t in tensors:
        if id(t) in seen or name.endswith(("cos", "sin")) or (id(t) in embed and name != "lm_head"):
            continue
        seen.add(id(t))
        total += t.numel() * t.element_size()
    return total


def param_count(model) -> int:
    seen, n = set(), 0
    for t in model.parameters():
        if id(t) not in seen:
            seen.add(id(t))
            n += t.numel()
    return n


# --- figures -------------------------------------------------------------------------------
def bandwidth(dev, smoke):
    n = (64 << 20) if smoke else (4 << 30)  # bytes per buffer
    a = torch.empty(n // 2, dtype=torch.bfloat16, device=dev).normal_()
    b = torch.empty_like(a)
    t_copy = timed(lambda: b.copy_(a), dev, 10)
    t_read = timed(lambda: a.sum(dtype=torch.float32), dev, 10)
    copy_bw = 2 * n / t_copy  # read + write traffic
    read_bw = n / t_read
    return {
        "copy_bytes_per_s": copy_bw,
        "reduce_read_bytes_per_s": read_bw,
        "read_bytes_per_s": max(copy_bw, read_bw),
        "buffer_bytes": n,
        "note": "roofline uses the higher of copy traffic rate and read-only reduction rate",
    }


def matmul_peak(dev, smoke):
    n = 1024 if smoke else 8192
    dtype = torch.bfloat16 if dev.type == "cuda" else torch.float32
    a = torch.randn(n, n, device=dev, dtype=dtype)
    b = torch.randn(n, n, device=dev, dtype=dtype)
    t = timed(lambda: a @ b, dev, 5 if smoke else 20)
    return {"flop_per_s": 2 * n**3 / t, "n": n, "dtype": str(dtype)}


def make_spec(preset, arch, dev, dtype, **kw):
    comps = kw.pop("components", {})
    params = kw.pop("params", {})
    return load_stack_spec(
        {
            "name": f"bench-{preset}",
            "device": str(dev),
            "model": {"arch": arch, "preset": preset, "seed": 0, "dtype": dtype},
            "components": comps,
            "params": params,
        }
    )


def build(spec):
    cfg, sd, meta = load_model_weights(spec.model, device=spec.device)
    model = build_model(cfg, sd, model_parts(spec)).to(spec.device)
    del sd
    return model, cfg, meta


def _as_dict(spec):
    from dataclasses import asdict

    return asdict(spec)


def fast_components(dev):
    if dev.type == "cuda":
        return {"kv_cache": "paged", "attention": "triton_paged", "execution": "cuda_graphs", "scheduler": "continuous"}
    return {"kv_cache": "paged", "attention": "sdpa", "execution": "eager", "scheduler": "continuous"}


def device_decode_loop(engine, prompt_len, n_tokens, use_graph, compile_fn):
    """Batch-1 decode with a static KV cache: the whole step (forward, argmax, position/slot update)
    runs on the device and, on CUDA, is captured once as a graph and replayed n_tokens times."""
    dev, kv, model = engine.device, engine.kv, engine.model
    vocab = engine.meta["vocab_size"]
    prompt = [(7 * i + 3) % vocab for i in range(prompt_len)]
    seq = Sequence(Request("bench", prompt, SamplingParams()), dev)
    assert kv.allocate(seq) and kv.reserve(seq, prompt_len + n_tokens + 8)
    ids, meta, sidx, _ = build_batch([(seq, prompt_len)], kv, dev)
    with torch.inference_mode():
        tok = engine.runner.run(ids, meta, sidx).argmax(-1)
    first = tok.clone()  # warm-up steps advance tok; the timed run restarts from here
    table = torch.full((1, kv.max_blocks_per_seq), kv.scratch_block, dtype=torch.long, device=dev)
    table[0, : len(seq.block_table)] = torch.tensor(seq.block_table, device=dev)
    pos = torch.tensor([prompt_len], device=dev)
    ctx = pos + 1
    slot = torch.zeros(1, dtype=torch.long, device=dev)
    zeros = torch.zeros(1, dtype=torch.long, device=dev)
    m = AttentionMetadata(
        positions=pos,
        slot_mapping=slot,
        block_tables=table,
        context_lens=ctx,
        query_lens=torch.ones(1, dtype=torch.long, device=dev),
        token_batch_idx=zeros,
        token_q_idx=zeros,
        max_q=1,
    )
    bs = kv.block_size
    produced = torch.zeros(n_tokens + 8, dtype=torch.long, device=dev)

    def forward(t, mm):
        return model.compute_logits(model(t, mm))

    fwd = torch.compile(forward, dynamic=False) if compile_fn else forward

    def step():
        slot.copy_(table[0, pos // bs] * bs + pos % bs)
        ctx.copy_(pos + 1)
        tok.copy_(fwd(tok, m).argmax(-1))
        produced.index_copy_(0, pos - prompt_len, tok)
        pos.add_(1)

    start_pos = prompt_len
    with torch.inference_mode():
        for _ in range(3):  # warm-up / compile
            step()
        sync(dev)
        if use_graph:
            g = torch.cuda.CUDAGraph()
            with torch.cuda.graph(g):
                step()
            run = g.replay
        else:
            run = step
        pos.fill_(start_pos)
        tok.copy_(first)
        sync(dev)
        t = time.perf_counter()
        for _ in range(n_tokens):
            run()
        sync(dev)
        elapsed = time.perf_counter() - t
    kv.free(seq)
    # the same greedy tokens as the engine's own step loop (bf16 near-ties may diverge late)
    ref = engine.generate([prompt], SamplingParams(max_tokens=n_tokens + 1, ignore_eos=True))[0][1:]
    got = produced[:n_tokens].tolist()
    agree = next((i for i, (a, b) in enumerate(zip(got, ref)) if a != b), n_tokens)
    return n_tokens / elapsed, agree


def engine_decode(engine, prompt_len, n_tokens):
    """Batch-1 decode through Engine.step() (host scheduling and sampling every token)."""
    vocab = engine.meta["vocab_size"]
    prompt = [(11 * i + 5) % vocab for i in range(prompt_len)]
    engine.generate([prompt], SamplingParams(max_tokens=8, ignore_eos=True))  # warm-up
    engine.add_request(Request("d", prompt, SamplingParams(max_tokens=n_tokens + 1, ignore_eos=True)))
    engine.step()  # prefill
    sync(engine.device)
    t = time.perf_counter()
    n = 0
    while engine.has_unfinished_requests():
        n += sum(len(o.new_token_ids) for o in engine.step())
    return n / (time.perf_counter() - t)


def decode_b1(bundle, dev, dtype, bw, smoke, compile_fn):
    model, cfg, meta, preset = bundle
    spec = make_spec(
        preset,
        meta["arch"],
        dev,
        dtype,
        components=fast_components(dev),
        params={
            "max_batch_size": 1,
            "graph_batch_sizes": [1],
            "max_model_len": 256 if smoke else 1024,
            "kv_cache_tokens": 2048,
            "max_num_batched_tokens": 1024,
        },
    )
    wbytes = weight_bytes(model)
    engine = Engine.from_model(spec, model, cfg, meta)
    n_tok = 32 if smoke else 256
    res = {
        "preset": preset,
        "params": param_count(model),
        "non_embedding_weight_bytes": wbytes,
        "roofline_tokens_per_s": bw / wbytes,
        "prompt_len": 16,
        "tokens": n_tok,
    }
    use_graph = dev.type == "cuda"
    for label, comp in (("device_loop_graph", False), ("device_loop_graph_compiled", True)):
        if comp and not compile_fn:
            continue
        try:
            tps, agree = device_decode_loop(engine, 16, n_tok, use_graph, comp)
            res[label] = {
                "tokens_per_s": tps,
                "fraction_of_roofline": tps / res["roofline_tokens_per_s"],
                "tokens_equal_to_engine_before_first_difference": agree,
            }
        except Exception as e:  # noqa: BLE001
            res[label] = {"error": f"{type(e).__name__}: {e}"}
    # the engine's own step loop: as the generic stack runs it, with the compiled step inside its graphs
    # (compile_decode), and as a batch-1 stack would: 8 decode steps per host step (decode_steps),
    # prepared while the device runs the previous ones (async_scheduling)
    engine_variants = {
        "engine_step_loop": {},
        "engine_step_loop_compiled": {"compile_decode": True},
        "engine_multi_step_async": {"decode_steps": 8, "async_scheduling": True},
        "engine_multi_step_async_compiled": {"decode_steps": 8, "async_scheduling": True, "compile_decode": True},
    }
    for label, extra in engine_variants.items():
        if extra.get("compile_decode") and not (compile_fn and use_graph):
            continue
        try:
            if extra:
                engine = Engine.from_model(
                    load_stack_spec({**_as_dict(spec), "params": {**spec.params, **extra}}), model, cfg, meta
                )
            tps = engine_decode(engine, 16, n_tok)
            res[label] = {
                "tokens_per_s": tps,
                "fraction_of_roofline": tps / res["roofline_tokens_per_s"],
                "params": extra,
            }
        except Exception as e:  # noqa: BLE001
            res[label] = {"error": f"{type(e).__name__}: {e}"}
    best = max((v["tokens_per_s"] for v in res.values() if isinstance(v, dict) and "tokens_per_s" in v), default=None)
    res["best_tokens_per_s"] = best
    res["best_fraction_of_roofline"] = best and best / res["roofline_tokens_per_s"]
    return res


def prefill(dev, dtype, peak, smoke, model_bundle):
    model, cfg, meta, preset = model_bundle
    n_seq, plen = (2, 64) if smoke else (8, 1024)
    # eager runner: a prefill pass is one big batch of GEMMs, graphs would not help
    spec = make_spec(
        preset,
        "llama",
        dev,
        dtype,
        components={**fast_components(dev), "execution": "eager"},
        params={
            "max_batch_size": n_seq,
            "max_num_batched_tokens": n_seq * plen,
            "max_model_len": plen + 64,
            "kv_cache_tokens": n_seq * (plen + 64),
            "prefix_caching": False,
        },
    )
    engine = Engine.from_model(spec, model, cfg, meta)
    vocab = meta["vocab_size"]

    def one(offset):
        for i in range(n_seq):
            engine.add_request(
                Request(
                    f"p{offset}-{i}",
                    [(13 * j + i + offset) % vocab for j in range(plen)],
                    SamplingParams(max_tokens=1, ignore_eos=True),
                )
            )
        sync(dev)
        t = time.perf_counter()
        engine.step()
        sync(dev)
        return time.perf_counter() - t

    one(0)
    t = sorted(one(k) for k in range(1, 4))[1]
    L, H = cfg["num_hidden_layers"], cfg["hidden_size"]
    n_params = param_count(model) - model.embed.numel()  # lm_head only runs on the last token
    lm = model.lm_head.numel()
    tokens = n_seq * plen
    flops = 2 * (n_params - lm) * tokens + 2 * lm * n_seq + 2 * L * n_seq * plen * plen * H  # causal QK^T + PV
    return {
        "sequences": n_seq,
        "prompt_len": plen,
        "seconds": t,
        "tokens_per_s": tokens / t,
        "flop_per_s": flops / t,
        "fraction_of_matmul_peak": flops / t / peak if peak else None,
    }


def batch256(dev, dtype, bw, smoke, model_bundle):
    model, cfg, meta, preset = model_bundle
    n_req, plen, olen = (8, 64, 16) if smoke else (256, 1024, 128)
    buckets = [1, 2, 4, 8, 16, 32, 64, 128, 256]
    spec = make_spec(
        preset,
        "llama",
        dev,
        dtype,
        components=fast_components(dev),
        params={
            "max_batch_size": n_req,
            "graph_batch_sizes": [b for b in buckets if b <= n_req],
            "max_num_batched_tokens": 8192,
            "max_model_len": plen + olen + 16,
            "kv_cache_tokens": n_req * (plen + olen + 16) + 1024,
            "block_size": 16,
        },
    )
    engine = Engine.from_model(spec, model, cfg, meta)
    wbytes = weight_bytes(model)
    kv_per_token = engine.kv.bytes_per_token
    vocab = meta["vocab_size"]
    engine.generate([[3, 4, 5, 6]], SamplingParams(max_tokens=4, ignore_eos=True))  # warm-up
    for i in range(n_req):
        engine.add_request(
            Request(
                f"r{i}",
                [(17 * j + 31 * i) % vocab for j in range(plen)],
                SamplingParams(max_tokens=olen, ignore_eos=True),
            )
        )
    steps, peak_eff = [], None
    sync(dev)
    t0 = time.perf_counter()
    out_tokens = 0
    while engine.has_unfinished_requests():
        running = list(engine.scheduler.running)
        decode = not engine.scheduler.waiting and running
        ts = time.perf_counter()
        outs = engine.step()
        te = time.perf_counter() - ts  # step() ends with a host read of sampled tokens: GPU work is done
        out_tokens += sum(len(o.new_token_ids) for o in outs)
        if decode and all(s.num_computed >= s.num_prompt_tokens for s in running):
            ctx_tokens = sum(s.num_computed for s in running)
            roof = (wbytes + ctx_tokens * kv_per_token) / bw
            steps.append((len(running), te, roof))
            if len(running) == n_req and peak_eff is None:
                st = engine.stats()
                peak_eff = {
                    "kv_tokens_used": st["kv_tokens_used"],
                    "kv_tokens_allocated": st["kv_tokens_allocated"],
                    "kv_tokens_capacity": st["kv_tokens_capacity"],
                    "used_over_allocated": st["kv_tokens_used"] / max(st["kv_tokens_allocated"], 1),
                }
    total = time.perf_counter() - t0
    full = [s for s in steps if s[0] == n_req]
    med = sorted(full, key=lambda s: s[1])[len(full) // 2] if full else None
    ratios = sorted(s[1] / s[2] for s in full)
    del engine
    return {
        "requests": n_req,
        "prompt_len": plen,
        "output_len": olen,
        "duration_s": total,
        "output_throughput": out_tokens / total,
        "total_token_throughput": (out_tokens + n_req * plen) / total,
        "decode_steps_at_full_batch": len(full),
        "median_decode_step_ms": med and med[1] * 1e3,
        "roofline_step_ms_at_median": med and med[2] * 1e3,
        "median_step_over_roofline": ratios[len(ratios) // 2] if ratios else None,
        "kv_bytes_per_token": kv_per_token,
        "weight_bytes": wbytes,
        "kv_memory": peak_eff,
    }


def overlap_components(dev):
    """The generic stack's choices (design_space.json generic.cuda); the CPU keeps SDPA and eager."""
    if dev.type == "cuda":
        return {
            "attention": "triton_paged",
            "kv_cache": "paged",
            "scheduler": "chunked_prefill",
            "execution": "cuda_graphs",
        }
    return {"kv_cache": "paged", "scheduler": "chunked_prefill"}


def release_kv_cache(model, dev):
    """Drops the model's references to the last engine's KV cache before a new one is allocated: the
    attention layers keep pointing at it until the next engine re-points them, and at the 8B shape two
    pools (~39 GB each) beside the weights do not fit an 80 GB GPU."""
    for layer in model.attention_layers:
        layer.k_cache = layer.v_cache = None
    gc.collect()
    if dev.type == "cuda":
        torch.cuda.empty_cache()


# the engine's execution modes decode_overlap compares: the generic stack's before and with async
# scheduling, and a stack that also runs 8 decode steps per host step
OVERLAP_MODES = {
    "sync": {"async_scheduling": False},
    "async": {"async_scheduling": True},
    "async_multi_step": {"async_scheduling": True, "decode_steps": 8},
}


def decode_overlap(dev, dtype, smoke, model_bundle, shape, modes=("sync", "async")):
    """One wave of n_req requests (plen prompt / olen output tokens, all decoding together) through the
    engine in each mode (OVERLAP_MODES), on the same weights. Per mode: the median step() wall time
    over the decode steps at full batch, divided by the tokens each sequence got from the step (1, or
    up to decode_steps), the decode profile (engine/step_profile.py: mean step, forward time, host
    share = the part of a step the device has no forward to run), the output throughput; then the
    speedup of async over sync and whether every mode gave the same tokens."""
    model, cfg, meta, preset = model_bundle
    n_req, plen, olen = (8, 48, 16) if smoke else shape
    buckets = [1, 2, 4, 8, 16, 32, 64, 128, 256]
    max_len = min(plen + olen + 16, meta["max_position_embeddings"] or 2048)
    vocab = meta["vocab_size"]
    prompts = [[(17 * j + 31 * i + 7) % vocab for j in range(plen)] for i in range(n_req)]
    res = {
        "preset": preset,
        "requests": n_req,
        "prompt_len": plen,
        "output_len": olen,
        "components": overlap_components(dev),
    }
    tokens = {}
    for label in modes:
        spec = make_spec(
            preset,
            meta["arch"],
            dev,
            dtype,
            components=overlap_components(dev),
            params={
                "max_batch_size": n_req,
                "graph_batch_sizes": [b for b in buckets if b <= n_req],
                "max_num_batched_tokens": 8192,
                "chunk_size": 8192,
                "max_model_len": max_len,
                "kv_cache_tokens": n_req * max_len + 1024,
                "block_size": 16,
                **OVERLAP_MODES[label],
            },
        )
        release_kv_cache(model, dev)
        engine = Engine.from_model(spec, model, cfg, meta)
        engine.generate([prompts[0][:8]] * 2, SamplingParams(max_tokens=4, ignore_eos=True))  # warm-up
        for i, p in enumerate(prompts):
            engine.add_request(Request(f"r{i}", p, SamplingParams(max_tokens=olen, ignore_eos=True)))
        before = engine.enable_profile().snapshot()
        out = {f"r{i}": [] for i in range(n_req)}
        full = []
        sync(dev)
        t0 = time.perf_counter()
        while engine.has_unfinished_requests():
            running = engine.scheduler.running
            decoding = (
                not engine.scheduler.waiting and len(running) == n_req and all(s.num_sampled > 0 for s in running)
            )
            ts = time.perf_counter()
            per_seq = 1
            for o in engine.step():
                out[o.request_id] += o.new_token_ids
                per_seq = max(per_seq, len(o.new_token_ids))
            if decoding:
                full.append((time.perf_counter() - ts) / per_seq)
        total = time.perf_counter() - t0
        prof = host_share_between(before, engine.profile.snapshot())
        snap = engine.profile.snapshot()
        full.sort()
        res[label] = {
            "median_decode_step_ms": full and 1e3 * full[len(full) // 2],
            "full_batch_steps": len(full),
            "profile_decode_step_ms": prof.get("decode_step_ms"),
            "profile_forward_ms": snap["steps"]
            and 1e3 * (snap["forward_s"] - before["forward_s"]) / max(1, snap["steps"] - before["steps"]),
            "decode_host_share": prof.get("decode_host_share"),
            "output_throughput": n_req * olen / total,
            "duration_s": total,
            "engine_async_scheduling": engine.async_scheduling,
            "params": OVERLAP_MODES[label],
        }
        tokens[label] = out
        del engine
    release_kv_cache(model, dev)
    s_ms, a_ms = res["sync"]["median_decode_step_ms"], res["async"]["median_decode_step_ms"]
    res["step_speedup"] = s_ms / a_ms if s_ms and a_ms else None
    share = res["sync"]["decode_host_share"]
    res["host_ms_per_step_sync"] = s_ms * share if s_ms and share is not None else None
    res["tokens_equal"] = all(t == tokens[modes[0]] for t in tokens.values())
    return res


def hf_generate_gpt2(dev, smoke):
    from vibeserve_runtime.models.hf_reference import build_hf_reference

    preset = "tiny-gpt2" if smoke else "gpt2-124m"
    cfg, sd, _ = load_model_weights({"arch": "gpt2", "preset": preset, "seed": 0})
    ref = build_hf_reference(cfg, sd).to(dev)
    n = 16 if smoke else 128
    ids = torch.tensor([[5, 6, 7, 8, 9, 10, 11, 12]], device=dev)
    ref.generate(ids, max_new_tokens=4, min_new_tokens=4, do_sample=False)
    sync(dev)
    t = time.perf_counter()
    ref.generate(ids, max_new_tokens=n, min_new_tokens=n, do_sample=False)
    sync(dev)
    return {"tokens_per_s": n / (time.perf_counter() - t), "dtype": "float32", "tokens": n}


# --- main ------------------------------------------------------------------------------------
def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--out", required=True, help="JSON file to write")
    ap.add_argument("--smoke", action="store_true", help="tiny shapes, for checking the script (CPU works)")
    ap.add_argument("--device", default="cuda" if torch.cuda.is_available() else "cpu")
    ap.add_argument("--no-compile", action="store_true", help="skip the torch.compile variants")
    ap.add_argument("--only", default="", help="comma-separated figure names to run (default: all)")
    args = ap.parse_args()
    dev = torch.device(args.device)
    dtype = "bfloat16" if dev.type == "cuda" else "float32"
    big, small = ("tiny-llama", "tiny-gpt2") if args.smoke else ("llama3-8b", "gpt2-124m")
    only = set(filter(None, args.only.split(",")))
    result = {
        "command": " ".join(shlex.quote(a) for a in [sys.executable] + sys.argv),
        "device": torch.cuda.get_device_name(dev) + f" (cc {'.'.join(map(str, torch.cuda.get_device_capability(dev)))})"
        if dev.type == "cuda"
        else "cpu",
        "torch": torch.__version__,
        "triton": _triton_version(),
        "smoke": args.smoke,
        "started": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
        "figures": {},
        "errors": {},
    }
    figs = result["figures"]

    def save():  # after every figure: a run stopped at its time limit keeps what it measured
        Path(args.out).parent.mkdir(parents=True, exist_ok=True)
        Path(args.out).write_text(json.dumps(result, indent=1, default=str))

    def run(name, fn):
        if only and name not in only:
            return None
        t = time.perf_counter()
        try:
            figs[name] = fn()
            figs[name]["wall_s"] = time.perf_counter() - t
        except Exception as e:  # noqa: BLE001
            result["errors"][name] = f"{type(e).__name__}: {e}"
            traceback.print_exc()
        finally:
            torch._dynamo.reset()  # compiled graphs hold references to the model's weights
            gc.collect()
            if dev.type == "cuda":
                torch.cuda.empty_cache()
        print(f"[{name}] {time.perf_counter() - t:.1f}s", file=sys.stderr, flush=True)
        save()
        return figs.get(name)

    bw_fig = run("bandwidth", lambda: bandwidth(dev, args.smoke))
    bw = bw_fig["read_bytes_per_s"] if bw_fig else 3.0e12
    mm = run("matmul_peak", lambda: matmul_peak(dev, args.smoke))
    peak = mm["flop_per_s"] if mm else None
    compile_fn = not args.no_compile

    def bundle_of(preset, arch):
        spec = make_spec(preset, arch, dev, dtype, components=fast_components(dev))
        return (*build(spec), preset)

    if not only or "gpt2_decode_b1" in only:
        run("gpt2_decode_b1", lambda: decode_b1(bundle_of(small, "gpt2"), dev, dtype, bw, args.smoke, compile_fn))
    if not only or "gpt2_decode_256" in only:  # the chat shape: 256 in flight, 128/128 (target 2.5 ms a step)
        run(
            "gpt2_decode_256",
            lambda: decode_overlap(
                dev, dtype, args.smoke, bundle_of(small, "gpt2"), (256, 128, 128), modes=tuple(OVERLAP_MODES)
            ),
        )
    if not only or "gpt2_async_overlap" in only:  # GPT-2's 1024 positions: 896-token prompts
        run(
            "gpt2_async_overlap",
            lambda: decode_overlap(dev, dtype, args.smoke, bundle_of(small, "gpt2"), (256, 896, 128)),
        )
    bundle = None
    if not only or only & {"llama8b_decode_b1", "llama8b_prefill", "llama8b_batch256", "llama8b_async_overlap"}:
        t = time.perf_counter()
        try:
            bundle = bundle_of(big, "llama")  # one copy of the 8B weights serves every 8B figure
            result["llama8b_build_s"] = time.perf_counter() - t
        except Exception as e:  # noqa: BLE001
            result["errors"]["build_llama8b"] = f"{type(e).__name__}: {e}"
    if bundle:
        run("llama8b_decode_b1", lambda: decode_b1(bundle, dev, dtype, bw, args.smoke, compile_fn))
        run("llama8b_prefill", lambda: prefill(dev, dtype, peak, args.smoke, bundle))
        run("llama8b_batch256", lambda: batch256(dev, dtype, bw, args.smoke, bundle))
        run("llama8b_async_overlap", lambda: decode_overlap(dev, dtype, args.smoke, bundle, (256, 1024, 128)))
        bundle = None
    run("hf_generate_gpt2", lambda: hf_generate_gpt2(dev, args.smoke))
    result["finished"] = time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime())
    save()
    print_table(result, bw, peak)


def _triton_version():
    try:
        import triton

        return triton.__version__
    except ImportError:
        return None


def print_table(r, bw, peak):
    f = r["figures"]

    def g(name, *keys):
        v = f.get(name)
        for k in keys:
            v = v.get(k) if isinstance(v, dict) else None
        return v

    def fmt(v, scale=1.0, unit=""):
        return "-" if v is None else f"{v / scale:,.1f}{unit}"

    rows = [
        ("read bandwidth", fmt(g("bandwidth", "read_bytes_per_s"), 1e9, " GB/s"), ""),
        ("bf16 matmul", fmt(g("matmul_peak", "flop_per_s"), 1e12, " TFLOP/s"), ""),
    ]
    for name, label in (("llama8b_decode_b1", "8B decode b=1"), ("gpt2_decode_b1", "GPT-2 decode b=1")):
        roof = g(name, "roofline_tokens_per_s")
        for k in (
            "device_loop_graph",
            "device_loop_graph_compiled",
            "engine_step_loop",
            "engine_step_loop_compiled",
            "engine_multi_step_async",
            "engine_multi_step_async_compiled",
        ):
            rows.append(
                (
                    f"{label} {k}",
                    fmt(g(name, k, "tokens_per_s"), 1, " tok/s"),
                    f"roofline {fmt(roof, 1, ' tok/s')} ({fmt(g(name, k, 'fraction_of_roofline'), 0.01, '%')})",
                )
            )
    rows.append(
        (
            "8B prefill",
            fmt(g("llama8b_prefill", "flop_per_s"), 1e12, " TFLOP/s"),
            f"{fmt(g('llama8b_prefill', 'fraction_of_matmul_peak'), 0.01, '%')} of matmul peak",
        )
    )
    rows.append(
        (
            "8B 256x(1024/128) decode step",
            fmt(g("llama8b_batch256", "median_decode_step_ms"), 1, " ms"),
            f"roofline {fmt(g('llama8b_batch256', 'roofline_step_ms_at_median'), 1, ' ms')} "
            f"(x{fmt(g('llama8b_batch256', 'median_step_over_roofline'))})",
        )
    )
    rows.append(
        (
            "8B 256x(1024/128) output throughput",
            fmt(g("llama8b_batch256", "output_throughput"), 1, " tok/s"),
            f"KV used/allocated {fmt(g('llama8b_batch256', 'kv_memory', 'used_over_allocated'), 0.01, '%')}",
        )
    )
    rows.append(("HF generate GPT-2 b=1", fmt(g("hf_generate_gpt2", "tokens_per_s"), 1, " tok/s"), ""))
    for name, label in (("gpt2_decode_256", "GPT-2"), ("gpt2_async_overlap", "GPT-2"), ("llama8b_async_overlap", "8B")):
        shape = f"{g(name, 'requests')}x({g(name, 'prompt_len')}/{g(name, 'output_len')})"
        for mode in OVERLAP_MODES:
            if g(name, mode) is None:
                continue
            rows.append(
                (
                    f"{label} {shape} decode step, {mode}",
                    fmt(g(name, mode, "median_decode_step_ms"), 1, " ms"),
                    f"host share {fmt(g(name, mode, 'decode_host_share'), 0.01, '%')}, forward "
                    f"{fmt(g(name, mode, 'profile_forward_ms'), 1, ' ms')}",
                )
            )
        rows.append(
            (
                f"{label} async/sync step speedup",
                fmt(g(name, "step_speedup"), 1, "x"),
                f"same tokens: {g(name, 'tokens_equal')}",
            )
        )
    w = max(len(a) for a, _, _ in rows)
    print(f"device: {r['device']}   torch {r['torch']}   triton {r['triton']}")
    for a, b, c in rows:
        print(f"{a:<{w}}  {b:>18}  {c}")
    for k, v in r["errors"].items():
        print(f"ERROR {k}: {v}")


if __name__ == "__main__":
    main()
