"""One stack's engine, kept loaded for interleaved measurements (started by compare_stacks.py).

Runs with the stack directory first on PYTHONPATH, so the stack's own code is what gets measured
(as in the `_candidate` process of the bench verb). Protocol on stdin/stdout, one JSON per line:
  parent -> {"warmup": [[ids, max_tokens], ...]}     first (on stdin: a long warm-up outgrows argv)
  child  -> {"ready": true, "load_s": ..., "captured_buckets": [...]|null}  after the engine is built and warmed up
  parent -> {"requests": [[ids, max_tokens], ...], "arrivals": [...], "max_concurrency": n|null}
  child  -> {"rep": {...raw timings of _run_rep...}}
  parent -> {"stop": true}
Anything the engine prints goes to stderr, so stdout carries only the protocol.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import time


def main() -> int:
    ap = argparse.ArgumentParser()
    ap.add_argument("--stack", required=True)
    ap.add_argument("--device")
    ap.add_argument(
        "--kv-cache-tokens",
        type=int,
        help="fixed KV pool size; the stacks of one comparison load at the same time, and sizing "
        "from free GPU memory would give whichever starts first most of it",
    )
    ap.add_argument(
        "--capture-cap",
        type=int,
        help="the largest decode batch the parent will send: CUDA graphs are captured up to it, as the "
        "bench verb captures them (cli/offline_bench.py capture_cap_for)",
    )
    args = ap.parse_args()
    proto = os.fdopen(os.dup(1), "w", buffering=1)
    os.dup2(2, 1)  # stray prints of the engine must not corrupt the protocol

    import torch
    from vibeserve_runtime.cli.candidate_cmd import _greedy, _run_rep
    from vibeserve_runtime.cli.engine_loader import assert_runs_stack_code, build_engine
    from vibeserve_runtime.cli.phases import buckets_of
    from vibeserve_runtime.materialize import load_stack_dir

    t0 = time.perf_counter()
    stack_dir, spec = load_stack_dir(args.stack)
    if args.kv_cache_tokens:
        spec["params"]["kv_cache_tokens"] = args.kv_cache_tokens
    assert_runs_stack_code(stack_dir)
    engine = build_engine(spec, args.device, stack_dir, capture_cap=args.capture_cap)
    warm = json.loads(sys.stdin.readline() or "{}").get("warmup") or []
    with torch.inference_mode():
        if warm:
            engine.generate([p for p, _ in warm], _greedy(max(m for _, m in warm)))
    ready = {"ready": True, "load_s": time.perf_counter() - t0, "stats": _plain(engine.stats())}
    ready["captured_buckets"] = buckets_of(getattr(engine.runner, "captured_buckets", None))
    proto.write(json.dumps(ready) + "\n")
    for line in sys.stdin:
        msg = json.loads(line)
        if msg.get("stop"):
            break
        with torch.inference_mode():
            rep = _run_rep(engine, msg, msg.get("max_concurrency"))
        proto.write(json.dumps({"rep": rep}, default=float) + "\n")
    return 0


def _plain(d: dict) -> dict:
    return {k: v for k, v in d.items() if isinstance(v, (int, float, str, bool)) or v is None}


if __name__ == "__main__":
    sys.exit(main())
