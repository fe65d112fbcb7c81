"""Side-by-side measurement of one scenario: naive transformers `generate`, the generic stack and
the searched best stack, in one process, interleaved, with the runtime's bench library.

  python bench/scenarios/compare_stacks.py --scenario scenarios/gpt2-chat.yaml \
      --search-json .vibeserve/artifacts/<searchId>/search.json --out bench/results/gpt2-chat.json

- generic: the design space's generic stack (vLLM's defaults in the library's terms, see
  docs/generic-stack.md), materialized here from the scenario, like any candidate.
- searched: the search's best accepted candidate (leaderboard[0] of search.json).
- hf-generate: transformers `generate`, one request at a time, on the first --hf-prompts requests
  of each repetition (it is sequential; its per-request figures do not depend on the count).
Both engines stay loaded in their own processes (bench/scenarios/stack_child.py, the stack's own
code) with one KV pool size on a GPU; every repetition runs all stacks on the same requests, in a rotating order, so drift in
clocks or temperature hits every stack alike. The output JSON is rewritten after every repetition,
so a run cut short still leaves its figures.
"""

from __future__ import annotations

import argparse
import json
import queue
import shlex
import statistics
import subprocess
import sys
import threading
import time
from pathlib import Path
from typing import Any

import yaml

from vibeserve_runtime.bench.hf_baseline import build_baseline_model, run_hf_generate
from vibeserve_runtime.bench.metrics import compute_metrics
from vibeserve_runtime.bench.repetition import repeat_until
from vibeserve_runtime.bench.workload import (
    Workload,
    arrival_offsets,
    make_requests,
    pass_payload,
    pass_seed,
    timed_pass,
    warmup_requests,
)
from vibeserve_runtime.checker.integrity import integrity_report
from vibeserve_runtime.cli.offline_bench import AVOID, capture_cap_for, metrics_of_passes, records_of_pass
from vibeserve_runtime.cli.candidate_process import candidate_env
from vibeserve_runtime.materialize import load_stack_dir
from vibeserve_runtime.models.presets import vocab_size_of

sys.path.insert(0, str(Path(__file__).resolve().parent))  # bench/scenarios is not a package
from scenario_stacks import (  # noqa: E402
    device_name,
    generic_spec,
    kv_cache_tokens_for,
    materialize,
    scenario_workload,
)

REPO = Path(__file__).resolve().parents[2]
CHILD = Path(__file__).resolve().parent / "stack_child.py"
STACKS = ("hf-generate", "generic", "searched")
# Scenario 1 must not lose to the generic stack; the others aim at the paper's range.
TARGETS = {"gpt2-chat": 1.0, "multi-gpu-tp": 1.2}
DEFAULT_TARGET = 1.5


def equal_kv_cache_tokens(stack_dirs, w: Workload) -> int | None:
    """One pool size for every stack, from the workload's peak of sequences in flight."""
    lens = []
    peak = 0
    for d in stack_dirs:
        _, spec = load_stack_dir(d)
        p = spec["params"]
        if p.get("max_model_len") and p.get("max_batch_size"):
            lens.append(int(p["max_model_len"]))
            peak = max(peak, min(int(p["max_batch_size"]), w.max_concurrency or w.num_prompts))
    return kv_cache_tokens_for(peak, max(lens)) if lens else None


