"""bench/gpu/bench_vs_harness.py keeps working: on a CPU, the demo scenario's generic stack measured by
the bench verb and by the comparison harness, interleaved, with the figures a result file needs."""

import json
import subprocess
import sys
from pathlib import Path

REPO = Path(__file__).resolve().parents[2]


def test_bench_vs_harness_measures_both_paths_interleaved(tmp_path):
    out = tmp_path / "bvh.json"
    workload = {"num_prompts": 8, "input_len": 16, "output_len": 8, "max_concurrency": 4, "min_duration_s": 0.2}
    r = subprocess.run(
        [
            sys.executable,
            str(REPO / "bench" / "gpu" / "bench_vs_harness.py"),
            "--scenario",
            str(REPO / "scenarios" / "cpu-demo.yaml"),
            "--device",
            "cpu",
            "--workload",
            json.dumps(workload),
            "--reps",
            "2",
            "--out",
            str(out),
        ],
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert r.returncode in (0, 1), r.stderr[-2000:]  # 1: the paths disagree, which a busy CPU may make them
    res = json.loads(out.read_text())
    assert [json.loads(line)["round"] for line in r.stdout.splitlines() if '"round"' in line] == [0, 1]
    assert len(res["bench_verb_output_throughput"]) == len(res["harness_output_throughput"]) == 2
    assert res["bench_verb"]["n"] == 2 and res["harness"]["min"] > 0
    assert res["ratio_bench_over_harness"] == res["bench_verb"]["median"] / res["harness"]["median"]
    assert res["agree"] == (abs(res["ratio_bench_over_harness"] - 1) <= 0.10) and (r.returncode == 0) == res["agree"]
    assert "bench_vs_harness.py" in res["command"] and res["device"].startswith("cpu")
