"""Materializes a scenario's generic stack (docs/generic-stack.md) and runs the real `check` verb on
it: the generic stack must pass the checker like any candidate, on the scenario's own hardware.

  python bench/scenarios/check_generic.py scenarios/gpt2-chat.yaml [more.yaml ...] [--out RESULT.json]

Prints one line per scenario (verdict, failed checks, where the time went) and writes the reports.
"""

from __future__ import annotations

import argparse
import json
import shlex
import subprocess
import sys
import time
from pathlib import Path

import yaml

sys.path.insert(0, str(Path(__file__).resolve().parent))  # bench/scenarios is not a package
from scenario_stacks import REPO, device_name, device_of, generic_spec, materialize  # noqa: E402


def check(scenario_file: str, work: Path, timeout_s: float) -> dict:
    sc = yaml.safe_load(Path(scenario_file).read_text())
    device = device_of(sc)
    spec = generic_spec(sc, device)
    row = {"scenario": sc["name"], "components": spec["components"], "params": spec["params"]}
    t0 = time.perf_counter()
    try:
        stack = materialize(spec, work / sc["name"])
    except Exception as e:
        return {**row, "passed": False, "error": str(e)}
    report = work / f"{sc['name']}.check.json"
    p = subprocess.run(
        [
            sys.executable,
            "-m",
            "vibeserve_runtime",
            "check",
            "--stack",
            str(stack),
            "--report",
            str(report),
            "--timeout",
            str(timeout_s),
        ],
        cwd=REPO,
        capture_output=True,
        text=True,
        timeout=timeout_s + 60,
    )
    row["wall_s"] = time.perf_counter() - t0
    row["exit_code"] = p.returncode
    if report.is_file():
        r = json.loads(report.read_text())
        row.update(
            passed=bool(r.get("passed")),
            checks={c["name"]: c.get("passed") for c in r.get("checks", [])},
            timings_s=r.get("timings_s"),
            phase_s=r.get("phase_s"),
            captured_buckets=r.get("captured_buckets"),
            failed=[c for c in r.get("checks", []) if not c.get("passed")],
        )
    else:
        row.update(passed=False, error=" | ".join((p.stdout + p.stderr).strip().splitlines()[-4:]))
    return row


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("scenarios", nargs="+")
    ap.add_argument("--out")
    ap.add_argument("--timeout-s", type=float, default=300.0)
    ap.add_argument("--work-dir", default=str(REPO / ".vibeserve" / "check-generic"))
    args = ap.parse_args()
    rows = [check(f, Path(args.work_dir), args.timeout_s) for f in args.scenarios]
    for r in rows:
        failed = ", ".join(c.get("name", "?") for c in r.get("failed") or []) or r.get("error", "")
        print(
            f"check-generic: {r['scenario']:28s} {'PASS' if r['passed'] else 'FAIL'} {failed[:300]} "
            f"({r.get('wall_s', 0):.1f}s)"
        )
    if args.out:
        sc = yaml.safe_load(Path(args.scenarios[0]).read_text())
        Path(args.out).write_text(
            json.dumps(
                {
                    "device": device_name(device_of(sc)),
                    "command": " ".join(shlex.quote(a) for a in [sys.executable, *sys.argv]),
                    "repetitions": 1,
                    "scenarios": rows,
                },
                indent=2,
                default=str,
            )
        )
    return 0 if all(r["passed"] for r in rows) else 1


if __name__ == "__main__":
    sys.exit(main())
