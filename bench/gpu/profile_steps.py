"""Where the time of an 8B prefill step and a batch-1 / batch-256 eager decode step goes: the top GPU
kernels by total device time (torch.profiler), so fusion and kernel work can be aimed.

Usage: python bench/gpu/profile_steps.py --out /tmp/profile.txt [--preset llama3-8b]
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

import torch
from torch.profiler import ProfilerActivity, profile

ROOT = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(ROOT / "bench" / "gpu"))
sys.path.insert(0, str(ROOT / "python-runtime"))

from decode_roofline import build, make_spec  # noqa: E402
from vibeserve_runtime.engine import Engine  # noqa: E402
from vibeserve_runtime.types import Request, SamplingParams  # noqa: E402


def top(prof, n=18):
    return prof.key_averages().table(sort_by="cuda_time_total", row_limit=n, max_name_column_width=70)


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--out", required=True)
    ap.add_argument("--preset", default="llama3-8b")
    args = ap.parse_args()
    dev = torch.device("cuda")
    spec = make_spec(args.preset, "llama", dev, "bfloat16")
    model, cfg, meta = build(spec)
    vocab = meta["vocab_size"]
    report = []
    comps = {"kv_cache": "paged", "attention": "triton_paged", "execution": "eager", "scheduler": "continuous"}
    # prefill: 8 x 1024 tokens in one step
    eng = Engine.from_model(
        make_spec(
            args.preset,
            "llama",
            dev,
            "bfloat16",
            components=comps,
            params={
                "max_batch_size": 256,
                "max_num_batched_tokens": 8192,
                "max_model_len": 1200,
                "kv_cache_tokens": 300 * 1200,
                "prefix_caching": False,
            },
        ),
        model,
        cfg,
        meta,
    )

    def prefill(tag):
        for i in range(8):
            eng.add_request(
                Request(
                    f"{tag}{i}",
                    [(13 * j + i) % vocab for j in range(1024)],
                    SamplingParams(max_tokens=2, ignore_eos=True),
                )
            )
        eng.step()

    prefill("w")
    while eng.has_unfinished_requests():
        eng.step()
    torch.cuda.synchronize()
    with profile(activities=[ProfilerActivity.CUDA, ProfilerActivity.CPU]) as p:
        prefill("p")
        torch.cuda.synchronize()
    report.append("=== prefill 8x1024 (eager) ===\n" + top(p))
    with profile(activities=[ProfilerActivity.CUDA, ProfilerActivity.CPU]) as p:
        eng.step()  # the 8 sequences' first decode step (batch 8, eager)
        torch.cuda.synchronize()
    report.append("=== decode b=8 (eager) ===\n" + top(p))
    while eng.has_unfinished_requests():
        eng.step()
    text = "\n".join(report)
    Path(args.out).write_text(text)
    print(text)


if __name__ == "__main__":
    main()
