"""Correct and fast on model shapes nobody tuned for: every architecture config of shape_configs.py
(real families' layer shapes, 2-4 layers of random weights, bf16) through the real `check` verb and
a short `bench`, for the generic stack and for the fastest design of its family.

  python bench/gpu/shape_matrix.py --device cuda [--out bench/results/shape_matrix_h100.json]
      [--only llama3-8b,mixtral-8x7b] [--time-budget-s 480] [--jobs 6] [--num-prompts 32]
  python bench/gpu/shape_matrix.py --device cpu --tiny --out /tmp/shape_matrix_cpu.json   # every config shrunk

- generic: the design space's generic stack for the row's scenario (scenario_stacks.generic_spec,
  design_rules.default_design), as a search starts from it.
- fastest: the best design the searches found for the row's family (FAST below, from the searched
  stacks of bench/results/scenario_*_h100.json), in the design space's terms, repaired to what the
  device offers.

Checks do not depend on timing, so they run `--jobs` at a time (fewer where their estimated GPU
memory would not fit); benchmarks run one at a time with nothing else on the device, the row's two
stacks side by side in one `bench --with` (repetitions interleaved). Checks stop starting once
`--check-share` of the time budget is spent, benchmarks once the next would pass the budget; what
did not run is recorded with that reason. Every row records each stack's verdict with the failed
checks, the logit error against its calibrated bound, the verbs' wall times and exact commands; the
JSON is rewritten after every step, so a run cut short (SIGTERM) keeps what it measured, and
`--resume` goes on from it in a later run: every verdict and benchmark already in `--out` for the same
designs and workload is kept, and only what is missing (skipped for time, or never started) runs.
"""

from __future__ import annotations

import argparse
import json
import shlex
import signal
import statistics
import sys
import threading
import time
from concurrent.futures import ThreadPoolExecutor
from contextlib import contextmanager
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

import design_rules as rules
import design_sweep as sweep
import shape_configs as shapes

REPO = rules.REPO
sys.path.insert(0, str(REPO / "bench" / "scenarios"))
from scenario_stacks import (  # noqa: E402
    design_spec,
    device_name,
    generic_design,
    kv_cache_tokens_for,
    materialize,
    scenario_workload,
)

# The searches' best designs (bench/results/scenario_{hopper-kernels,mixtral-moe,llama-int8}_h100.json):
# the paged kernel under CUDA graphs, continuous batching, 8 decode steps per scheduler step; the
# timed-tile fused MoE for MoE models; int8 weight-only linears where the scenario quantizes.
_DENSE = {
    "choices": {
        "attention": "triton_paged",
        "kv_cache": "paged",
        "scheduler": "continuous",
        "execution": "cuda_graphs",
    },
    "params": {"decode_steps": 8, "max_batch_size": 32, "graph_batch_sizes": [1, 2, 4, 8, 16, 32]},
}
FAST = {
    "dense": _DENSE,
    "moe": {**_DENSE, "choices": {**_DENSE["choices"], "moe": "fused_tuned"}},
    "int8": {**_DENSE, "choices": {**_DENSE["choices"], "linear": "int8_weight_only"}},
}
# A scenario of the family fixes what the generic stack must serve too (an int8 scenario's generic
# stack runs the library's general int8 kernel).
SCENARIO_CONSTRAINTS = {"int8": {"linear": ["int8_weight_only"]}}
DESIGNS = ("generic", "fastest")


def scenario_of(row: dict, args) -> dict[str, Any]:
    """The row as a scenario of the comparison harnesses (bench/scenarios/scenario_stacks.py)."""
    cfg = shapes.model_config(row, None if args.full_vocab else shapes.VOCAB_CAP)
    return {
        "name": row["name"],
        "model": {
            "arch": shapes.arch_of(row),
            "preset": row["preset"],
            "config": cfg,
            "weights": "random",
            "seed": 0,
            "dtype": "bfloat16",
        },
        "tokenizer": None,
        "workload": {
            "prompt_len": args.prompt_len,
            "output_len": args.output_len,
            "num_requests": args.num_prompts,
            "arrival": {"kind": "max_concurrency", "concurrency": args.concurrency},
        },
        "hardware": {"kind": "cpu" if args.device == "cpu" else "h100", "gpus": 1},
        "constraints": SCENARIO_CONSTRAINTS.get(row["family"], {}),
    }


