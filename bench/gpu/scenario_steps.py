"""Where one wave of a scenario's requests spends its time, per engine step, for the generic stack and
other designs side by side in one process: each step's wall time, whether it prefilled or decoded and
and the top GPU kernels of one prefill step (torch.profiler). The first wave warms up; the second is
reported, and its first prefill step runs under the profiler, so that step's wall time (the prefill
max_ms) includes the profiler's start-up: the other prefill step is the plain figure.

  python bench/gpu/scenario_steps.py --scenario scenarios/mixtral-moe.yaml \
      --design 'searched={"moe":"fused_tuned","attention":"triton_paged"}|{"decode_steps":8}' [--out OUT.json]
"""

from __future__ import annotations

import argparse
import gc
import json
import random
import sys
import time
from pathlib import Path

import torch
import yaml
from torch.profiler import ProfilerActivity, profile

REPO = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(REPO / "python-runtime"))
sys.path.insert(0, str(REPO / "bench" / "scenarios"))
from compare_stacks import generic_spec  # noqa: E402
from vibeserve_runtime.engine import Engine  # noqa: E402
from vibeserve_runtime.types import Request, SamplingParams  # noqa: E402


def one_wave(spec: dict, batch: int, prompt_len: int, output_len: int) -> dict:
    engine = Engine.from_spec(spec)
    vocab = engine.meta["vocab_size"]
    rng = random.Random(0)
    params = SamplingParams(max_tokens=output_len, temperature=0.0, ignore_eos=True)
    steps, kernels = [], None
    for w in range(2):  # the first wave warms up; the second is reported
        for i in range(batch):
            engine.add_request(
                Request(f"w{w}r{i}", [rng.randrange(3, min(vocab, 256)) for _ in range(prompt_len)], params)
            )
        torch.cuda.synchronize()
        t_wave = time.perf_counter()
        while engine.seqs:
            prefill = any(s.num_output_tokens == 0 for s in engine.seqs.values())
            t0 = time.perf_counter()
            if w == 1 and prefill and kernels is None:
                with profile(activities=[ProfilerActivity.CUDA]) as prof:
                    engine.step()
                    torch.cuda.synchronize()
                kernels = prof.key_averages().table(sort_by="cuda_time_total", row_limit=12, max_name_column_width=60)
            else:
                engine.step()
                torch.cuda.synchronize()
            if w == 1:
                steps.append(
                    {"kind": "prefill" if prefill else "decode", "ms": round(1e3 * (time.perf_counter() - t0), 3)}
                )
        wave_s = time.perf_counter() - t_wave
    out = {"wave_ms": round(1e3 * wave_s, 2)}
    for kind in ("prefill", "decode"):
        mine = [s["ms"] for s in steps if s["kind"] == kind]
        out[kind] = {"steps": len(mine), "total_ms": round(sum(mine), 2), "max_ms": max(mine, default=0)}
    out["prefill_step_kernels"] = kernels
    del engine
    gc.collect()
    torch.cuda.empty_cache()
    return out


def main() -> int:
    ap = argparse.ArgumentParser()
    ap.add_argument("--scenario", required=True)
    ap.add_argument("--design", action="append", default=[], help="name=components-json|params-json")
    ap.add_argument("--out")
    args = ap.parse_args()
    sc = yaml.safe_load((REPO / args.scenario).read_text())
    base = generic_spec(sc, "cuda")
    base["params"]["kv_cache_tokens"] = 65536
    a = sc["workload"].get("arrival") or {}
    batch = int(a.get("concurrency", 16))
    report = {
        "device": torch.cuda.get_device_name(),
        "scenario": sc["name"],
        "batch": batch,
        "command": "python bench/gpu/scenario_steps.py " + " ".join(sys.argv[1:]),
        "designs": {},
    }
    designs = {"generic": ({}, {})}
    for d in args.design:
        name, rest = d.split("=", 1)
        comps, _, params = rest.partition("|")
        designs[name] = (json.loads(comps or "{}"), json.loads(params or "{}"))
    for name, (comps, params) in designs.items():
        spec = {**base, "components": {**base["components"], **comps}, "params": {**base["params"], **params}}
        r = one_wave(spec, batch, int(sc["workload"]["prompt_len"]), int(sc["workload"]["output_len"]))
        report["designs"][name] = r
        print(f"{name}: wave {r['wave_ms']} ms; prefill {r['prefill']}; decode {r['decode']}", file=sys.stderr)
        print(r["prefill_step_kernels"], file=sys.stderr)
    if args.out:
        Path(args.out).write_text(json.dumps(report, indent=2))
    return 0


if __name__ == "__main__":
    sys.exit(main())
