"""bench/gpu/shape_matrix.py keeps working: --tiny shrinks its configs to CPU size and runs the same
path (materialize, the check verb, a side-by-side bench) that the H100 run takes."""

import json
import os
import subprocess
import sys
from pathlib import Path

GPU_BENCH = Path(__file__).resolve().parents[2] / "bench" / "gpu"
SCRIPT = GPU_BENCH / "shape_matrix.py"


def test_configs_span_the_shapes_the_matrix_is_about():
    sys.path.insert(0, str(GPU_BENCH))
    import shape_configs as shapes

    facts = [shapes.describe(shapes.resolved_config(r, shapes.model_config(r))) for r in shapes.CONFIGS]
    assert len(facts) >= 10
    widths, head_dims = {f["hidden_size"] for f in facts}, {f["head_dim"] for f in facts}
    assert min(widths) <= 512 and max(widths) >= 8192 and {64, 96, 128, 256} <= head_dims
    assert {f["attention"] for f in facts} == {"MHA", "GQA", "MQA"}
    assert {f["tied"] for f in facts} == {True, False} and any(f["qkv_bias"] for f in facts)
    moe = [f for f in facts if f["experts"]]
    assert min(f["experts"] for f in moe) == 8 and max(f["experts"] for f in moe) == 64
    assert {1, 8} <= {f["top_k"] for f in moe}
    assert {r["family"] for r in shapes.CONFIGS} == {"dense", "moe", "int8"}
    for r in shapes.CONFIGS:  # the tiny shapes keep the kind of attention and of routing
        big, small = (shapes.describe(shapes.resolved_config(x, shapes.model_config(x))) for x in (r, shapes.tiny(r)))
        assert small["attention"] == big["attention"] and bool(small["experts"]) == bool(big["experts"])
        assert small["hidden_size"] <= 64 and small["vocab_size"] == 512


def run_matrix(tmp_path: Path, out: Path, only: str, *more: str) -> subprocess.CompletedProcess:
    return subprocess.run(
        [
            sys.executable,
            str(SCRIPT),
            "--device",
            "cpu",
            "--tiny",
            "--only",
            only,
            "--work-dir",
            str(tmp_path / "work"),
            "--out",
            str(out),
            "--time-budget-s",
            "900",
            *more,
        ],
        capture_output=True,
        text=True,
        timeout=1200,
        env={**os.environ, "TRITON_INTERPRET": "1"},
    )


def test_tiny_rows_run_on_cpu(tmp_path):
    """Under the Triton interpreter, as in the whole suite (other modules set it at import), so the
    MoE row runs the GPU's fused kernels and the result does not depend on which tests ran first."""
    out = tmp_path / "m.json"
    p = run_matrix(tmp_path, out, "qwen2.5-0.5b,olmoe-1b-7b")
    assert p.returncode == 0, p.stderr[-3000:]
    r = json.loads(out.read_text())
    assert (
        r["complete"]
        and "shape_matrix.py" in r["command"]
        and [row["name"] for row in r["rows"]] == ["qwen2.5-0.5b", "olmoe-1b-7b"]
    )
    for row in r["rows"]:
        verdicts = {
            n: {k: v for k, v in (d.get("check") or {}).items() if k != "command"} for n, d in row["designs"].items()
        }
        assert row["passed"], json.dumps(
            {"reason": row.get("reason"), "checks": verdicts, "bench": row.get("bench")}, indent=1, default=str
        )[:4000]
        for name in ("generic", "fastest"):
            c = row["designs"][name]["check"]
            assert c["status"] == "passed" and " check --stack " in c["command"] and c["wall_s"] > 0
            assert c["logits"]["value"] <= c["logits"]["threshold"]
        assert row["bench"]["status"] == "measured" and " bench --stack " in row["bench"]["command"]
        assert " --with " in row["bench"]["command"] and row["bench"]["speedup_fastest_vs_generic"] > 0
    moe = r["rows"][1]
    assert moe["designs"]["fastest"]["design"]["choices"]["moe"] == "fused_tuned"
    assert moe["designs"]["fastest"]["design"]["params"]["decode_steps"] == 8
    assert moe["shape"]["experts"] == 8 and moe["shape"]["top_k"] == 4

    # --resume keeps every verdict and benchmark of the same designs, runs only what is missing (a row
    # whose check was cut for time) and lists both runs
    first = json.loads(out.read_text())
    cut = json.loads(out.read_text())
    cut["rows"][0]["designs"]["fastest"]["check"] = {"status": "skipped", "passed": False, "reason": "time budget"}
    cut["rows"][0]["bench"] = {"status": "skipped", "reason": "time budget"}
    out.write_text(json.dumps(cut))
    p = run_matrix(tmp_path, out, "qwen2.5-0.5b,olmoe-1b-7b", "--resume")
    assert p.returncode == 0 and "--resume kept 3 checks" in p.stderr, p.stderr[-3000:]
    again = json.loads(out.read_text())
    assert again["complete"] and len(again["runs"]) == 2 and "--resume" in again["runs"][1]["command"]
    assert again["rows"][1] == first["rows"][1]  # kept as measured
    assert again["rows"][0]["designs"]["generic"]["check"] == first["rows"][0]["designs"]["generic"]["check"]
    assert again["rows"][0]["designs"]["fastest"]["check"]["status"] == "passed"  # run again
    assert again["rows"][0]["bench"]["status"] == "measured"


def test_resume_refuses_another_workload(tmp_path):
    out = tmp_path / "m.json"
    out.write_text(json.dumps({"workload": {"num_prompts": 1}, "device": "cpu", "rows": []}))
    p = run_matrix(tmp_path, out, "qwen2.5-0.5b", "--resume")
    assert p.returncode != 0 and "another device or workload" in p.stderr