def fastest_design(sc: dict, family: str, device: str) -> dict[str, Any]:
    """FAST[family] over the generic design: each choice where the device offers it, then repaired."""
    space = rules.load_space()
    hw = rules.hardware_target("cpu" if device == "cpu" else sc["hardware"]["kind"], 1)
    ctx = rules.context_for(sc, hw)
    base = generic_design(sc, device)
    fast = FAST[family]
    choices = {
        **base["choices"],
        **{d: c for d, c in fast["choices"].items() if c in rules.offered_choices(space, d, ctx)},
    }
    choices = rules.repair_choices(space, choices, ctx) or base["choices"]
    design = rules.make_design(space, choices, {**base["params"], **fast["params"]}, origin="shape-matrix:fastest")
    problems = rules.validate_design(space, design["choices"], design["params"], ctx)
    if problems:
        raise ValueError(f"the fastest {family} design is not valid here: {'; '.join(problems)}")
    return design


def stack_spec(sc: dict, name: str, design: dict, device: str) -> dict[str, Any]:
    """design_spec with one fixed KV pool: checks share the GPU, and a pool sized from free memory
    would take what the others need."""
    spec = design_spec(sc, name, design["choices"], design["params"], device)
    w = sc["workload"]
    spec["params"]["kv_cache_tokens"] = kv_cache_tokens_for(
        w["arrival"]["concurrency"], w["prompt_len"] + w["output_len"]
    )
    return spec


def verb_command(verb_args: list[str]) -> str:
    """The exact command run_verb runs (design_sweep.verb_env sets PYTHONPATH to python-runtime)."""
    return shlex.join([f"PYTHONPATH={REPO / 'python-runtime'}", sys.executable, "-m", "vibeserve_runtime", *verb_args])


class MemoryGate:
    """At most `cap_gb` of estimated GPU memory in checks running at once (one may always run)."""

    def __init__(self, cap_gb: float):
        self.cap, self.used, self.cond = cap_gb, 0.0, threading.Condition()

    @contextmanager
    def hold(self, gb: float):
        with self.cond:
            self.cond.wait_for(lambda: self.used == 0 or self.used + gb <= self.cap)
            self.used += gb
        try:
            yield
        finally:
            with self.cond:
                self.used -= gb
                self.cond.notify_all()


def check_gb(params: int) -> float:
    # the fp32 reference, its bf16 calibration twin and the stack's bf16 weights, with room for the rest
    return params * (4 + 2 + 2) / 1e9 + 2.0


def logits_summary(report: dict) -> dict | None:
    lg = next((c for c in report.get("checks", []) if c.get("name") == "logits"), None)
    keys = ("value", "threshold", "mean", "mean_threshold", "same_precision", "floor", "passed")
    return {k: lg.get(k) for k in keys} if lg else None


def run_check(stack_dir: Path, device: str, timeout: float) -> dict[str, Any]:
    """The check verb on one stack: its verdict, failed checks, logit error and bounds, timings."""
    d = stack_dir.parent
    report = d / "check.json"
    args = [
        "check",
        "--stack",
        str(stack_dir),
        "--device",
        device,
        "--report",
        str(report),
        "--timeout",
        str(int(timeout)),
    ]
    t0 = time.monotonic()
    rc, _, error = sweep.run_verb(args, d / "check.log", timeout + 60)
    out: dict[str, Any] = {"command": verb_command(args), "exit_code": rc, "wall_s": round(time.monotonic() - t0, 1)}
    r = json.loads(report.read_text()) if report.is_file() else {}
    failed = [c for c in r.get("checks", []) if not c.get("passed")]
    out.update(
        passed=bool(r.get("passed")),
        failed_checks=[c["name"] for c in failed],
        logits=logits_summary(r),
        timings_s=r.get("timings_s"),
        failed_details={c["name"]: c.get("detail") for c in failed},
    )
    if out["passed"]:
        return {**out, "status": "passed"}
    return {**out, **sweep._failure("verify", rc, error, d / "check.log", timeout)}


def benchable(entry: dict) -> bool:
    """A stack that served the check's requests (passed, or reached a wrong answer) can be timed."""
    c = entry.get("check", {})
    return c.get("passed") or c.get("reason") == "wrong_output"


