"""Tensor-parallel scaling: the same stack at tp=1 (one GPU) and tp=2 (two GPUs, NCCL), measured in one run.

Figures, per tp degree (each fails soft: an error is recorded and the run goes on):
  decode_b1        one request, batch-1 decode through the engine's step() loop: output tokens/s
  throughput       N requests of P prompt / O output tokens submitted at once: output and total tokens/s
  step_broadcast   tp>1 only: rank 0's time per step spent shipping the batch to the other ranks
plus speedup = tp2 / tp1 for each figure. NVLink multicast stays off (NCCL_NVLS_ENABLE=0,
TORCH_SYMM_MEM_DISABLE_MULTICAST=1 are set for this process and every worker it starts).

Usage (a host with >= 2 GPUs):
  python bench/gpu/tp_scaling.py --out bench/results/tp_scaling_h200x2.json
  python bench/gpu/tp_scaling.py --preset llama3-8b --components '{"execution": "cuda_graphs"}' --out ...
  python bench/gpu/tp_scaling.py --smoke --out /tmp/tp_smoke.json     (tiny model, gloo on CPU)
"""

from __future__ import annotations

import argparse
import gc
import json
import os
import shlex
import sys
import time
import traceback
from pathlib import Path

import torch

ROOT = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(ROOT / "python-runtime"))

from vibeserve_runtime.engine import Engine  # noqa: E402
from vibeserve_runtime.parallel import step_broadcast  # noqa: E402
from vibeserve_runtime.parallel.process_group import apply_safe_comm_env  # noqa: E402
from vibeserve_runtime.types import SamplingParams  # noqa: E402


def sync(device: str):
    if device.startswith("cuda"):
        torch.cuda.synchronize()


def make_spec(args, tp: str) -> dict:
    return {
        "name": f"tp{tp}",
        "device": args.device,
        "model": {"arch": args.arch, "preset": args.preset, "seed": 0, "dtype": args.dtype},
        "components": {**json.loads(args.components), "tp": tp},
        "params": {
            "max_batch_size": max(args.requests, 1),
            "max_model_len": args.prompt_len + args.output_len + 8,
            "max_num_batched_tokens": max(2048, args.prompt_len),
        },
    }


def prompts(n: int, length: int, vocab: int, seed: int) -> list[list[int]]:
    g = torch.Generator().manual_seed(seed)
    return torch.randint(0, vocab, (n, length), generator=g).tolist()


def decode_b1(engine, args) -> dict:
    greedy = SamplingParams(max_tokens=args.output_len, ignore_eos=True)
    p = prompts(1, args.prompt_len, engine.meta["vocab_size"], 1)
    engine.generate(p, SamplingParams(max_tokens=4, ignore_eos=True))  # warm-up
    sync(args.device)
    t = time.perf_counter()
    out = engine.generate(p, greedy)
    sync(args.device)
    dt = time.perf_counter() - t
    return {"output_tokens": len(out[0]), "seconds": dt, "tokens_per_s": len(out[0]) / dt}


def throughput(engine, args) -> dict:
    greedy = SamplingParams(max_tokens=args.output_len, ignore_eos=True)
    p = prompts(args.requests, args.prompt_len, engine.meta["vocab_size"], 2)
    engine.generate(p[:2], SamplingParams(max_tokens=4, ignore_eos=True))  # warm-up
    sync(args.device)
    t = time.perf_counter()
    out = engine.generate(p, greedy)
    sync(args.device)
    dt = time.perf_counter() - t
    n_out = sum(map(len, out))
    return {
        "requests": args.requests,
        "prompt_len": args.prompt_len,
        "output_len": args.output_len,
        "seconds": dt,
        "output_tokens_per_s": n_out / dt,
        "total_tokens_per_s": (n_out + args.requests * args.prompt_len) / dt,
    }


