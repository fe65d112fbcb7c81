"""Measures a sample of a scenario's design space, one stack at a time, into an objective table
that scripts/compare-search-policies.ts --table replays (lib/architect/objectiveTable.ts
tableFromFile): many more measured designs than one search yields, for comparing search policies.

  python bench/gpu/design_sweep.py --scenario scenarios/gpt2-chat.yaml --out TABLE.json \
      [--device cuda] [--max-designs 40] [--time-budget-s 360] [--design-timeout-s 75] [--num-prompts 32]
      [--vary decode_steps=1,4,8]   # instead of a sample: the default with one dimension or param stepped

The sample is deterministic for a seed: the generic default first (lib/designSpace.ts
defaultDesign), then, alternating, one-step neighbours of the default (the main effects) and
designs as far as possible from everything picked so far (coverage). Each design is
materialized and benchmarked with the runtime's verbs, as the search's template builder and
benchmark activity do; a design that fails (bad spec, crash, out of memory, timeout) is a
rejected row with its reason. A failure of the runtime itself (exit 1) is an error row, which the
table leaves out; two in a row stop the sweep. No design starts once the time budget would be
exceeded; the table is rewritten after every design, so a run cut short (SIGTERM) keeps its rows.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import random
import shlex
import shutil
import signal
import statistics
import subprocess
import sys
import time
from dataclasses import replace
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

import yaml

import design_rules as rules

REPO = rules.REPO
sys.path.insert(0, str(REPO / "python-runtime"))  # the runtime the verbs run (verb_env), for its Workload
sys.path.insert(0, str(REPO / "bench" / "scenarios"))
from prepare_scenario import resolve_paths  # noqa: E402
from scenario_stacks import scenario_workload  # noqa: E402

SLO_KEYS = ("ttft_ms", "tpot_ms", "itl_ms", "e2el_ms")
EXIT_INFRASTRUCTURE = 1  # vibeserve_runtime/events.py
MAX_INFRASTRUCTURE_ERRORS = 2
_children: set[subprocess.Popen] = set()  # verbs running now (several where a caller runs them in threads)


def normalize_scenario(raw: dict) -> dict[str, Any]:
    """The scenario with lib/scenario.ts's defaults filled in (the shape search.json records)."""
    m, w = raw["model"], raw["workload"]
    tok = raw.get("tokenizer")
    a = w.get("arrival") or {"kind": "max_concurrency", "concurrency": 8}
    arrival = (
        {"kind": a["kind"], "concurrency": int(a["concurrency"])}
        if a["kind"] == "max_concurrency"
        else {"kind": a["kind"], "rate": float(a["rate"])}
    )
    h = raw.get("hardware") or {"kind": "cpu"}
    s = raw.get("search") or {}
    rounds, per_round = s.get("rounds", 3), s.get("candidates_per_round", 4)
    return {
        "name": raw["name"],
        "description": raw.get("description") or "",
        "model": {
            "arch": m["arch"],
            "preset": m.get("preset"),
            "config": m.get("config") or {},
            "weights": m.get("weights", "random"),
            "path": m.get("path"),
            "seed": m.get("seed", 0),
            "dtype": m.get("dtype", "float32"),
        },
        "tokenizer": {"kind": tok["kind"], "path": tok.get("path")} if tok else None,
        "workload": {
            "dataset": w.get("dataset", "random"),
            "prompt_len": int(w["prompt_len"]),
            "output_len": int(w["output_len"]),
            "num_requests": int(w["num_requests"]),
            "arrival": arrival,
            "streaming": w.get("streaming", True),
            "slo": {k: v for k, v in (w.get("slo") or {}).items() if k in SLO_KEYS},
            **({"shared_prefix_len": int(w["shared_prefix_len"])} if w.get("shared_prefix_len") is not None else {}),
        },
        "objective": raw.get("objective", "output_throughput"),
        "hardware": {"kind": h.get("kind", "cpu"), "gpus": int(h.get("gpus", 1))},
        "search": {
            "rounds": rounds,
            "candidates_per_round": per_round,
            "max_candidates": s.get("max_candidates", rounds * per_round),
            "concurrency": s.get("concurrency", 2),
            "wall_time_minutes": s.get("wall_time_minutes", 60),
            "architect": s.get("architect", "model-free"),
            "builder": s.get("builder", "template"),
            "check_timeout_s": s.get("check_timeout_s", 600),
            "bench_timeout_s": s.get("bench_timeout_s", 900),
            "checks_per_device": s.get("checks_per_device", 1),
        },
        "constraints": {
            d: [str(c) for c in (v if isinstance(v, list) else [v])] for d, v in (raw.get("constraints") or {}).items()
        },
    }