def run_bench(stacks: dict[str, Path], device: str, workload: dict, work: Path, timeout: float) -> dict[str, Any]:
    """The stacks side by side in one bench verb (repetitions interleaved, so drift hits both)."""
    names = list(stacks)
    (work / "workload.json").write_text(json.dumps(workload))
    args = ["bench", "--stack", str(stacks[names[0]])]
    for n in names[1:]:
        args += ["--with", str(stacks[n])]
    args += [
        "--device",
        device,
        "--workload",
        str(work / "workload.json"),
        "--out",
        str(work / "bench.json"),
        "--no-profile",
    ]
    t0 = time.monotonic()
    rc, _, error = sweep.run_verb(args, work / "bench.log", timeout)
    out: dict[str, Any] = {
        "command": verb_command(args),
        "exit_code": rc,
        "wall_s": round(time.monotonic() - t0, 1),
        "stacks": names,
    }
    if rc != 0 or not (work / "bench.json").is_file():
        return {**out, **sweep._failure("benchmark", rc, error, work / "bench.log", timeout)}
    raw = json.loads((work / "bench.json").read_text())
    keys = (
        "output_throughput",
        "request_throughput",
        "median_ttft_ms",
        "median_tpot_ms",
        "completed",
        "failed",
        "error",
    )
    metrics = {n: {k: m.get(k) for k in keys if m.get(k) is not None} for n, m in zip(names, raw.get("stacks", [raw]))}
    out.update(status="measured", metrics=metrics)
    generic, fastest = (metrics.get(n, {}).get("output_throughput") for n in DESIGNS)
    if generic and fastest:
        out["speedup_fastest_vs_generic"] = round(fastest / generic, 3)
    return out


def plan_row(row: dict, args, work: Path) -> dict[str, Any]:
    """The row's facts and its two designs as stack specs (materialized by its check job)."""
    sc = scenario_of(row, args)
    full = shapes.resolved_config(row, sc["model"]["config"])
    out: dict[str, Any] = {
        "name": row["name"],
        "family": row["family"],
        "source": row["source"],
        "shape": shapes.describe(full),
        "params_b": round(shapes.parameter_count(full) / 1e9, 3),
        "model": sc["model"],
        "constraints": sc["constraints"],
        "designs": {},
    }
    for name in DESIGNS:
        stack = work / row["name"] / name / "stack"
        entry: dict[str, Any] = {"stack_dir": str(stack)}
        out["designs"][name] = entry
        try:
            design = (
                generic_design(sc, args.device) if name == "generic" else fastest_design(sc, row["family"], args.device)
            )
        except ValueError as e:  # the design space offers no such design here
            entry["check"] = {
                "status": "rejected",
                "passed": False,
                "stage": "design",
                "reason": "bad_spec",
                "message": str(e),
            }
            continue
        entry["design"] = {k: design[k] for k in ("id", "choices", "params")}
        entry["spec"] = stack_spec(sc, name, design, args.device)
        entry["materialize_command"] = verb_command(
            ["materialize", "--spec", str(stack.parent / "stack.spec.json"), "--out", str(stack)]
        )
    return out


def build_and_check(entry: dict, device: str, timeout: float) -> dict[str, Any]:
    """Materializes the design just before its check (so the stack's code copy is the runtime's now)."""
    stack = Path(entry["stack_dir"])
    try:
        materialize(entry["spec"], stack)
    except RuntimeError as e:  # the runtime refuses this design for this model (design_space.json serves)
        return {"status": "rejected", "passed": False, "stage": "build", "reason": "bad_spec", "message": str(e)[:400]}
    return run_check(stack, device, timeout)


