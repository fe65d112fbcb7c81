"""bench/scenarios/search_throughput.py: candidates per hour and the time per stage, from search.json."""

import json
import subprocess
import sys
from pathlib import Path

REPO = Path(__file__).resolve().parents[2]
SCRIPT = REPO / "bench" / "scenarios" / "search_throughput.py"


def candidate(cid: str, build: int, verify: int, bench: int | None) -> dict:
    stages = {"build": build, "verify": verify} | ({"benchmark": bench} if bench is not None else {})
    return {"candidateId": cid, "stageMs": stages, "durationMs": sum(stages.values())}


def search(name: str, arch: str, concurrency: int = 1) -> dict:
    return {
        "searchId": f"vibeserve-{name}-gpu",
        "status": "done",
        "startedAt": "2026-12-07T15:00:00.000Z",
        "finishedAt": "2026-12-07T15:06:00.000Z",  # 360 s
        "scenario": {"name": name, "model": {"arch": arch}, "search": {"concurrency": concurrency}},
        "leaderboard": [candidate("r1-c0", 2000, 50000, 40000), candidate("r1-c1", 1000, 40000, 30000)],
        "rejected": [candidate("r2-c0", 1000, 30000, None)],
    }


def run(tmp_path: Path, *searches: dict, out: Path) -> subprocess.CompletedProcess:
    paths = []
    for s in searches:
        p = tmp_path / s["scenario"]["name"] / "search.json"
        p.parent.mkdir(parents=True, exist_ok=True)
        p.write_text(json.dumps(s))
        paths.append(str(p))
    cmd = [sys.executable, str(SCRIPT), *paths, "--out", str(out), "--device-name", "test-gpu"]
    return subprocess.run(cmd, capture_output=True, text=True, timeout=60)


def test_counts_every_candidate_per_hour_and_splits_their_time_by_stage(tmp_path):
    out = tmp_path / "search_throughput.json"
    p = run(tmp_path, search("llama-int8", "llama"), out=out)
    assert p.returncode == 0, p.stderr
    entry = json.loads(out.read_text())["scenarios"]["llama-int8"]
    assert entry["candidates"] == 3 and entry["accepted"] == 2 and entry["rejected"] == 1
    assert entry["candidates_per_hour"] == 3 / 360 * 3600
    assert entry["target_per_hour"] == 100 and entry["met"] is False
    assert entry["stage_s"]["verify"] == {"median": 40.0, "min": 30.0, "max": 50.0, "n": 3}
    assert entry["stage_s"]["benchmark"]["n"] == 2  # the rejected one never reached it
    assert entry["outside_candidates_s"] == 360 - (92 + 71 + 31)


def test_keeps_other_scenarios_and_sets_the_moe_target(tmp_path):
    out = tmp_path / "search_throughput.json"
    assert run(tmp_path, search("llama-int8", "llama"), out=out).returncode == 0
    assert run(tmp_path, search("mixtral-moe", "mixtral", concurrency=2), out=out).returncode == 0
    result = json.loads(out.read_text())
    assert set(result["scenarios"]) == {"llama-int8", "mixtral-moe"} and result["device"] == "test-gpu"
    moe = result["scenarios"]["mixtral-moe"]
    assert moe["target_per_hour"] == 40 and moe["met"] is False
    assert moe["outside_candidates_s"] == 360 - (92 + 71 + 31) / 2


def test_an_older_search_without_stage_times_still_counts_and_a_missing_file_is_named(tmp_path):
    old = search("gpt2-chat", "gpt2")
    for c in old["leaderboard"] + old["rejected"]:
        del c["stageMs"]
    out = tmp_path / "t.json"
    assert run(tmp_path, old, out=out).returncode == 0
    entry = json.loads(out.read_text())["scenarios"]["gpt2-chat"]
    assert entry["stage_s"] is None and entry["candidate_s"]["n"] == 3
    p = subprocess.run(
        [sys.executable, str(SCRIPT), str(tmp_path / "nope.json"), "--out", str(out)], capture_output=True, text=True
    )
    assert p.returncode == 2 and "no search.json at" in p.stderr


def test_splits_the_verify_and_benchmark_stages_into_the_verbs_phases(tmp_path):
    s = search("hopper-kernels", "llama")
    root = tmp_path / "hopper-kernels"
    for cid, load, capture in (("r1-c0", 4.0, 10.0), ("r1-c1", 6.0, 2.0)):
        d = root / "candidates" / cid
        d.mkdir(parents=True)
        check = {"phase_s": {"import": 3.0, "load": load, "rules": {"logits": 1.5, "batch_invariance": 2.5}}}
        (d / "check.json").write_text(json.dumps(check))
        (d / "bench.json").write_text(json.dumps({"phase_s": {"load": load, "graph_capture": capture, "total": 30}}))
    (root / "candidates" / "r2-c0").mkdir(parents=True)  # rejected before writing anything
    out = tmp_path / "t.json"
    assert run(tmp_path, s, out=out).returncode == 0
    phases = json.loads(out.read_text())["scenarios"]["hopper-kernels"]["phase_s"]
    assert phases["verify"]["load"] == {"median": 5.0, "min": 4.0, "max": 6.0, "n": 2}
    assert phases["verify"]["rules.batch_invariance"]["median"] == 2.5
    assert phases["benchmark"]["graph_capture"] == {"median": 6.0, "min": 2.0, "max": 10.0, "n": 2}