def stack_spec(design: dict, sc: dict, device: str) -> dict[str, Any]:
    """lib/builder/templateBuilder.ts stackSpecFor."""
    params = dict(design["params"])
    params["max_model_len"] = sc["workload"]["prompt_len"] + sc["workload"]["output_len"]
    if (sc.get("tokenizer") or {}).get("path"):
        params["tokenizer_path"] = sc["tokenizer"]["path"]
    return {
        "name": f"{sc['name']}-{design['id']}"[:128],
        "model": dict(sc["model"]),
        "components": dict(design["choices"]),
        "params": params,
        "device": device,
    }


def varied_designs(space: dict, ctx: dict, vary: str) -> list[dict]:
    """The generic default with one dimension or parameter set to each listed value (a one-factor
    sweep, e.g. "decode_steps=1,4,8" or "execution=eager,cuda_graphs"); invalid ones are refused."""
    name, _, values = vary.partition("=")
    if not values:
        raise SystemExit(f"--vary {vary!r}: expected NAME=VALUE[,VALUE...]")
    base = rules.default_design(space, ctx)
    out = []
    for raw in values.split(","):
        choices, params = dict(base["choices"]), dict(base["params"])
        if name in space["dimensions"]:
            choices[name] = raw
        elif name in space["params"]:
            params[name] = json.loads(raw)
        else:
            raise SystemExit(f"--vary: {name!r} is neither a dimension nor a parameter of the design space")
        problems = rules.validate_design(space, choices, params, ctx)
        if problems:
            raise SystemExit(f"--vary {name}={raw}: {'; '.join(problems)}")
        out.append(rules.make_design(space, choices, params, origin=f"sweep:vary-{name}"))
    return out


def plan_designs(
    space: dict, ctx: dict, count: int, seed: int, local_share: float, pool_size: int = 3000
) -> list[dict]:
    """Default first, then one-step neighbours of the default interleaved with farthest-point designs."""
    rng = random.Random(seed)
    base = rules.default_design(space, ctx)
    # Choice changes first: with a few dozen designs, main effects of components say more than parameter steps.
    near = rules.neighbours(space, base, ctx)
    by_choice = [d for d in near if d["choices"] != base["choices"]]
    by_param = [d for d in near if d["choices"] == base["choices"]]
    rng.shuffle(by_choice)
    rng.shuffle(by_param)
    local = by_choice + by_param
    pool_by_id: dict[str, dict] = {}
    for _ in range(pool_size):
        d = rules.sample_design(space, ctx, rng)
        pool_by_id.setdefault(d["id"], d)
    pool = [d for d in pool_by_id.values() if d["id"] != base["id"]]
    min_dist = [rules.distance(base, d) for d in pool]
    chosen, ids, n_local = [base], {base["id"]}, 0

    def take(d: dict) -> None:
        chosen.append(d)
        ids.add(d["id"])
        for i, p in enumerate(pool):
            min_dist[i] = min(min_dist[i], rules.distance(d, p))

    while len(chosen) < count:
        local = [d for d in local if d["id"] not in ids]
        pool_left = [i for i, d in enumerate(pool) if d["id"] not in ids]
        if local and (n_local < local_share * len(chosen) or not pool_left):
            take(local.pop(0))
            n_local += 1
        elif pool_left:
            take(pool[max(pool_left, key=lambda i: (min_dist[i], -i))])
        else:
            break
    return chosen


def verb_env() -> dict[str, str]:
    env = dict(os.environ)
    env["PYTHONPATH"] = str(REPO / "python-runtime") + (os.pathsep + env["PYTHONPATH"] if env.get("PYTHONPATH") else "")
    env["PYTHONUNBUFFERED"] = "1"
    return env


