"""Where one search candidate's time goes on this host: the real `check` and `bench` verbs, each in its
own process as a search runs them, on a scenario's generic stack with the scenario's workload, and the
phases each process records (`phase_s`, docs/boundary.md: import, load, graph_capture, reference, each
check rule, warmup, timed, profile).

  python bench/gpu/candidate_cost.py scenarios/llama-int8.yaml [more.yaml ...] [--out RESULT.json]

The check runs without a reference cache, so its `reference` phase is what a search's first candidate
pays (later ones read the cache); the bench runs with its decode profile, as a search's does.
"""

from __future__ import annotations

import argparse
import json
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


def cost(scenario_file: str, work: Path, timeout_s: float) -> dict:
    """check_generic.py's check of the scenario's generic stack (materialized at work/<name>; its wall
    time includes that materialization, a search's build stage), then its bench."""
    sc = yaml.safe_load(Path(scenario_file).read_text())
    row = {"scenario": sc["name"], "check": check(scenario_file, work, timeout_s)}
    w = scenario_workload(sc)
    workload = work / f"{sc['name']}.workload.json"
    workload.write_text(json.dumps(w.to_dict()))
    row["workload"] = w.to_dict()
    row["bench"] = bench(work / sc["name"], workload, work / f"{sc['name']}.bench.json", timeout_s)
    row["candidate_s"] = round(row["check"].get("wall_s", 0.0) + row["bench"]["wall_s"], 3)
    print(json.dumps({k: row[k] for k in ("scenario", "candidate_s", "bench")}), flush=True)
    return row


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("scenarios", nargs="+")
    ap.add_argument("--out")
    ap.add_argument("--timeout-s", type=float, default=300.0)
    ap.add_argument("--work-dir", default=str(REPO / ".vibeserve" / "candidate-cost"))
    args = ap.parse_args()
    work = Path(args.work_dir)
    work.mkdir(parents=True, exist_ok=True)
    result = {
        "command": " ".join(["python", "bench/gpu/candidate_cost.py", *sys.argv[1:]]),
        "device": device_name(device_of(yaml.safe_load(Path(args.scenarios[0]).read_text()))),
        "rows": [cost(s, work, args.timeout_s) for s in args.scenarios],
    }
    if args.out:
        Path(args.out).write_text(json.dumps(result, indent=2) + "\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
