"""bench/gpu/decode_roofline.py keeps working: its --smoke mode runs the same code paths on tiny shapes
(on CPU here; the GPU figures come from running it on the device)."""

import json
import subprocess
import sys
from pathlib import Path

SCRIPT = Path(__file__).resolve().parents[2] / "bench" / "gpu" / "decode_roofline.py"


def test_decode_roofline_smoke(tmp_path):
    out = tmp_path / "r.json"
    subprocess.run(
        [
            sys.executable,
            str(SCRIPT),
            "--smoke",
            "--device",
            "cpu",
            "--no-compile",
            "--only",
            "bandwidth,gpt2_decode_b1,gpt2_decode_256,llama8b_batch256",
            "--out",
            str(out),
        ],
        check=True,
        timeout=300,
        capture_output=True,
    )
    r = json.loads(out.read_text())
    assert "decode_roofline.py" in r["command"] and r["device"] == "cpu" and not r["errors"]
    g = r["figures"]["gpt2_decode_b1"]
    assert g["device_loop_graph"]["tokens_equal_to_engine_before_first_difference"] == g["tokens"]
    assert g["engine_step_loop"]["tokens_per_s"] > 0 and g["non_embedding_weight_bytes"] > 0
    assert g["engine_multi_step_async"]["tokens_per_s"] > 0
    assert g["engine_multi_step_async"]["params"] == {"decode_steps": 8, "async_scheduling": True}
    d = r["figures"]["gpt2_decode_256"]
    assert d["tokens_equal"] and all(d[m]["median_decode_step_ms"] > 0 for m in ("sync", "async", "async_multi_step"))
    b = r["figures"]["llama8b_batch256"]
    assert b["decode_steps_at_full_batch"] > 0 and 0 < b["kv_memory"]["used_over_allocated"] <= 1
