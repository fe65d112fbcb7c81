"""One stack, one workload, measured by both paths that report its speed: the `bench` verb (what the
search ranks candidates by) and the side-by-side harness's stack process (bench/scenarios/
stack_child.py, what the results table reports). The two must agree within 10%.

  python bench/gpu/bench_vs_harness.py [--stack <stack dir> | --scenario scenarios/gpt2-chat.yaml] --device cuda \
      --workload '{"num_prompts": 512, "input_len": 128, "output_len": 128, "range_ratio": 0, "max_concurrency": 256}' \
      [--kv-cache-tokens N] [--reps 3] [--out OUT.json]

Both run the same requests at the same concurrency and time a repetition alike: passes over fresh
seeded request sets (repetition r, pass k: seed offset bench.workload.pass_seed(r, k), token ids 0-2
left out) until they add up to the workload's min_duration_s (compare_stacks.timed_repetition), and
take the median of `--reps` repetitions, interleaved: round r runs the verb (a fresh process, as the search
runs it) and then one harness repetition (its process stays up), both on the request sets of seed
workload.seed + r, the order alternating by round. Both warm up alike: the verb's warm-up pass
(compare_stacks.warm_up runs the same one in the harness's process); each keeps its own KV pool: the verb sizes its
pool as the stack does (on a GPU, from free memory), the harness takes the pool compare_stacks.py gives
every stack of a comparison (or --kv-cache-tokens): bounded, so the verb's process finds memory beside it. Per-repetition figures are printed, so a slow
first repetition (a cold path) shows up as such.
"""

from __future__ import annotations

import argparse
import json
import shlex
import statistics
import sys
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(REPO / "python-runtime"))
from vibeserve_runtime.bench.workload import Workload  # noqa: E402
from vibeserve_runtime.cli.offline_bench import capture_cap_for  # noqa: E402
from vibeserve_runtime.materialize import load_stack_dir  # noqa: E402
from vibeserve_runtime.models.presets import vocab_size_of  # noqa: E402

sys.path.insert(0, str(REPO / "bench" / "scenarios"))
from bench_verb import run_bench_verb  # noqa: E402
from compare_stacks import StackChild, equal_kv_cache_tokens, timed_repetition, warm_up  # noqa: E402

AGREEMENT = 0.10


def spread(xs: list[float]) -> dict:
    return {"median": statistics.median(xs), "min": min(xs), "max": max(xs), "n": len(xs)}


def verb_repetition(stack: Path, device: str, w: Workload) -> float:
    """One repetition of the bench verb, in its own process as a search runs it."""
    one = Workload.from_dict({**w.to_dict(), "repetitions": 1})
    return run_bench_verb(stack, device, one)["repetitions"][0]["output_throughput"]


def start_harness(stack: Path, device: str, w: Workload, kv_cache_tokens: int | None) -> tuple[StackChild, int]:
    """The harness's stack process, loaded and then warmed up by the verb's own warm-up pass only, as
    the verb's process is (no warm-up generate() in the child before it)."""
    _, spec = load_stack_dir(stack)
    vocab = vocab_size_of(spec["model"])
    child = StackChild(stack, device, [], kv_cache_tokens, capture_cap_for(w))
    child.wait_ready(timeout=900)
    warm_up(child, w, vocab, timeout_s=900)
    return child, vocab


def interleaved(stack: Path, device: str, w: Workload, kv_cache_tokens: int | None) -> tuple[list, list]:
    """`w.repetitions` rounds; round r measures both paths on the request sets of seed w.seed + r."""
    child, vocab = start_harness(stack, device, w, kv_cache_tokens)
    verb, harness = [], []
    try:
        for r in range(w.repetitions):
            wr = Workload.from_dict({**w.to_dict(), "seed": w.seed + r})
            steps = [
                lambda: verb.append(verb_repetition(stack, device, wr)),
                lambda: harness.append(timed_repetition(child, wr, vocab, 0, timeout_s=900)["output_throughput"]),
            ]
            for step in steps if r % 2 == 0 else steps[::-1]:
                step()
            print(json.dumps({"round": r, "bench_verb": verb[-1], "harness": harness[-1]}), flush=True)
    finally:
        child.close()
    return verb, harness


def scenario_generic_stack(scenario: Path, device: str, w: Workload, work: Path) -> Path:
    """The scenario's generic stack, sized for the workload's longest request and holding all its clients."""
    import yaml
    from scenario_stacks import generic_spec, materialize

    sc = yaml.safe_load(scenario.read_text())
    longest_prompt = w.length_range(w.input_len)[1]
    sc["workload"] = {
        **sc["workload"],
        "prompt_len": longest_prompt,
        "output_len": w.longest_sequence() - longest_prompt,
    }
    spec = generic_spec(sc, device)
    spec["params"]["max_batch_size"] = max(int(spec["params"].get("max_batch_size") or 0), w.max_concurrency or 0)
    return materialize(spec, work / "stack")


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    which = ap.add_mutually_exclusive_group(required=True)
    which.add_argument("--stack", type=Path)
    which.add_argument("--scenario", type=Path, help="measure this scenario's generic stack, materialized here")
    ap.add_argument("--device", default="cuda")
    ap.add_argument("--workload", default="{}", help="bench workload JSON (bench/workload.py)")
    ap.add_argument(
        "--kv-cache-tokens", type=int, help="the harness's pool (compare_stacks.py sizes one for all stacks)"
    )
    ap.add_argument("--reps", type=int, default=3)
    ap.add_argument("--out", type=Path)
    args = ap.parse_args()
    w = Workload.from_dict({**json.loads(args.workload), "repetitions": args.reps})
    started = time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime())
    with tempfile.TemporaryDirectory(prefix="bench-vs-harness-") as work:
        stack = (args.stack or scenario_generic_stack(args.scenario, args.device, w, Path(work))).resolve()
        # The harness's process stays up while the verb's runs: on a GPU it must not size its pool from
        # free memory, or the verb finds none left (it ran out of memory capturing its CUDA graphs).
        kv_tokens = args.kv_cache_tokens or (equal_kv_cache_tokens([stack], w) if args.device == "cuda" else None)
        verb, child = interleaved(stack, args.device, w, kv_tokens)
    ratio = statistics.median(verb) / statistics.median(child)
    from scenario_stacks import device_name

    result = {
        "command": shlex.join(["python3", *sys.argv]),
        "started": started,
        "stack": str(args.stack) if args.stack else f"{args.scenario}: generic stack",
        "device": device_name(args.device),
        "workload": w.to_dict(),
        "kv_cache_tokens": kv_tokens,
        "bench_verb_output_throughput": verb,
        "harness_output_throughput": child,
        "ratio_bench_over_harness": ratio,
        "agree": abs(ratio - 1) <= AGREEMENT,
        "bench_verb": spread(verb),
        "harness": spread(child),
    }
    print(json.dumps(result))
    if args.out:
        args.out.write_text(json.dumps(result, indent=2))
    return 0 if result["agree"] else 1


if __name__ == "__main__":
    sys.exit(main())