class StackChild:
    """A stack's engine in its own process (the stack's code), answering one repetition at a time."""

    def __init__(
        self,
        stack_dir: Path,
        device: str,
        warmup: list,
        kv_cache_tokens: int | None = None,
        capture_cap: int | None = None,
    ):
        self.stack_dir = stack_dir
        cmd = [sys.executable, str(CHILD), "--stack", str(stack_dir), "--device", device]
        if kv_cache_tokens:
            cmd += ["--kv-cache-tokens", str(kv_cache_tokens)]
        if capture_cap:  # the workload's largest decode batch: graphs up to it, as the bench verb captures
            cmd += ["--capture-cap", str(capture_cap)]
        self.proc = subprocess.Popen(
            cmd,
            cwd=stack_dir,
            env=candidate_env(stack_dir),
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            stderr=None,
            text=True,
            bufsize=1,
        )
        self.proc.stdin.write(json.dumps({"warmup": warmup}) + "\n")
        self.proc.stdin.flush()
        self.lines: queue.Queue = queue.Queue()
        threading.Thread(target=self._read, daemon=True).start()
        self.ready: dict | None = None

    def _read(self) -> None:
        for line in self.proc.stdout:
            self.lines.put(line)
        self.lines.put(None)

    def _next(self, timeout: float) -> dict:
        try:
            line = self.lines.get(timeout=max(1.0, timeout))
        except queue.Empty:
            raise TimeoutError(f"no answer from the stack process within {timeout:.0f}s")
        if line is None:
            raise RuntimeError(f"the stack process exited with code {self.proc.wait()} (its log is above, on stderr)")
        return json.loads(line)

    def wait_ready(self, timeout: float) -> dict:
        self.ready = self._next(timeout)
        return self.ready

    def run(self, rep: dict, timeout: float) -> dict:
        self.proc.stdin.write(json.dumps(rep) + "\n")
        self.proc.stdin.flush()
        return self._next(timeout)["rep"]

    def close(self) -> None:
        if self.proc.poll() is None:
            try:
                self.proc.stdin.write('{"stop": true}\n')
                self.proc.stdin.flush()
                self.proc.wait(timeout=30)
            except Exception:
                self.proc.kill()


def warm_up(child: StackChild, w: Workload, vocab: int, timeout_s: float) -> None:
    """Untimed: the bench verb's own warm-up pass (cli/candidate_cmd.py bench_offline), the same
    requests at the same concurrency, so every batch size and prompt length the repetitions hit has
    run in both paths before either is timed."""
    payload = pass_payload(w, warmup_requests(w, vocab, AVOID), pass_seed(0, 0))
    for _ in range(w.warmups):
        child.run({**payload, "max_concurrency": w.max_concurrency}, timeout_s)


def timed_repetition(child: StackChild, w: Workload, vocab: int, r: int, timeout_s: float) -> dict:
    """Repetition r of a stack process, timed as the bench verb times it (bench/repetition.py): passes over
    fresh seeded request sets until they add up to w.min_duration_s, the metrics taken over all of them.
    A single pass of a fast stack lasts under a second, and one such pass is mostly noise."""

    def one_pass(k: int) -> dict:
        reqs = timed_pass(w, vocab, r, k, AVOID)
        t0 = time.perf_counter()
        rep = child.run(
            {
                "requests": [[q.prompt_token_ids, q.max_tokens] for q in reqs],
                "arrivals": arrival_offsets(w, len(reqs), pass_seed(r, k)),
                "max_concurrency": w.max_concurrency,
            },
            timeout_s,
        )
        wall = time.perf_counter() - t0
        if rep["duration_s"] > wall:  # the stack's clock cannot run faster than ours
            raise RuntimeError(f"stack reported {rep['duration_s']:.2f}s inside {wall:.2f}s of wall time")
        records, duration = records_of_pass(rep)
        return {"records": records, "duration_s": duration, "steps": rep.get("steps")}

    passes = repeat_until(w.min_duration_s, one_pass)
    steps = [p["steps"] for p in passes if isinstance(p["steps"], (int, float))]
    return metrics_of_passes(passes) | {"engine_steps": sum(steps) if steps else None}


def summarize(runs: list[dict]) -> dict[str, dict[str, float]]:
    """median, min and max of every numeric metric over the repetitions."""
    out: dict[str, dict[str, float]] = {}
    for k in runs[0] if runs else []:
        vals = [
            r[k] for r in runs if isinstance(r.get(k), (int, float)) and not isinstance(r.get(k), bool) and r[k] == r[k]
        ]
        if vals:
            out[k] = {"median": statistics.median(vals), "min": min(vals), "max": max(vals), "n": len(vals)}
    return out