def run_verb(verb_args: list[str], log: Path, timeout: float) -> tuple[int | None, dict | None, dict | None]:
    """Runs `python -m vibeserve_runtime ...`: (exit code or None on timeout, result event, error event)."""
    env = verb_env()
    out_path = log.with_suffix(".events")
    with open(out_path, "w") as out, open(log, "w") as err:
        # Its own process group: the bench verb starts the candidate process, and a timeout ends both.
        child = subprocess.Popen(
            [sys.executable, "-m", "vibeserve_runtime", *verb_args],
            cwd=REPO,
            env=env,
            stdout=out,
            stderr=err,
            process_group=0,
        )
        _children.add(child)
        try:
            rc: int | None = child.wait(timeout=max(1.0, timeout))
        except subprocess.TimeoutExpired:
            _kill_group(child)
            rc = None
        finally:
            _children.discard(child)
    result = error = None
    for line in out_path.read_text(errors="replace").splitlines():
        try:
            ev = json.loads(line)
        except json.JSONDecodeError:
            continue
        if isinstance(ev, dict) and ev.get("event") == "result":
            result = ev
        elif isinstance(ev, dict) and ev.get("event") == "error":
            error = ev
    return rc, result, error


def kill_running_verbs() -> None:
    """Ends every verb started by run_verb that is still running (a caller's SIGTERM)."""
    for child in list(_children):
        _kill_group(child)


def _kill_group(proc: subprocess.Popen) -> None:
    try:
        os.killpg(proc.pid, signal.SIGKILL)
    except ProcessLookupError:
        pass
    proc.wait()


def _failure(stage: str, rc: int | None, error: dict | None, log: Path, timeout: float) -> dict[str, Any]:
    # Exit 1 is the runtime's own fault (docs/boundary.md), not the design's: kept out of the table.
    status = "error" if rc == EXIT_INFRASTRUCTURE else "rejected"
    if rc is None:
        return {
            "status": status,
            "stage": stage,
            "reason": "timeout",
            "message": f"{stage} exceeded the design's {timeout:.0f}s",
        }
    if error:
        return {
            "status": status,
            "stage": stage,
            "reason": error.get("reason") or "crashed",
            "message": str(error.get("message", ""))[:400],
        }
    tail = " | ".join(log.read_text(errors="replace").strip().splitlines()[-3:]) if log.exists() else ""
    return {"status": status, "stage": stage, "reason": "crashed", "message": f"exit {rc}: {tail}"[:400]}


def measure(
    design: dict, sc: dict, device: str, workload: dict, work: Path, timeout: float, check: bool, keep_stack: bool
) -> dict[str, Any]:
    """One design's table row: materialize, optionally check, then bench, all within `timeout`."""
    t0 = time.monotonic()
    d_dir = work / design["id"]
    shutil.rmtree(d_dir, ignore_errors=True)
    d_dir.mkdir(parents=True)
    try:
        outcome = _stages(
            design, sc, device, workload, d_dir, lambda: timeout - (time.monotonic() - t0), timeout, check
        )
    finally:
        if not keep_stack:
            shutil.rmtree(d_dir / "stack", ignore_errors=True)
    return {"design": design, **outcome, "seconds": round(time.monotonic() - t0, 2)}


def _stages(
    design: dict, sc: dict, device: str, workload: dict, d_dir: Path, left, timeout: float, check: bool
) -> dict[str, Any]:
    stack = d_dir / "stack"
    (d_dir / "spec.json").write_text(json.dumps(stack_spec(design, sc, device), indent=2))
    (d_dir / "workload.json").write_text(json.dumps(workload))
    rc, _, err = run_verb(
        ["materialize", "--spec", str(d_dir / "spec.json"), "--out", str(stack)], d_dir / "materialize.log", left()
    )
    if rc != 0:
        return _failure("build", rc, err, d_dir / "materialize.log", timeout)
    if check:
        rc, _, err = run_verb(
            ["check", "--stack", str(stack), "--device", device, "--report", str(d_dir / "check.json")],
            d_dir / "check.log",
            left(),
        )
        if rc != 0:
            return _failure("verify", rc, err, d_dir / "check.log", timeout)
    bench_out = d_dir / "bench.json"
    rc, _, err = run_verb(
        [
            "bench",
            "--stack",
            str(stack),
            "--device",
            device,
            "--workload",
            str(d_dir / "workload.json"),
            "--out",
            str(bench_out),
        ],
        d_dir / "bench.log",
        left(),
    )
    if rc != 0:
        return _failure("benchmark", rc, err, d_dir / "bench.log", timeout)
    raw = json.loads(bench_out.read_text())
    metrics = {k: v for k, v in raw.items() if isinstance(v, (int, float)) and not isinstance(v, bool) and v == v}
    if metrics.get(sc["objective"]) is None:
        return {
            "status": "rejected",
            "stage": "benchmark",
            "reason": "no_objective",
            "message": f"bench.json has no {sc['objective']}",
            "metrics": metrics,
        }
    return {"status": "accepted", "metrics": metrics, "objective": metrics[sc["objective"]]}


