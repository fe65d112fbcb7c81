"""How many candidates a search evaluated per hour, and where their time went, from its search.json.

  python bench/scenarios/search_throughput.py SEARCH_JSON... --out bench/results/search_throughput_h100.json \
      [--device-name "NVIDIA H100 80GB HBM3"] [--run-command "..."]

Per search (an entry of the output's `scenarios`, keyed by scenario name; other scenarios already in
--out are kept):
- `candidates_per_hour`: candidates evaluated (accepted and rejected) over the search's wall time;
- `stage_s`: each stage's wall time per candidate (build, verify, benchmark; median, min, max, n), from
  the candidate workflow's clock, so activity queueing and retries count in the stage they delay;
- `candidate_s`: each candidate's whole pipeline;
- `phase_s`: inside the verify and benchmark stages, each phase of the `check` and `bench` processes
  (import, load, graph_capture, reference, each check rule as `rules.<name>`, warmup, timed, ...; see
  docs/boundary.md) per candidate, from the `phase_s` of the check.json and bench.json beside the
  search.json (`candidates/<id>/`); null where no candidate's files record phases;
- `outside_candidates_s`: the search's wall time that no candidate covers, with `concurrency` candidates
  at a time: the architect, starting children, the final round's side-by-side re-measure and Temporal's
  own scheduling;
- `target_per_hour`: 40 for a MoE model (mixtral), 100 otherwise (the models the seed scenarios search
  are up to 1B parameters), and `met`.
A search.json written before candidates recorded their stages has `stage_s: null`.
"""

from __future__ import annotations

import argparse
import json
import statistics
import sys
from datetime import datetime
from pathlib import Path

STAGES = ("build", "verify", "benchmark")
PHASE_FILES = {"verify": "check.json", "benchmark": "bench.json"}
TARGET_PER_HOUR = {"mixtral": 40.0}
DEFAULT_TARGET_PER_HOUR = 100.0


def spread(values: list[float]) -> dict | None:
    if not values:
        return None
    return {"median": statistics.median(values), "min": min(values), "max": max(values), "n": len(values)}


def wall_s(search: dict) -> float:
    def at(stamp: str) -> datetime:
        return datetime.fromisoformat(stamp.replace("Z", "+00:00"))

    return (at(search["finishedAt"]) - at(search["startedAt"])).total_seconds()


def flat_phases(phase_s: dict) -> dict[str, float]:
    """A verb's phase_s with its nested rules as `rules.<name>`."""
    flat: dict[str, float] = {}
    for k, v in phase_s.items():
        if isinstance(v, dict):
            flat.update({f"{k}.{r}": float(s) for r, s in v.items() if isinstance(s, (int, float))})
        elif isinstance(v, (int, float)) and not isinstance(v, bool):
            flat[k] = float(v)
    return flat


def phases_of(candidates: list[dict], artifacts: Path) -> dict | None:
    """Per stage, each phase's spread over the candidates whose verb files record it."""
    out: dict[str, dict] = {}
    for stage, name in PHASE_FILES.items():
        seen: dict[str, list[float]] = {}
        for c in candidates:
            f = artifacts / "candidates" / str(c.get("candidateId")) / name
            try:
                phase_s = json.loads(f.read_text()).get("phase_s")
            except (OSError, ValueError):
                continue
            for k, v in flat_phases(phase_s if isinstance(phase_s, dict) else {}).items():
                seen.setdefault(k, []).append(v)
        if seen:
            out[stage] = {k: spread(v) for k, v in seen.items()}
    return out or None


def summarize(search: dict, artifacts: Path | None = None) -> dict:
    """One search's throughput entry (see the module docstring); `artifacts`: the search's directory."""
    if not search.get("startedAt") or not search.get("finishedAt"):
        raise ValueError("the search.json has no startedAt/finishedAt: the search has not finished writing it")
    candidates = list(search.get("leaderboard") or []) + list(search.get("rejected") or [])
    wall = wall_s(search)
    scenario = search.get("scenario") or {}
    concurrency = int((scenario.get("search") or {}).get("concurrency") or 1)
    checks_per_device = int((scenario.get("search") or {}).get("checks_per_device") or 1)
    durations = [c["durationMs"] / 1000 for c in candidates if c.get("durationMs") is not None]
    with_stages = [c["stageMs"] for c in candidates if c.get("stageMs")]
    stage_s = (
        {
            s: spread([st[s] / 1000 for st in with_stages if s in st])
            for s in STAGES
            if any(s in st for st in with_stages)
        }
        if with_stages
        else None
    )
    arch = (scenario.get("model") or {}).get("arch")
    target = TARGET_PER_HOUR.get(arch, DEFAULT_TARGET_PER_HOUR)
    per_hour = len(candidates) / wall * 3600 if wall > 0 else None
    return {
        "search_id": search.get("searchId"),
        "status": search.get("status"),
        "arch": arch,
        "wall_s": wall,
        "candidates": len(candidates),
        "accepted": len(search.get("leaderboard") or []),
        "rejected": len(search.get("rejected") or []),
        "concurrency": concurrency,
        "checks_per_device": checks_per_device,
        "candidates_per_hour": per_hour,
        "target_per_hour": target,
        "met": per_hour is not None and per_hour >= target,
        "candidate_s": spread(durations),
        "stage_s": stage_s,
        "phase_s": phases_of(candidates, artifacts) if artifacts else None,
        "outside_candidates_s": wall - sum(durations) / concurrency if durations else None,
    }


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("search_json", nargs="+", type=Path)
    ap.add_argument("--out", type=Path, required=True)
    ap.add_argument("--device-name")
    ap.add_argument("--run-command", help="the command that ran the searches, recorded as is")
    args = ap.parse_args()
    result = json.loads(args.out.read_text()) if args.out.exists() else {}
    result.setdefault("scenarios", {})
    result.setdefault("repetitions", {"count": 1, "why": "one search per scenario: a count over its wall time"})
    for path in args.search_json:
        if not path.is_file():
            print(f"search_throughput: no search.json at {path}", file=sys.stderr)
            return 2
        search = json.loads(path.read_text())
        name = (search.get("scenario") or {}).get("name") or path.parent.name
        result["scenarios"][name] = summarize(search, path.parent)
    if args.device_name:
        result["device"] = args.device_name
    if args.run_command:
        result["command"] = args.run_command
    text = json.dumps(result, indent=2)
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(text + "\n")
    print(text)
    return 0


if __name__ == "__main__":
    sys.exit(main())
