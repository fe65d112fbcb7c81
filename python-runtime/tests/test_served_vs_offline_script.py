"""bench/gpu/served_vs_offline.py keeps working: on a CPU, a tiny stack measured offline (the bench
verb) and behind its own server, with the server's share of the time to first token."""

import json
import os
import subprocess
import sys
from pathlib import Path

REPO = Path(__file__).resolve().parents[2]


def test_served_vs_offline_reports_both_sides_and_the_servers_share_of_ttft(tmp_path):
    out = tmp_path / "svo.json"
    r = subprocess.run(
        [
            sys.executable,
            str(REPO / "bench" / "gpu" / "served_vs_offline.py"),
            "--device",
            "cpu",
            "--preset",
            "tiny-gpt2",
            "--shape",
            "16/8",
            "--concurrency",
            "8",
            "--num-prompts",
            "16",
            "--reps",
            "2",
            "--out",
            str(out),
        ],
        capture_output=True,
        text=True,
        timeout=300,
        env={**os.environ, "OMP_NUM_THREADS": "1"},
    )
    assert r.returncode == 0, r.stderr[-2000:]
    res = json.loads(out.read_text())
    assert len(res["offline"]["repetitions"]) == len(res["served"]["repetitions"]) == 2
    for rep in res["served"]["repetitions"]:
        assert rep["completed"] == 16 and rep["failed"] == 0
        # the server's TTFT starts after the body is parsed and ends before the SSE write: inside the client's
        assert 0 < rep["server_mean_ttft_ms"] <= rep["mean_ttft_ms"]
    off, srv = res["offline"]["output_throughput"], res["served"]["output_throughput"]
    assert res["ratio"]["median"] == srv["median"] / off["median"]
    assert res["figures"]["served_over_offline_ratio"] == res["ratio"]["median"]
    assert "served_vs_offline.py" in res["command"]
