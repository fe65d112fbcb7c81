"""One stack, one workload, measured by both paths that report its speed: the `bench` verb (what the
search ranks candidates by) and the side-by-side harness's stack process (bench/scenarios/
stack_child.py, what the results table reports). The two must agree within 10%.

  python bench/gpu/bench_vs_harness.py --stack <stack dir> --device cuda \
      --workload '{"num_prompts": 512, "input_len": 128, "output_len": 128, "range_ratio": 0, "max_concurrency": 256}' \
      [--kv-cache-tokens N] [--reps 3] [--out OUT.json]

Both run the same requests at the same concurrency and time a repetition alike: passes over fresh
seeded request sets (repetition r, pass k: seed offset bench.workload.pass_seed(r, k), token ids 0-2
left out) until they add up to the workload's min_duration_s (compare_stacks.timed_repetition), and
take the median of `--reps` repetitions. Both warm up by the one rule
(vibeserve_runtime.bench.workload.warmup_requests); each keeps its own KV pool: the verb sizes its
pool as the stack does (on a GPU, from free memory), the harness, with --kv-cache-tokens, takes the pool
compare_stacks.py gives every stack of a comparison. Per-repetition figures are printed, so a slow
first repetition (a cold path) shows up as such.
"""

from __future__ import annotations

import argparse
import json
import statistics
import sys
from pathlib import Path

REPO = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(REPO / "python-runtime"))
from vibeserve_runtime.bench.workload import Workload, warmup_requests  # noqa: E402
from vibeserve_runtime.cli.offline_bench import AVOID  # noqa: E402
from vibeserve_runtime.materialize import load_stack_dir  # noqa: E402

sys.path.insert(0, str(REPO / "bench" / "scenarios"))
from bench_verb import run_bench_verb  # noqa: E402
from compare_stacks import StackChild, timed_repetition  # noqa: E402

AGREEMENT = 0.10


def bench_verb(stack: Path, device: str, w: Workload) -> list[float]:
    return [r["output_throughput"] for r in run_bench_verb(stack, device, w)["repetitions"]]


def harness(stack: Path, device: str, w: Workload, kv_cache_tokens: int | None) -> list[float]:
    _, spec = load_stack_dir(stack)
    vocab = spec["model"]["config"].get("vocab_size") or _preset_vocab(spec["model"])
    warm = [[q.prompt_token_ids, q.max_tokens] for q in warmup_requests(w, vocab, AVOID)]
    child = StackChild(stack, device, warm, kv_cache_tokens)
    try:
        child.wait_ready(timeout=900)
        out = []
        for r in range(w.repetitions):
            out.append(timed_repetition(child, w, vocab, r, timeout_s=900)["output_throughput"])
        return out
    finally:
        child.close()


def _preset_vocab(model: dict) -> int:
    from vibeserve_runtime.models.presets import get_preset

    return get_preset(model["preset"])["vocab_size"] if model.get("preset") else 256


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--stack", required=True, type=Path)
    ap.add_argument("--device", default="cuda")
    ap.add_argument("--workload", default="{}", help="bench workload JSON (bench/workload.py)")
    ap.add_argument(
        "--kv-cache-tokens", type=int, help="the harness's pool (compare_stacks.py sizes one for all stacks)"
    )
    ap.add_argument("--reps", type=int, default=3)
    ap.add_argument("--out", type=Path)
    args = ap.parse_args()
    w = Workload.from_dict({**json.loads(args.workload), "repetitions": args.reps})
    verb = bench_verb(args.stack.resolve(), args.device, w)
    child = harness(args.stack.resolve(), args.device, w, args.kv_cache_tokens)
    ratio = statistics.median(verb) / statistics.median(child)
    result = {
        "stack": str(args.stack),
        "device": args.device,
        "workload": w.to_dict(),
        "kv_cache_tokens": args.kv_cache_tokens,
        "bench_verb_output_throughput": verb,
        "harness_output_throughput": child,
        "ratio_bench_over_harness": ratio,
        "agree": abs(ratio - 1) <= AGREEMENT,
    }
    print(json.dumps(result))
    if args.out:
        args.out.write_text(json.dumps(result, indent=2))
    return 0 if result["agree"] else 1


if __name__ == "__main__":
    sys.exit(main())