def search_summary(search_json: Path) -> dict[str, Any]:
    d = json.loads(search_json.read_text())
    lb, rej = d.get("leaderboard") or [], d.get("rejected") or []
    best = lb[0] if lb else None
    wall = None
    if d.get("startedAt") and d.get("finishedAt"):
        from datetime import datetime

        t = lambda s: datetime.fromisoformat(s.replace("Z", "+00:00")).timestamp()
        wall = t(d["finishedAt"]) - t(d["startedAt"])
    accepted = sum(r.get("accepted", 0) for r in d.get("rounds") or []) or len(lb)
    rejected_n = sum(r.get("rejected", 0) for r in d.get("rounds") or []) or len(rej)
    return {
        "search_id": d.get("searchId"),
        "status": d.get("status"),
        "failure": d.get("failure"),
        "rounds": len(d.get("rounds") or []),
        "candidates_evaluated": accepted + rejected_n,
        "accepted": accepted,
        "rejected": [
            {
                "candidate": r.get("candidateId"),
                "stage": r.get("stage"),
                "reason": r.get("reason"),
                "message": r.get("message"),
            }
            for r in rej
        ],
        "wall_time_s": wall,
        "best_candidate": best and best.get("candidateId"),
        "best_design": best
        and {
            "choices": best["design"].get("choices"),
            "params": best["design"].get("params"),
            "origin": best["design"].get("origin"),
        },
        "best_objective_in_search": best and best.get("objective"),
        "baseline_objective_in_search": (d.get("baseline") or {}).get("objective"),
        "search_json": str(search_json),
        "_best_stack_dir": str(search_json.parent / best["stackDir"]) if best and best.get("stackDir") else None,
    }


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--scenario", required=True)
    ap.add_argument("--search-json", help="the search's search.json; without it only hf-generate and generic run")
    ap.add_argument("--out", required=True)
    ap.add_argument("--reps", type=int, default=3)
    ap.add_argument("--device", help="cpu or cuda (default: from the scenario's hardware)")
    ap.add_argument("--device-name", help="the GPU's name as nvidia-smi prints it")
    ap.add_argument("--max-prompts", type=int, help="cap the engines' requests per repetition")
    ap.add_argument("--hf-prompts", type=int, default=8, help="requests per repetition for hf-generate")
    ap.add_argument("--time-budget-s", type=float, default=360.0, help="no new repetition starts past this")
    ap.add_argument(
        "--sweep",
        default="1,4,16,64",
        help="max concurrencies for a throughput-vs-concurrency sweep of the engines, one pass each, "
        "all requests at once; run only while the time budget lasts ('' for none)",
    )
    ap.add_argument("--run-command", help="the command line that started the whole run (recorded)")
    ap.add_argument("--work-dir", default=str(REPO / ".vibeserve" / "compare"))
    args = ap.parse_args()
    t_start = time.monotonic()
    deadline = t_start + args.time_budget_s

    sc = yaml.safe_load(Path(args.scenario).read_text())
    device = args.device or ("cpu" if sc.get("hardware", {}).get("kind", "cpu") == "cpu" else "cuda")
    objective = sc.get("objective", "output_throughput")
    lower_better = objective.endswith("_ms")
    w = scenario_workload(sc, args.max_prompts)
    out_path = Path(args.out)
    out_path.parent.mkdir(parents=True, exist_ok=True)
    result: dict[str, Any] = {
        "scenario": sc["name"],
        "scenario_file": args.scenario,
        "description": sc.get("description"),
        "device": args.device_name or device_name(device),
        "device_kind": device,
        "command": args.run_command or " ".join(shlex.quote(a) for a in sys.argv),
        "compare_command": " ".join(shlex.quote(a) for a in [sys.executable, *sys.argv]),
        "model": sc["model"],
        "objective": objective,
        "objective_direction": "lower" if lower_better else "higher",
        "workload": w.to_dict(),
        "hf_generate_prompts": min(args.hf_prompts, w.num_prompts),
        "target": {"ratio_vs_generic": TARGETS.get(sc["name"], DEFAULT_TARGET)},
        "search": None,
        "stacks": {},
        "ratio_vs_generic": None,
        "ratio_vs_hf_generate": None,
        "errors": [],
        "complete": False,
    }

    def save() -> None:
        tmp = out_path.with_suffix(".tmp")
        tmp.write_text(json.dumps(result, indent=2, default=str))
        tmp.replace(out_path)

    stack_dirs: dict[str, Path] = {}
    if args.search_json and Path(args.search_json).is_file():
        s = search_summary(Path(args.search_json))
        best_dir = s.pop("_best_stack_dir")
        result["search"] = s
        if best_dir:
            stack_dirs["searched"] = Path(best_dir)
        else:
            result["errors"].append({"stack": "searched", "error": "the search has no accepted candidate"})
    else:
        result["errors"].append(
            {"stack": "searched", "error": f"no search.json ({args.search_json}); the search did not finish"}
        )
    try:
        stack_dirs["generic"] = materialize(generic_spec(sc, device), Path(args.work_dir) / sc["name"] / "generic")
    except Exception as e:
        result["errors"].append({"stack": "generic", "error": str(e)})
    save()

    _, spec0 = load_stack_dir(next(iter(stack_dirs.values()))) if stack_dirs else (None, None)
    model_spec = spec0["model"] if spec0 else generic_spec(sc, device)["model"]
    vocab = vocab_size_of(model_spec)
    # the child builds its engine and compiles on two requests; the workload's own shapes come after
    warm = [
        [q.prompt_token_ids, q.max_tokens]
        for q in make_requests(Workload(**{**w.to_dict(), "num_prompts": 2}), vocab, 10_000)
    ]

    # One KV pool size for every stack: they load at the same time, so sizing each from free GPU
    # memory would hand most of it to whichever starts first and leave the two on unequal footing.
    kv_tokens = equal_kv_cache_tokens(stack_dirs.values(), w) if device == "cuda" else None
    result["kv_cache_tokens"] = kv_tokens
    children: dict[str, StackChild] = {}
    for name in ("generic", "searched"):
        if name in stack_dirs:
            integ = integrity_report(stack_dirs[name])
            if not integ["passed"]:
                result["errors"].append({"stack": name, "error": f"integrity: {integ['detail']}"})
                continue
            # both load while hf loads
            children[name] = StackChild(stack_dirs[name], device, warm, kv_tokens, harness_capture_cap(w, args.sweep))
    hf_model = None
    try:
        t0 = time.perf_counter()
        hf_model = build_baseline_model(model_spec, device)
        run_hf_generate(hf_model, make_requests(Workload(**{**w.to_dict(), "num_prompts": 1}), vocab, 10_001), device)
        result["stacks"]["hf-generate"] = {
            "mode": "baseline:hf-generate",
            "load_s": time.perf_counter() - t0,
            "runs": [],
        }
    except Exception as e:
        result["errors"].append({"stack": "hf-generate", "error": f"{type(e).__name__}: {e}"})
    for name, ch in list(children.items()):
        try:
            ready = ch.wait_ready(max(60.0, deadline - time.monotonic()))
            _, spec = load_stack_dir(ch.stack_dir)
            result["stacks"][name] = {
                "mode": "offline",
                "stack_dir": str(ch.stack_dir),
                "components": spec["components"],
                "params": spec["params"],
                "load_s": ready.get("load_s"),
                "runs": [],
            }
            warm_up(ch, w, vocab, max(120.0, deadline - time.monotonic() + 120))
        except Exception as e:
            result["errors"].append({"stack": name, "error": f"{type(e).__name__}: {e}"})
            ch.close()
            del children[name]
    save()

    rep_time: dict[str, float] = {}
    for r in range(args.reps):
        if r > 0 and time.monotonic() + sum(rep_time.values()) > deadline:
            result["errors"].append({"stack": "*", "error": f"time budget reached after {r} repetition(s)"})
            break
        reqs = make_requests(w, vocab, r, avoid=set(AVOID))  # hf-generate's; the stacks' come from timed_repetition
        order = [s for s in STACKS[r % 3 :] + STACKS[: r % 3] if s in result["stacks"]]
        for name in order:
            t0 = time.perf_counter()
            try:
                if name == "hf-generate":
                    recs, dur = run_hf_generate(hf_model, reqs[: args.hf_prompts], device)
                    m = compute_metrics(recs, dur)
                else:
                    m = timed_repetition(children[name], w, vocab, r, max(120.0, deadline - time.monotonic() + 120))
                m["repetition"], m["position"] = r, order.index(name)
                result["stacks"][name]["runs"].append(m)
            except Exception as e:
                result["errors"].append({"stack": name, "repetition": r, "error": f"{type(e).__name__}: {e}"})
            rep_time[name] = time.perf_counter() - t0
            _print_progress(name, r, result["stacks"][name]["runs"])
        _finish(result, objective, lower_better)
        save()

    result["concurrency_sweep"] = sweep(children, w, vocab, args.sweep, deadline, save, result)
    for ch in children.values():
        ch.close()
    result["complete"] = all(len(result["stacks"].get(s, {}).get("runs", [])) >= 3 for s in STACKS)
    result["elapsed_s"] = time.monotonic() - t_start
    _finish(result, objective, lower_better)
    save()
    print(
        json.dumps(
            {
                "scenario": sc["name"],
                "ratio_vs_generic": result["ratio_vs_generic"],
                "target": result["target"],
                "errors": len(result["errors"]),
            }
        )
    )
    return 0