class Matrix:
    """One run: the rows' checks several at a time, then their benchmarks one at a time, the result
    file rewritten after every step."""

    def __init__(self, args, rows: list[dict], out_path: Path, workload: dict, jobs: int):
        self.args, self.out_path, self.jobs = args, out_path, jobs
        self.t_start = time.monotonic()
        self.lock, self.stopping = threading.Lock(), threading.Event()  # stopping: set by SIGTERM
        self.work = Path(args.work_dir)
        self.table: dict[str, Any] = {
            "kind": "vibeserve-shape-matrix",
            "version": 1,
            "device": device_name(args.device),
            "command": shlex.join([Path(sys.executable).name, *sys.argv]),
            "settings": {
                k: getattr(args, k)
                for k in (
                    "device",
                    "tiny",
                    "only",
                    "full_vocab",
                    "time_budget_s",
                    "check_share",
                    "gpu_mem_gb",
                    "check_timeout_s",
                    "bench_timeout_s",
                )
            }
            | {"jobs": jobs},
            "workload": workload,
            "fast_designs": FAST,
            "started_at": datetime.now(timezone.utc).isoformat(timespec="seconds"),
            "rows": [plan_row(r, args, self.work) for r in rows],
            "complete": False,
            "elapsed_s": 0.0,
        }
        self.table["runs"] = [self.run_record()]  # this run's; --resume puts the earlier ones before it

    def run_record(self) -> dict[str, Any]:
        return {k: self.table[k] for k in ("command", "started_at")} | {"elapsed_s": 0.0}

    def resume_from(self, previous: dict) -> int:
        """Keeps `previous`'s results for the same designs on the same workload and device; returns how
        many checks it kept. A row's benchmark is kept only with both of its checks, and a check only
        where its stack is still on disk for the benchmark to time."""
        if previous.get("workload") != self.table["workload"] or previous.get("device") != self.table["device"]:
            sys.exit(
                f"shape_matrix: --resume: {self.out_path} was measured on another device or workload; "
                "choose another --out or drop --resume"
            )
        done = {r["name"]: r for r in previous.get("rows", [])}
        kept = 0
        for row in self.table["rows"]:
            before = done.get(row["name"])
            if not before:
                continue
            all_kept = True
            for name, entry in row["designs"].items():
                old = before["designs"].get(name, {})
                check = old.get("check")
                same = (old.get("design") or {}).get("id") == (entry.get("design") or {}).get("id")
                usable = check and check.get("status") != "skipped" and same
                if usable and benchable(old) and not Path(entry["stack_dir"]).is_dir():
                    usable = False
                if usable:
                    entry["check"], kept = check, kept + 1
                else:
                    all_kept = False
            if all_kept and before.get("bench", {}).get("status") not in (None, "skipped"):
                row["bench"], row["passed"] = before["bench"], before["passed"]
        self.table["runs"] = [*previous.get("runs", [self.run_record_of(previous)]), *self.table["runs"]]
        return kept

    @staticmethod
    def run_record_of(table: dict) -> dict[str, Any]:
        return {k: table.get(k) for k in ("command", "started_at", "elapsed_s")}

    def elapsed(self) -> float:
        return time.monotonic() - self.t_start

    def save(self) -> None:
        with self.lock:
            self.table["elapsed_s"] = self.table["runs"][-1]["elapsed_s"] = round(self.elapsed(), 1)
            self.out_path.parent.mkdir(parents=True, exist_ok=True)
            tmp = self.out_path.with_suffix(".tmp")
            tmp.write_text(json.dumps(self.table, indent=1, default=str))
            tmp.replace(self.out_path)

    def stop(self, signum, _frame) -> None:  # the caller's own time limit: keep what was measured
        self.stopping.set()
        sweep.kill_running_verbs()
        self.save()
        sys.exit(128 + signum)

    def checks(self) -> None:
        """Every design's check, `jobs` at a time and within the memory estimate: correctness does
        not depend on timing. None starts after `check_share` of the budget."""
        a = self.args
        gate = MemoryGate(a.gpu_mem_gb if a.device == "cuda" else float("inf"))

        def one(row: dict, name: str) -> None:
            entry = row["designs"][name]
            if "check" in entry or self.stopping.is_set():  # refused by the design space, or stopped
                return
            with gate.hold(check_gb(int(row["params_b"] * 1e9))):
                left = a.time_budget_s - self.elapsed()
                if self.stopping.is_set():
                    return
                if self.elapsed() > a.check_share * a.time_budget_s or left < 30:
                    entry["check"] = {"status": "skipped", "passed": False, "reason": "time budget"}
                else:
                    entry["check"] = build_and_check(entry, a.device, min(a.check_timeout_s, left))
            c = entry["check"]
            why = ", ".join(c.get("failed_checks") or []) or c.get("reason") or ""
            print(
                f"shape_matrix: check {row['name']}/{name}: {c['status']} {why} ({c.get('wall_s', 0)}s)",
                file=sys.stderr,
            )
            self.save()

        with ThreadPoolExecutor(max_workers=self.jobs) as pool:
            for f in [pool.submit(one, row, n) for row in self.table["rows"] for n in DESIGNS]:
                f.result()

    def benches(self) -> None:
        """Each row's stacks side by side, one row at a time with the device to itself; none starts
        once a typical one would pass the budget."""
        a = self.args
        durations: list[float] = []
        for row in self.table["rows"]:
            if "bench" in row:  # kept by --resume
                continue
            stacks = {n: Path(row["designs"][n]["stack_dir"]) for n in DESIGNS if benchable(row["designs"][n])}
            typical = statistics.median(durations) if durations else 0.0
            if not stacks:
                row["bench"] = {"status": "skipped", "reason": "no stack served the check's requests"}
            elif self.elapsed() + typical > a.time_budget_s:
                row["bench"] = {"status": "skipped", "reason": "time budget"}
            else:
                row["bench"] = run_bench(
                    stacks,
                    a.device,
                    self.table["workload"],
                    self.work / row["name"],
                    min(a.bench_timeout_s, max(30.0, a.time_budget_s - self.elapsed())),
                )
                durations.append(row["bench"]["wall_s"])
            row["passed"] = all(row["designs"][n].get("check", {}).get("passed") for n in DESIGNS)
            b = row["bench"]
            print(
                f"shape_matrix: bench {row['name']}: {b['status']} "
                f"{b.get('speedup_fastest_vs_generic', b.get('reason', ''))} ({b.get('wall_s', 0)}s)",
                file=sys.stderr,
            )
            self.save()
        self.table["complete"] = all(
            row["bench"]["status"] != "skipped"
            and all(row["designs"][n].get("check", {}).get("status") != "skipped" for n in DESIGNS)
            for row in self.table["rows"]
        )
        self.save()


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--device", choices=["cpu", "cuda"], default="cuda")
    ap.add_argument("--out", help="result JSON (default bench/results/shape_matrix_h100.json on cuda)")
    ap.add_argument("--only", help="comma-separated config names (shape_configs.py)")
    ap.add_argument("--tiny", action="store_true", help="every config shrunk to CPU size (shape_configs.tiny)")
    ap.add_argument(
        "--full-vocab",
        action="store_true",
        help=f"the families' own vocabularies (default: capped at {shapes.VOCAB_CAP})",
    )
    ap.add_argument("--time-budget-s", type=float, default=480.0)
    ap.add_argument("--check-share", type=float, default=0.6, help="share of the budget after which no check starts")
    ap.add_argument("--jobs", type=int, help="checks at a time (default 6 on cuda, 1 on cpu)")
    ap.add_argument("--gpu-mem-gb", type=float, default=64.0, help="estimated GPU memory of the checks running at once")
    ap.add_argument("--check-timeout-s", type=float, default=300.0)
    ap.add_argument("--bench-timeout-s", type=float, default=240.0)
    ap.add_argument("--num-prompts", type=int, default=32)
    ap.add_argument("--concurrency", type=int, default=16)
    ap.add_argument("--prompt-len", type=int, default=128)
    ap.add_argument("--output-len", type=int, default=32)
    ap.add_argument("--work-dir", default=str(REPO / ".vibeserve" / "shape-matrix"))
    ap.add_argument(
        "--resume",
        action="store_true",
        help="keep the results already in --out (same designs, workload and device) and run only the rest",
    )
    args = ap.parse_args()
    if args.tiny:  # CPU-size shapes and a workload that a CPU serves in seconds
        args.num_prompts, args.concurrency = min(args.num_prompts, 8), min(args.concurrency, 4)
        args.prompt_len, args.output_len = min(args.prompt_len, 24), min(args.output_len, 8)
    rows = shapes.CONFIGS
    if args.only:
        names = args.only.split(",")
        unknown = sorted(set(names) - {r["name"] for r in shapes.CONFIGS})
        if unknown:
            sys.exit(f"shape_matrix: unknown config(s) {unknown}; known: {[r['name'] for r in shapes.CONFIGS]}")
        rows = [r for r in shapes.CONFIGS if r["name"] in names]
    if args.tiny:
        rows = [shapes.tiny(r) for r in rows]
    sweep.preflight()
    out_path = Path(
        args.out
        or (
            REPO / "bench" / "results" / "shape_matrix_h100.json"
            if args.device == "cuda"
            else REPO / ".vibeserve" / "shape-matrix" / "shape_matrix_cpu.json"
        )
    )
    workload = {**scenario_workload(scenario_of(rows[0], args)).to_dict(), "min_duration_s": 0.5}
    jobs = args.jobs or (6 if args.device == "cuda" else 1)
    m = Matrix(args, rows, out_path, workload, jobs)
    if args.resume and out_path.is_file():
        kept = m.resume_from(json.loads(out_path.read_text()))
        print(f"shape_matrix: --resume kept {kept} checks from {out_path}", file=sys.stderr)
    signal.signal(signal.SIGTERM, m.stop)
    print(
        f"shape_matrix: {len(rows)} configs on {m.table['device']}, budget {args.time_budget_s:.0f}s, "
        f"{jobs} checks at a time",
        file=sys.stderr,
    )
    m.save()
    m.checks()
    m.benches()
    rows_out = m.table["rows"]
    print(
        json.dumps(
            {
                "out": str(out_path),
                "rows": len(rows_out),
                "passed": sum(r["passed"] for r in rows_out),
                "complete": m.table["complete"],
                "elapsed_s": m.table["elapsed_s"],
            }
        )
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())
