"""Where one search candidate's time goes on this host: the real `check` and `bench` verbs, each in its
own process as a search runs them, on a scenario's generic stack with the scenario's workload, and the
phases each process records (`phase_s`, docs/boundary.md: import, load, graph_capture, reference, each
check rule, warmup, timed, profile).

  python bench/gpu/candidate_cost.py scenarios/llama-int8.yaml [more.yaml ...] [--out RESULT.json]
      [--shared-checks REPS]

The check runs without a reference cache, so its `reference` phase is what a search's first candidate
pays (later ones read the cache); the bench runs with its decode profile, as a search's does.
With --shared-checks, two checks of the stack (two copies of it, the reference cache warm, as later
candidates of a search see it) run one after the other and then both at once with --memory-share 2,
as a runtime worker runs them under search.checks_per_device: 2; the pairs alternate, REPS of each.
"""

from __future__ import annotations

import argparse
import json
import shutil
import signal
import statistics
import subprocess
import sys
import time
from pathlib import Path

import yaml

REPO = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(REPO / "bench" / "scenarios"))  # bench/scenarios is not a package
from bench_verb import runtime_env  # noqa: E402
from check_generic import check  # noqa: E402
from scenario_stacks import device_name, device_of, scenario_workload  # noqa: E402


def bench(stack: Path, workload: Path, out: Path, timeout_s: float) -> dict:
    """The bench verb in its own process: its wall seconds, exit code, figure and phases."""
    t0 = time.perf_counter()
    p = subprocess.run(
        [sys.executable, "-m", "vibeserve_runtime", "bench", "--stack", str(stack), "--workload", str(workload)]
        + ["--out", str(out)],
        cwd=REPO,
        capture_output=True,
        text=True,
        timeout=timeout_s,
        env=runtime_env(),
    )
    row: dict = {"wall_s": round(time.perf_counter() - t0, 3), "exit_code": p.returncode}
    if not out.is_file():
        return {**row, "error": " | ".join((p.stdout + p.stderr).strip().splitlines()[-4:])}
    r = json.loads(out.read_text())
    return {**row, **{k: r.get(k) for k in ("output_throughput", "phase_s", "captured_buckets")}}


def _check_cmd(stack: Path, cache: Path, report: Path, share: int) -> list[str]:
    cmd = [sys.executable, "-m", "vibeserve_runtime", "check", "--stack", str(stack), "--reference-cache", str(cache)]
    return cmd + ["--report", str(report)] + (["--memory-share", str(share)] if share > 1 else [])


def check_pair(stacks: list[Path], cache: Path, work: Path, together: bool, timeout_s: float) -> dict:
    """Two checks, one after the other or both at once: the pair's wall seconds and each verdict."""
    reports = [work / f"pair-{i}.check.json" for i in range(2)]
    for r in reports:
        r.unlink(missing_ok=True)
    cmds = [_check_cmd(st, cache, r, 2 if together else 1) for st, r in zip(stacks, reports)]
    t0 = time.perf_counter()
    if together:
        procs = [
            subprocess.Popen(c, cwd=REPO, env=runtime_env(), stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
            for c in cmds
        ]
        codes = [p.wait(timeout=timeout_s) for p in procs]
    else:
        codes = [
            subprocess.run(c, cwd=REPO, env=runtime_env(), capture_output=True, timeout=timeout_s).returncode
            for c in cmds
        ]
    wall = time.perf_counter() - t0
    passed = [r.is_file() and json.loads(r.read_text()).get("passed") is True for r in reports]
    phases = [json.loads(r.read_text()).get("phase_s") if r.is_file() else None for r in reports]
    return {"wall_s": round(wall, 3), "exit_codes": codes, "passed": passed, "phase_s": phases}


def shared_checks(stack: Path, work: Path, reps: int, timeout_s: float, out: dict) -> dict:
    """Pairs of checks serial vs shared, alternating, after one check that fills the reference cache
    (filled into `out` as they finish, so a run cut short keeps its pairs)."""
    twin = work / f"{stack.name}-twin"
    shutil.rmtree(twin, ignore_errors=True)
    shutil.copytree(stack, twin, symlinks=True)
    cache = work / f"{stack.name}-reference-cache"
    shutil.rmtree(cache, ignore_errors=True)
    warm = subprocess.run(
        _check_cmd(stack, cache, work / "warm.check.json", 1),
        cwd=REPO,
        env=runtime_env(),
        capture_output=True,
        timeout=timeout_s,
    )
    out.update(warm_exit_code=warm.returncode, serial=[], shared=[])
    for _ in range(reps):
        for mode in ("serial", "shared"):
            out[mode].append(check_pair([stack, twin], cache, work, mode == "shared", timeout_s))
    for mode in ("serial", "shared"):
        xs = [r["wall_s"] for r in out[mode]]
        out[f"{mode}_pair_s"] = {"median": statistics.median(xs), "min": min(xs), "max": max(xs), "n": len(xs)}
    out["speedup"] = round(out["serial_pair_s"]["median"] / out["shared_pair_s"]["median"], 3)
    out["all_passed"] = all(all(r["passed"]) for m in ("serial", "shared") for r in out[m])
    print(json.dumps({k: out[k] for k in ("serial_pair_s", "shared_pair_s", "speedup", "all_passed")}), flush=True)
    return out


def cost(scenario_file: str, work: Path, timeout_s: float, rows: list, shared_reps: int = 0) -> None:
    """check_generic.py's check of the scenario's generic stack (materialized at work/<name>; its wall
    time includes that materialization, a search's build stage), then its bench."""
    sc = yaml.safe_load(Path(scenario_file).read_text())
    row = {"scenario": sc["name"]}
    rows.append(row)  # filled as it goes: a run cut short keeps what it measured
    row["check"] = check(scenario_file, work, timeout_s)
    w = scenario_workload(sc)
    workload = work / f"{sc['name']}.workload.json"
    workload.write_text(json.dumps(w.to_dict()))
    row["workload"] = w.to_dict()
    row["bench"] = bench(work / sc["name"], workload, work / f"{sc['name']}.bench.json", timeout_s)
    row["candidate_s"] = round(row["check"].get("wall_s", 0.0) + row["bench"]["wall_s"], 3)
    print(json.dumps({k: row[k] for k in ("scenario", "candidate_s", "bench")}), flush=True)
    if shared_reps > 0:
        row["shared_checks"] = {}
        shared_checks(work / sc["name"], work, shared_reps, timeout_s, row["shared_checks"])


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("scenarios", nargs="+")
    ap.add_argument("--out")
    ap.add_argument("--timeout-s", type=float, default=300.0)
    ap.add_argument(
        "--shared-checks", type=int, default=0, metavar="REPS", help="also time check pairs serial vs shared"
    )
    ap.add_argument("--work-dir", default=str(REPO / ".vibeserve" / "candidate-cost"))
    args = ap.parse_args()
    work = Path(args.work_dir)
    work.mkdir(parents=True, exist_ok=True)
    result = {
        "command": " ".join(["python", "bench/gpu/candidate_cost.py", *sys.argv[1:]]),
        "device": device_name(device_of(yaml.safe_load(Path(args.scenarios[0]).read_text()))),
        "rows": [],
    }
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(143))  # a time limit still writes what was measured
    try:
        for s in args.scenarios:
            cost(s, work, args.timeout_s, result["rows"], args.shared_checks)
    finally:
        if args.out:
            Path(args.out).write_text(json.dumps(result, indent=2) + "\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