class BroadcastTimer:
    """Wraps step_broadcast._broadcast to sum rank 0's time in it."""

    def __init__(self):
        self.seconds, self.calls, self._orig = 0.0, 0, step_broadcast._broadcast

    def __enter__(self):
        def timed(obj, tp):
            t = time.perf_counter()
            try:
                return self._orig(obj, tp)
            finally:
                self.seconds += time.perf_counter() - t
                self.calls += 1

        step_broadcast._broadcast = timed
        return self

    def __exit__(self, *exc):
        step_broadcast._broadcast = self._orig


def measure(args, tp: str) -> dict:
    res: dict = {}
    try:
        engine = Engine.from_spec(make_spec(args, tp))
    except Exception as e:
        return {"error": f"{type(e).__name__}: {e}", "traceback": traceback.format_exc()}
    try:
        res["rank_reports"] = getattr(engine, "rank_reports", None)
        with BroadcastTimer() as bt:
            for name, fn in (("decode_b1", decode_b1), ("throughput", throughput)):
                try:
                    res[name] = fn(engine, args)
                except Exception as e:
                    res[name] = {"error": f"{type(e).__name__}: {e}", "traceback": traceback.format_exc()}
                print(f"tp={tp} {name}: {json.dumps(res[name])[:300]}", file=sys.stderr, flush=True)
        if tp != "1":
            res["step_broadcast"] = {
                "calls": bt.calls,
                "seconds": bt.seconds,
                "ms_per_step": 1e3 * bt.seconds / max(bt.calls, 1),
            }
    finally:
        if hasattr(engine, "close"):
            engine.close()
        del engine
        gc.collect()
        if torch.cuda.is_available():
            torch.cuda.empty_cache()
    return res


def device_name(device: str) -> str:
    if device.startswith("cuda"):
        names = [torch.cuda.get_device_name(i) for i in range(torch.cuda.device_count())]
        return f"{len(names)} x {names[0]}" if names else "no GPU visible"
    return f"cpu ({os.cpu_count()} cores), gloo"


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--device", default="cuda" if torch.cuda.is_available() else "cpu")
    ap.add_argument("--arch", default="llama")
    ap.add_argument("--preset", default="llama3-8b")
    ap.add_argument("--dtype", default="bfloat16")
    ap.add_argument(
        "--components",
        default='{"kv_cache": "paged", "scheduler": "continuous"}',
        help="JSON of stack components (tp is set by this script)",
    )
    ap.add_argument("--requests", type=int, default=64)
    ap.add_argument("--prompt-len", type=int, default=512)
    ap.add_argument("--output-len", type=int, default=128)
    ap.add_argument("--smoke", action="store_true", help="tiny model and sizes; runs on CPU with gloo")
    ap.add_argument("--out", required=True)
    args = ap.parse_args()
    if args.smoke:
        args.preset, args.dtype, args.requests, args.prompt_len, args.output_len = "tiny-llama", "float32", 4, 16, 8
    apply_safe_comm_env()
    result = {
        "command": " ".join(shlex.quote(a) for a in [sys.executable] + sys.argv),
        "device": device_name(args.device),
        "torch": torch.__version__,
        "env": {k: os.environ.get(k) for k in ("NCCL_NVLS_ENABLE", "TORCH_SYMM_MEM_DISABLE_MULTICAST")},
        "stack": make_spec(args, "N"),
        "tp": {},
    }
    for tp in ("1", "2"):
        result["tp"][tp] = measure(args, tp)
    speedup = {}
    for fig, key in (("decode_b1", "tokens_per_s"), ("throughput", "output_tokens_per_s")):
        a, b = (result["tp"][t].get(fig, {}).get(key) for t in ("1", "2"))
        speedup[fig] = b / a if a and b else None
    result["speedup_tp2_over_tp1"] = speedup
    Path(args.out).parent.mkdir(parents=True, exist_ok=True)
    Path(args.out).write_text(json.dumps(result, indent=1))
    print(json.dumps({"out": args.out, "speedup_tp2_over_tp1": speedup}))
    return 0


if __name__ == "__main__":
    sys.exit(main())
