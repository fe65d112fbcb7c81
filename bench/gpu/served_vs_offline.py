"""Served vs offline: one stack and one workload, measured by its engine in-process (the `bench` verb,
what a search ranks candidates by) and behind its own OpenAI-compatible server over HTTP/SSE
(`serve` + the runtime's load generator, vLLM `bench serve` semantics), with the same requests.
The target (issue 18, item 2: a server that keeps up): served output tok/s >= 0.9 x offline.

  python bench/gpu/served_vs_offline.py --device cuda [--stack DIR | --scenario scenarios/gpt2-chat.yaml] \
      [--shape 128/128 | --shape 896/128] [--concurrency 256] [--num-prompts 512] [--reps 3] \
      [--serve-arg=--some-flag ...] [--out OUT.json]

Without --stack, the scenario's generic stack (the design space's `generic` overlay, as a search
starts from) is materialized for the shape (max_model_len = prompt + output); --preset swaps the
model preset, so the script also runs on a CPU at tiny shapes:

  OMP_NUM_THREADS=1 python bench/gpu/served_vs_offline.py --device cpu --preset tiny-gpt2 --shape 32/64

Both sides get the same requests (repetition r: the bench verb's seeded set r, fixed lengths,
token ids 0-2 left out), the same warm-up set (repetition 0's shapes, other token ids, at the
same concurrency, so every batch size up to it is hit) and the same context length (the server is
given the stack's max_model_len, not the model's). Offline runs first, then the server is started;
neither shares the device with the other. Each side reports the median of --reps repetitions with
min-max; the JSON records the exact command, per-repetition figures and the ratio, and (on Linux)
each served repetition's CPU seconds of the server process and of its engine process (`cpu_s`): the
one whose CPU time keeps pace with the wall clock is the one the served path waits on.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import shlex
import statistics
import sys
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(REPO / "python-runtime"))
sys.path.insert(0, str(REPO / "bench" / "scenarios"))
from vibeserve_runtime.bench.metrics import compute_metrics  # noqa: E402
from vibeserve_runtime.bench.online import run_online  # noqa: E402
from vibeserve_runtime.bench.workload import (  # noqa: E402
    Workload,
    arrival_offsets,
    pass_seed,
    timed_pass,
    warmup_requests,
)
from vibeserve_runtime.cli.offline_bench import AVOID  # noqa: E402
from vibeserve_runtime.materialize import load_stack_dir  # noqa: E402
from bench_verb import run_bench_verb, runtime_env  # noqa: E402
from served_engines import EngineServer, vibeserve_server  # noqa: E402

TARGET = 0.9
KEY = (
    "output_throughput",
    "median_tpot_ms",
    "median_ttft_ms",
    "median_itl_ms",
    "p99_itl_ms",
    "completed",
    "failed",
    "duration_s",
)


def default_stack(args, work: Path) -> Path:
    """The scenario's generic stack for the device, sized for the shape (and --preset's model)."""
    import yaml
    from scenario_stacks import generic_spec, materialize

    sc = (
        yaml.safe_load((REPO / args.scenario).read_text())
        if not Path(args.scenario).is_absolute()
        else yaml.safe_load(Path(args.scenario).read_text())
    )
    n_in, n_out = args.input_len, args.output_len
    sc["workload"] = {**sc["workload"], "prompt_len": n_in, "output_len": n_out}
    if args.preset:
        sc["model"] = {
            **sc["model"],
            "preset": args.preset,
            "config": {},
            **({"dtype": "float32"} if args.device == "cpu" else {}),
        }
    spec = generic_spec(sc, args.device)
    # the batch holds every client: a smaller cap would queue requests on both sides alike, but
    # would no longer measure the concurrency asked for
    spec["params"]["max_batch_size"] = max(int(spec["params"].get("max_batch_size") or 0), args.concurrency)
    return materialize(spec, work / "stack")


def summary(runs: list[dict]) -> dict:
    """Per key metric: median with min-max over the repetitions."""
    out = {}
    for k in KEY:
        vals = [r[k] for r in runs if isinstance(r.get(k), (int, float)) and r[k] == r[k]]
        if vals:
            out[k] = {"median": statistics.median(vals), "min": min(vals), "max": max(vals), "n": len(vals)}
    return out


def offline(stack: Path, device: str, w: Workload) -> list[dict]:
    """The bench verb (each stack's own engine in a child, timed in-process), one pass per repetition."""
    return [{k: r.get(k) for k in KEY} for r in run_bench_verb(stack, device, w)["repetitions"]]


def process_cpu_s(pid: int) -> dict[str, float]:
    """CPU seconds so far of the server process and of each of its children (the engine process),
    from /proc (Linux; {} elsewhere): a process whose CPU time keeps pace with the wall clock is
    the one the served path waits on."""
    tick = os.sysconf("SC_CLK_TCK")

    def cpu(p: int) -> float:
        fields = Path(f"/proc/{p}/stat").read_text().rsplit(")", 1)[1].split()
        return (int(fields[11]) + int(fields[12])) / tick

    try:
        kids = [int(k) for k in Path(f"/proc/{pid}/task/{pid}/children").read_text().split()]
        return {"server": cpu(pid), **{f"child_{k}": cpu(k) for k in kids}}
    except (OSError, ValueError, IndexError):
        return {}


def server_ttft(url: str) -> tuple[float, float]:
    """The server's own time-to-first-token histogram (sum of seconds, count), from /metrics: measured
    from the request's parsed body to its first token, so the client's TTFT minus it is what the
    HTTP path (connection, request parsing, SSE delivery) and the load generator add."""
    import urllib.request

    with urllib.request.urlopen(url + "/metrics", timeout=10) as r:
        text = r.read().decode()
    found = {}
    for line in text.splitlines():
        name, _, value = line.partition(" ")
        if name in ("vibeserve:time_to_first_token_seconds_sum", "vibeserve:time_to_first_token_seconds_count"):
            found[name.rsplit("_", 1)[1]] = float(value)
    return found.get("sum", 0.0), found.get("count", 0.0)


def served(
    stack: Path, device: str, w: Workload, vocab: int, max_model_len: int, serve_args: list[str], log_dir: Path
) -> tuple[list[dict], dict]:
    """`serve` for the stack, warmed up with the bench verb's warm-up set, then one pass per repetition."""
    srv: EngineServer = vibeserve_server(
        "served", stack, log_dir, max_queue=max(w.num_prompts, 256), max_model_len=max_model_len
    )
    srv.command += ["--device", device, *serve_args]
    srv.env = runtime_env()
    srv.start()
    try:
        srv.wait_healthy(timeout_s=900)

        def one_pass(reqs, seed_offset: int) -> dict:
            before, ttft_before = process_cpu_s(srv.proc.pid), server_ttft(srv.url)
            recs, dur = asyncio.run(
                run_online(srv.url, "served", reqs, arrival_offsets(w, len(reqs), seed_offset), w.max_concurrency)
            )
            after, ttft_after = process_cpu_s(srv.proc.pid), server_ttft(srv.url)
            cpu = {k: round(after[k] - before[k], 3) for k in after if k in before}
            m = compute_metrics(recs, dur) | ({"cpu_s": cpu} if cpu else {})
            ttfts = [r.ttft_s for r in recs if r.success]
            m["mean_ttft_ms"] = 1e3 * statistics.mean(ttfts) if ttfts else None
            served_n = ttft_after[1] - ttft_before[1]
            m["server_mean_ttft_ms"] = 1e3 * (ttft_after[0] - ttft_before[0]) / served_n if served_n else None
            return m

        for _ in range(max(1, w.warmups)):
            one_pass(warmup_requests(w, vocab, AVOID), pass_seed(0, 0))
        runs = []
        for r in range(w.repetitions):
            m = one_pass(timed_pass(w, vocab, r, 0, AVOID), pass_seed(r, 0))
            runs.append(
                {k: m.get(k) for k in (*KEY, "mean_ttft_ms", "server_mean_ttft_ms", "cpu_s", "errors") if k in m}
            )
            print(
                f"served repetition {r + 1}: {m['output_throughput']:.1f} output tok/s, "
                f"median TPOT {m['median_tpot_ms']:.2f} ms, mean TTFT {m['mean_ttft_ms']:.1f} ms "
                f"(in the server {m['server_mean_ttft_ms'] or 0:.1f} ms), CPU s {m.get('cpu_s')}",
                file=sys.stderr,
            )
        return runs, {"command": shlex.join(srv.command), "load_s": srv.load_s}
    finally:
        srv.stop()


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--stack", help="stack directory (default: the scenario's generic stack, materialized)")
    ap.add_argument("--scenario", default="scenarios/gpt2-chat.yaml")
    ap.add_argument("--preset", help="model preset instead of the scenario's (e.g. tiny-gpt2 on a CPU)")
    ap.add_argument("--device", choices=["cpu", "cuda"], default="cuda")
    ap.add_argument("--shape", default="128/128", help="prompt/output tokens of every request (896/128 saturates)")
    ap.add_argument("--concurrency", type=int, default=256, help="streaming clients in flight")
    ap.add_argument("--num-prompts", type=int, default=512)
    ap.add_argument("--reps", type=int, default=3)
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--skip-offline", action="store_true", help="only the served side (A/B of server builds)")
    ap.add_argument("--serve-arg", action="append", default=[], help="an extra `serve` argument (repeatable)")
    ap.add_argument("--out", help="write the JSON result here (also printed)")
    args = ap.parse_args()
    args.input_len, args.output_len = (int(x) for x in args.shape.split("/"))

    w = Workload(
        dataset="fixed",
        num_prompts=args.num_prompts,
        input_len=args.input_len,
        output_len=args.output_len,
        range_ratio=0.0,
        max_concurrency=args.concurrency,
        warmups=1,
        repetitions=args.reps,
        min_duration_s=0.0,
        seed=args.seed,
    )
    work = Path(tempfile.mkdtemp(prefix="served-vs-offline-"))
    stack = Path(args.stack) if args.stack else default_stack(args, work)
    _, spec = load_stack_dir(stack)
    from scenario_stacks import device_name
    from vibeserve_runtime.models.presets import vocab_size_of

    vocab = vocab_size_of(spec["model"])
    max_model_len = int(spec["params"].get("max_model_len") or args.input_len + args.output_len)

    out: dict = {
        "command": shlex.join([sys.executable, *sys.argv]),
        "device": device_name(args.device),
        "stack": str(stack),
        "spec": spec,
        "workload": w.to_dict(),
        "target_ratio": TARGET,
        "env": {k: os.environ[k] for k in ("OMP_NUM_THREADS", "CUDA_VISIBLE_DEVICES") if k in os.environ},
        "started": time.strftime("%Y-%m-%dT%H:%M:%S%z"),
    }
    if not args.skip_offline:
        runs = offline(stack, args.device, w)
        out["offline"] = {"repetitions": runs, **summary(runs)}
        print(f"offline: {out['offline']['output_throughput']['median']:.1f} output tok/s", file=sys.stderr)
    runs, how = served(stack, args.device, w, vocab, max_model_len, args.serve_arg, work / "logs")
    out["served"] = {"repetitions": runs, **summary(runs), **how}
    if "offline" in out:
        off, srv = out["offline"]["output_throughput"], out["served"]["output_throughput"]
        out["ratio"] = {
            "median": srv["median"] / off["median"],
            "min": srv["min"] / off["max"],
            "max": srv["max"] / off["min"],
        }
        out["meets_target"] = out["ratio"]["median"] >= TARGET
        out["figures"] = {  # the headline figures (scripts/results-table.ts shows these)
            "offline_output_throughput": off["median"],
            "served_output_throughput": srv["median"],
            "served_over_offline_ratio": out["ratio"]["median"],
            "offline_median_ttft_ms": out["offline"]["median_ttft_ms"]["median"],
            "served_median_ttft_ms": out["served"]["median_ttft_ms"]["median"],
        }
    text = json.dumps(out, indent=2, default=str)
    if args.out:
        Path(args.out).parent.mkdir(parents=True, exist_ok=True)
        Path(args.out).write_text(text)
    print(text)
    return 0


if __name__ == "__main__":
    sys.exit(main())
