"""Prefix caching on and off on a shared-prefix scenario: the scenario's generic stack twice, one
with `prefix_caching: false`, measured side by side by the runtime's bench verb (repetitions
interleaved). It shows the shared_prefix workload exercises the prefix cache: with it on, the
requests after a pass's first ones skip the shared prefix's prefill.

  python bench/scenarios/prefix_cache_ab.py scenarios/shared-prefix-chat.yaml --cpu \\
      [--prompt-len 512 --shared-prefix-len 448 --output-len 16 --num-requests 16 --concurrency 4] \\
      [--repetitions 3] [--work-dir .vibeserve/prefix-cache-ab] [--out result.json]

--cpu measures the scenario's CPU variant (prepare_scenario.py) on this machine; the length
options override its workload (the variant's 32-token prompts leave little prefix to skip).
"""

from __future__ import annotations

import argparse
import json
import shlex
import sys
from dataclasses import replace
from pathlib import Path
from statistics import median

import yaml

sys.path.insert(0, str(Path(__file__).resolve().parent))
from bench_verb import bench_verb_command, run_bench_verb  # noqa: E402
from prepare_scenario import cpu_variant, resolve_paths  # noqa: E402
from scenario_stacks import REPO, device_of, generic_spec, materialize, scenario_workload  # noqa: E402


def scenario_for(args) -> dict:
    sc = resolve_paths(yaml.safe_load(Path(args.scenario).read_text()))
    if args.cpu:
        sc = cpu_variant(sc)
    w = sc["workload"]
    for key, value in (
        ("prompt_len", args.prompt_len),
        ("shared_prefix_len", args.shared_prefix_len),
        ("output_len", args.output_len),
        ("num_requests", args.num_requests),
    ):
        if value is not None:
            w[key] = value
    if args.concurrency is not None:
        w["arrival"] = {"kind": "max_concurrency", "concurrency": args.concurrency}
    return sc


def stacks_for(sc: dict, work_dir: Path) -> dict[str, Path]:
    device = device_of(sc)
    dirs = {}
    for name, on in (("prefix_caching_on", True), ("prefix_caching_off", False)):
        spec = generic_spec(sc, device)
        spec["name"] = f"{sc['name']}-{name}"
        spec["params"]["prefix_caching"] = on
        dirs[name] = materialize(spec, work_dir / name)
    return dirs


def bench(sc: dict, dirs: dict[str, Path], repetitions: int) -> dict:
    """Every stack by one bench verb run, interleaved; each repetition lasts the workload's
    min_duration_s at least (fresh request sets, each with a prefix of its own)."""
    w = replace(scenario_workload(sc), repetitions=repetitions)
    first, *others = dirs.values()
    result = run_bench_verb(first, device_of(sc), w, tuple(others))
    return {
        "command": shlex.join(bench_verb_command(first, device_of(sc), w, tuple(others))),
        "workload": w.to_dict(),
        "stacks": dict(zip(dirs, result["stacks"])),
    }


def summary(stack: dict) -> dict:
    """Medians over the repetitions with their min-max, and the prefix cache's hit rate over the
    whole run (the engine counts warm-up and timed passes alike)."""
    reps = stack["repetitions"]

    def spread(metric: str) -> dict:
        xs = [r[metric] for r in reps]
        return {"median": median(xs), "min": min(xs), "max": max(xs)}

    stats = stack.get("engine_stats") or {}
    queried = stats.get("prefix_cache_query_tokens") or 0
    return {
        "output_throughput": spread("output_throughput"),
        "median_ttft_ms": spread("median_ttft_ms"),
        "p99_ttft_ms": spread("p99_ttft_ms"),
        "prefix_cache_hit_rate": (stats.get("prefix_cache_hit_tokens", 0) / queried) if queried else None,
    }


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("scenario")
    ap.add_argument("--cpu", action="store_true", help="the scenario's CPU variant (prepare_scenario.py)")
    ap.add_argument("--prompt-len", type=int)
    ap.add_argument("--shared-prefix-len", type=int)
    ap.add_argument("--output-len", type=int)
    ap.add_argument("--num-requests", type=int)
    ap.add_argument("--concurrency", type=int)
    ap.add_argument("--repetitions", type=int, default=3)
    ap.add_argument("--work-dir", default=str(REPO / ".vibeserve" / "prefix-cache-ab"))
    ap.add_argument("--out", help="also write the JSON result to this file")
    args = ap.parse_args()
    sc = scenario_for(args)
    run = bench(sc, stacks_for(sc, Path(args.work_dir)), args.repetitions)
    out = {**run, "summary": {name: summary(s) for name, s in run["stacks"].items()}}
    if args.out:
        Path(args.out).write_text(json.dumps(out, indent=2, default=str))
    for name, s in out["summary"].items():
        tput, ttft = s["output_throughput"], s["median_ttft_ms"]
        hit = s["prefix_cache_hit_rate"]
        print(
            f"{name}: {tput['median']:.1f} output tok/s ({tput['min']:.1f}-{tput['max']:.1f}), "
            f"median TTFT {ttft['median']:.1f} ms ({ttft['min']:.1f}-{ttft['max']:.1f}), "
            f"prefix cache hit rate {'-' if hit is None else f'{hit:.2f}'}"
        )


if __name__ == "__main__":
    main()