def preflight() -> None:
    """The verbs' own imports, checked once, so a missing package does not fail every design."""
    p = subprocess.run(
        [sys.executable, "-c", "import jsonschema, yaml, vibeserve_runtime.materialize"],
        cwd=REPO,
        env=verb_env(),
        capture_output=True,
        text=True,
    )
    if p.returncode != 0:
        sys.exit(
            "design_sweep: the runtime cannot run here: "
            + (p.stderr.strip().splitlines() or ["?"])[-1]
            + "\n  (on a GPU host, carry .carry/gpu/deps/wheels and `source scripts/gpu/unpack.sh` first; docs/gpu-runs.md)"
        )


def hardware_of(sc: dict, device: str) -> tuple[dict[str, Any], str]:
    """The search's hardware target for the scenario on this device, and the device's name."""
    if device == "cpu":
        return rules.hardware_target(
            "cpu", 0
        ), f"cpu ({platform.processor() or platform.machine()}, {os.cpu_count()} cores)"
    # In a child process, so that this one holds no CUDA context while the designs run.
    probe = (
        "import json, torch; ok = torch.cuda.is_available(); print(json.dumps(ok and {'name': torch.cuda.get_device_name(0), "
        "'count': torch.cuda.device_count(), 'cc': list(torch.cuda.get_device_capability(0))}))"
    )
    p = subprocess.run([sys.executable, "-c", probe], capture_output=True, text=True)
    gpu = json.loads(p.stdout or "false") if p.returncode == 0 else False
    if not gpu:
        sys.exit(f"design_sweep: --device cuda, but torch sees no CUDA device {p.stderr.strip()[-300:]}")
    kind = sc["hardware"]["kind"]
    if kind in ("any", "cpu"):
        kind = next((k for k in rules.KNOWN_COMPUTE_CAPABILITY if k.replace("-", " ") in gpu["name"].lower()), "cuda")
    hw = rules.hardware_target(kind, min(sc["hardware"]["gpus"], gpu["count"]))
    hw.setdefault("computeCapability", gpu["cc"][0] + gpu["cc"][1] / 10)
    return hw, gpu["name"]


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--scenario", required=True, help="scenario YAML (scenarios/*.yaml, or a prepare_scenario.py copy)")
    ap.add_argument("--out", required=True, help="table JSON, rewritten after every design")
    ap.add_argument("--device", choices=["cpu", "cuda"], help="default: from the scenario's hardware")
    ap.add_argument("--max-designs", type=int, default=40)
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument(
        "--local-share",
        type=float,
        default=0.5,
        help="share of the sample that are one-step neighbours of the default (the rest is spread out)",
    )
    ap.add_argument(
        "--time-budget-s",
        type=float,
        default=400.0,
        help="no design starts once the elapsed time plus a typical design's time would pass this",
    )
    ap.add_argument("--design-timeout-s", type=float, default=90.0, help="materialize + check + bench of one design")
    ap.add_argument("--num-prompts", type=int, help="fewer requests than the scenario's, for a quicker benchmark")
    ap.add_argument("--repetitions", type=int, default=1)
    ap.add_argument(
        "--check", action="store_true", help="run the correctness check before the benchmark, as the search does"
    )
    ap.add_argument("--work-dir", help="stacks and logs (default .vibeserve/design-sweep/<scenario>)")
    ap.add_argument("--keep-stacks", action="store_true")
    ap.add_argument("--plan-only", action="store_true", help="print the planned designs as JSON and exit")
    ap.add_argument("--vary", help="NAME=V1,V2,...: the default design with one dimension or parameter at each value")
    args = ap.parse_args()
    t_start = time.monotonic()

    sc = normalize_scenario(resolve_paths(yaml.safe_load(Path(args.scenario).read_text())))
    device = args.device or ("cpu" if sc["hardware"]["kind"] == "cpu" else "cuda")
    space = rules.load_space()
    if args.plan_only:
        hw = (
            rules.hardware_target("cpu", 0)
            if device == "cpu"
            else rules.hardware_target(
                sc["hardware"]["kind"] if sc["hardware"]["kind"] not in ("any", "cpu") else "h100",
                sc["hardware"]["gpus"],
            )
        )
        ctx = rules.context_for(sc, hw)
        plan = (
            varied_designs(space, ctx, args.vary)
            if args.vary
            else plan_designs(space, ctx, args.max_designs, args.seed, args.local_share)
        )
        print(json.dumps(plan, indent=1))
        return 0
    preflight()
    hardware, device_name = hardware_of(sc, device)
    ctx = rules.context_for(sc, hardware)
    plan = (
        varied_designs(space, ctx, args.vary)
        if args.vary
        else plan_designs(space, ctx, args.max_designs, args.seed, args.local_share)
    )
    workload = replace(scenario_workload(sc, args.num_prompts), repetitions=args.repetitions).to_dict()
    work = Path(args.work_dir or REPO / ".vibeserve" / "design-sweep" / sc["name"])
    out_path = Path(args.out)
    out_path.parent.mkdir(parents=True, exist_ok=True)
    table: dict[str, Any] = {
        "kind": "vibeserve-design-sweep",
        "version": 1,
        "scenario": sc,
        "scenario_file": args.scenario,
        "device": device_name,
        "hardware": hardware,
        "command": " ".join(shlex.quote(a) for a in [Path(sys.executable).name, *sys.argv]),
        "workload": workload,
        "settings": {
            k: getattr(args, k)
            for k in (
                "max_designs",
                "seed",
                "local_share",
                "time_budget_s",
                "design_timeout_s",
                "num_prompts",
                "repetitions",
                "check",
                "vary",
            )
        },
        "started_at": datetime.now(timezone.utc).isoformat(timespec="seconds"),
        "planned": [d["id"] for d in plan],
        "rows": [],
        "skipped": [],
        "complete": False,
        "elapsed_s": 0.0,
    }

    def save() -> None:
        table["elapsed_s"] = round(time.monotonic() - t_start, 1)
        tmp = out_path.with_suffix(".tmp")
        tmp.write_text(json.dumps(table, indent=1))
        tmp.replace(out_path)

    def on_term(signum, _frame):  # the caller's own time limit: leave the rows measured so far
        kill_running_verbs()
        save()
        sys.exit(128 + signum)

    signal.signal(signal.SIGTERM, on_term)
    save()
    print(
        f"design_sweep: {sc['name']} on {device_name}: {len(plan)} designs planned, budget {args.time_budget_s:.0f}s, "
        f"{workload['num_prompts']} prompts per benchmark",
        file=sys.stderr,
    )
    durations: list[float] = []
    infra_errors = 0
    for i, design in enumerate(plan):
        elapsed = time.monotonic() - t_start
        typical = statistics.median(durations) if durations else 0.0
        if elapsed + typical > args.time_budget_s:
            table["skipped"] = [{"id": d["id"], "why": "time budget"} for d in plan[i:]]
            break
        row = measure(design, sc, device, workload, work, args.design_timeout_s, args.check, args.keep_stacks)
        durations.append(row["seconds"])
        table["rows"].append(row)
        save()
        what = (
            f"{sc['objective']}={row['objective']:.1f}"
            if row["status"] == "accepted"
            else f"{row['status']} at {row.get('stage')}: {row.get('reason')} {row.get('message', '')[:120]}"
        )
        print(
            f"design_sweep: [{i + 1}/{len(plan)}] {design['id']} {_brief(design)} -> {what} ({row['seconds']:.1f}s)",
            file=sys.stderr,
        )
        infra_errors = infra_errors + 1 if row["status"] == "error" else 0
        if infra_errors >= MAX_INFRASTRUCTURE_ERRORS:
            table["skipped"] = [{"id": d["id"], "why": "runtime errors"} for d in plan[i + 1 :]]
            table["aborted"] = f"the runtime failed {infra_errors} designs in a row: {row.get('message')}"
            save()
            print(f"design_sweep: stopping: {table['aborted']}", file=sys.stderr)
            return 1
    table["complete"] = not table["skipped"]
    save()
    accepted = [r for r in table["rows"] if r["status"] == "accepted"]
    print(
        json.dumps(
            {
                "out": str(out_path),
                "measured": len(table["rows"]),
                "accepted": len(accepted),
                "skipped": len(table["skipped"]),
                "elapsed_s": table["elapsed_s"],
            }
        )
    )
    return 0


def _brief(design: dict) -> str:
    return ",".join(f"{k}={v}" for k, v in design["choices"].items() if k != "tokenizer")


if __name__ == "__main__":
    sys.exit(main())
