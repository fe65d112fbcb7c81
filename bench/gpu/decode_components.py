"""Where each scenario's decode step goes, for the generic stack and its one-choice alternatives: the
component profile of one decode forward (engine/component_profile.py, what the search reads), and
the engine's decode step timed at the scenario's concurrency (device time of the forward, wall time
of the step). Every variant of a scenario runs in the same process, one after the other, on the same
random weights and prompts.

  python bench/gpu/decode_components.py --out decode_components.json \
      [--scenarios scenarios/mixtral-moe.yaml,...] [--steps 48]
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

REPO = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(REPO / "python-runtime"))
sys.path.insert(0, str(REPO / "bench" / "scenarios"))
from compare_stacks import generic_spec  # noqa: E402
from vibeserve_runtime.engine import Engine  # noqa: E402
from vibeserve_runtime.engine.step_profile import host_share_between  # noqa: E402
from vibeserve_runtime.types import Request, SamplingParams  # noqa: E402

DEFAULT_SCENARIOS = [
    "scenarios/mixtral-moe.yaml",
    "scenarios/hopper-kernels.yaml",
    "scenarios/llama-int8.yaml",
    "scenarios/custom-tokenizer-streaming.yaml",
]
# one-choice alternatives to the generic stack; each applies where the model has the dimension
VARIANTS = {
    "generic": {},
    "attention=triton_paged": {"attention": "triton_paged"},
    "moe=dense_decode": {"moe": "dense_decode"},
    "attention=triton_paged,moe=dense_decode": {"attention": "triton_paged", "moe": "dense_decode"},
    "moe=fused_tuned": {"moe": "fused_tuned"},
    "attention=triton_paged,moe=fused_tuned": {"attention": "triton_paged", "moe": "fused_tuned"},
    "linear=int8_weight_only": {"linear": "int8_weight_only"},
    "linear=fp8": {"linear": "fp8"},
}


def concurrency(sc: dict) -> int:
    a = sc["workload"].get("arrival") or {}
    return min(int(a.get("concurrency", 16)), 16)  # a Poisson scenario's batches reach the graphs' 16


def measure(spec: dict, batch: int, prompt_len: int, steps: int) -> dict:
    engine = Engine.from_spec(spec)
    vocab = engine.meta["vocab_size"]
    rng = random.Random(0)
    prompts = [[rng.randrange(3, min(vocab, 256)) for _ in range(prompt_len)] for _ in range(batch)]
    greedy = SamplingParams(max_tokens=steps + 8, temperature=0.0, ignore_eos=True)
    for i, p in enumerate(prompts):
        engine.add_request(Request(f"r{i}", p, greedy))
    while any(s.num_output_tokens == 0 for s in engine.seqs.values()):
        engine.step()  # prefill until every sequence decodes
    engine.profile_components_at_next_decode()
    engine.step()
    shares = engine.component_profile or {}
    for _ in range(4):
        engine.step()  # warm
    torch.cuda.synchronize()
    prof = engine.enable_profile()
    before = prof.snapshot()
    for _ in range(steps):
        engine.step()
    after = prof.snapshot()
    out = host_share_between(before, after)
    out["forward_ms"] = round(
        1e3 * (after["forward_s"] - before["forward_s"]) / max(1, after["steps"] - before["steps"]), 4
    )
    out.update(shares)
    del engine
    gc.collect()
    torch.cuda.empty_cache()
    return out


def main() -> int:
    ap = argparse.ArgumentParser()
    ap.add_argument("--out", required=True)
    ap.add_argument("--scenarios", default=",".join(DEFAULT_SCENARIOS))
    ap.add_argument("--steps", type=int, default=48)
    args = ap.parse_args()
    report = {
        "device": torch.cuda.get_device_name(),
        "torch": torch.__version__,
        "command": "python bench/gpu/decode_components.py " + " ".join(sys.argv[1:]).replace(args.out, "OUT.json"),
        "scenarios": {},
    }
    for path in args.scenarios.split(","):
        sc = yaml.safe_load((REPO / path).read_text())
        base = generic_spec(sc, "cuda")
        base["params"]["kv_cache_tokens"] = 65536  # room for the batch, without sizing the pool to the whole GPU
        batch, prompt_len = concurrency(sc), int(sc["workload"]["prompt_len"])
        rows = {}
        for name, change in VARIANTS.items():
            if "moe" in change and sc["model"]["arch"] != "mixtral":
                continue
            if "linear" in change and "linear" not in (sc.get("constraints") or {}):
                continue
            spec = {**base, "components": {**base["components"], **change}}
            t0 = time.perf_counter()
            try:
                rows[name] = measure(spec, batch, prompt_len, args.steps)
            except Exception as e:  # a variant that fails is reported, the others still run
                rows[name] = {"error": f"{type(e).__name__}: {str(e)[:300]}"}
            rows[name]["build_and_run_s"] = round(time.perf_counter() - t0, 1)
            print(f"{sc['name']:28s} {name:42s} {json.dumps(rows[name])}", file=sys.stderr)
        report["scenarios"][sc["name"]] = {
            "batch": batch,
            "prompt_len": prompt_len,
            "components": base["components"],
            "variants": rows,
        }
        Path(args.out).write_text(json.dumps(report, indent=2))
    print(json.dumps(report, indent=2))
    return 0


if __name__ == "__main__":
    sys.exit(main())