def harness_capture_cap(w: Workload, sweep_spec: str) -> int:
    """The largest decode batch the comparison sends a stack: its repetitions' or its sweep's."""
    return max([capture_cap_for(w), *sweep_levels(w, sweep_spec)])


def sweep_levels(w: Workload, spec: str) -> list[int]:
    """The sweep's concurrencies; levels above the workload's request count would repeat the largest one."""
    return sorted({min(int(c), w.num_prompts) for c in spec.split(",") if c.strip()})


def sweep(children: dict, w: Workload, vocab: int, spec: str, deadline: float, save, result: dict) -> list[dict]:
    """Output throughput of each engine at several concurrencies (same requests, arrivals at t=0)."""
    points: list[dict] = []
    result["concurrency_sweep"] = points
    levels = sweep_levels(w, spec)
    all_reqs = make_requests(w, vocab, 99, avoid=set(range(3)))
    last = 0.0
    for c in levels:
        reqs = all_reqs[: max(8, 4 * c)]  # enough to keep c requests in flight most of the run
        payload = {"requests": [[q.prompt_token_ids, q.max_tokens] for q in reqs], "arrivals": [0.0] * len(reqs)}
        for name, ch in children.items():
            if time.monotonic() + last > deadline:
                result["errors"].append({"stack": "*", "error": f"sweep stopped at concurrency {c}: time budget"})
                return points
            t0 = time.perf_counter()
            try:
                m = compute_metrics(*records_of_pass(ch.run({**payload, "max_concurrency": c}, 600)))
                points.append(
                    {
                        "stack": name,
                        "max_concurrency": c,
                        **{
                            k: m[k]
                            for k in (
                                "output_throughput",
                                "request_throughput",
                                "median_ttft_ms",
                                "median_tpot_ms",
                                "p99_itl_ms",
                                "completed",
                            )
                        },
                    }
                )
            except Exception as e:
                result["errors"].append({"stack": name, "sweep": c, "error": f"{type(e).__name__}: {e}"})
            last = time.perf_counter() - t0
            save()
    return points


def _finish(result: dict, objective: str, lower_better: bool) -> None:
    for s in result["stacks"].values():
        s["metrics"] = summarize(s["runs"])
    med = {n: s["metrics"].get(objective, {}).get("median") for n, s in result["stacks"].items()}

    def ratio(a: str, b: str) -> float | None:
        x, y = med.get(a), med.get(b)
        if not x or not y:
            return None
        return (y / x) if lower_better else (x / y)  # > 1 means `a` is better on the objective

    result["ratio_vs_generic"] = ratio("searched", "generic")
    result["ratio_vs_hf_generate"] = ratio("searched", "hf-generate")
    result["generic_vs_hf_generate"] = ratio("generic", "hf-generate")
    t = result["target"]
    t["met"] = None if result["ratio_vs_generic"] is None else result["ratio_vs_generic"] >= t["ratio_vs_generic"]


def _print_progress(name: str, r: int, runs: list[dict]) -> None:
    if runs and runs[-1].get("repetition") == r:
        m = runs[-1]
        print(
            f"compare: rep {r + 1} {name:12s} output {m['output_throughput']:9.1f} tok/s  "
            f"median TTFT {m['median_ttft_ms']:8.1f} ms  median TPOT {m['median_tpot_ms']:7.2f} ms",
            file=sys.stderr,
        )


if __name__ == "__main__":
    sys.exit(main())
