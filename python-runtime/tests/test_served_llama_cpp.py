"""llama.cpp as a peer of the served comparison (bench/scenarios/served_engines.py llama_cpp_server):
`llama-server` on the scenario's own GGUF beside our stack on the same weights, driven by the same
load generator. The comparison runs where bench/peers/build_llama_server.sh has built llama-server
(about 10 minutes on 2 cores, so not in CI's set-up); what it refuses is checked everywhere."""
import json
import subprocess
import sys
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[2]
SCENARIOS = REPO / "bench" / "scenarios"
sys.path.insert(0, str(SCENARIOS))
import served_engines  # noqa: E402


def test_without_llama_server_the_error_says_how_to_build_it(tmp_path, monkeypatch):
    monkeypatch.setattr(served_engines, "LLAMA_SERVER", tmp_path / "absent" / "llama-server")
    with pytest.raises(FileNotFoundError, match="build_llama_server.sh"):
        served_engines.llama_cpp_server(tmp_path / "m.gguf", tmp_path, 256, 4, "cpu")


def test_the_command_gives_a_slot_per_client_and_their_context(tmp_path, monkeypatch):
    fake = tmp_path / "llama-server"
    fake.write_text("#!/bin/sh\necho 'version: 1234 (abcdef0)'\n")
    fake.chmod(0o755)
    monkeypatch.setattr(served_engines, "LLAMA_SERVER", fake)
    srv = served_engines.llama_cpp_server(tmp_path / "m.gguf", tmp_path, 256, 8, "cuda")
    cmd = srv.command
    assert cmd[cmd.index("-np") + 1] == "8" and cmd[cmd.index("-c") + 1] == str(8 * 256)
    assert cmd[cmd.index("-ngl") + 1] == "999" and srv.version == "1234 (abcdef0)"
    assert "-ngl" not in served_engines.llama_cpp_server(tmp_path / "m.gguf", tmp_path, 256, 8, "cpu").command


def _compare(tmp_path, scenario: Path, *extra: str) -> tuple[dict, str]:
    out = tmp_path / "served.json"
    p = subprocess.run([sys.executable, str(SCENARIOS / "compare_served.py"), "--scenario", str(scenario), "--out", str(out),
                        "--peers", "llama.cpp", "--reps", "2", "--no-saturating", "--time-budget-s", "300",
                        "--work-dir", str(tmp_path / "work"), *extra],
                       capture_output=True, text=True, timeout=900, cwd=tmp_path)
    assert p.returncode == 0, p.stderr[-3000:]
    return json.loads(out.read_text()), p.stderr


def test_a_random_weights_scenario_records_why_llama_cpp_is_left_out(tmp_path):
    scenario = tmp_path / "demo.yaml"
    scenario.write_text((REPO / "scenarios" / "cpu-demo.yaml").read_text())
    r, log = _compare(tmp_path, scenario, "--max-prompts", "4")
    assert "GGUF" in r["peers"]["llama.cpp"]["error"] and not r["complete"]
    assert set(r["workloads"]["scenario"]["stacks"]) == {"generic"}


@pytest.mark.skipif(not served_engines.LLAMA_SERVER.is_file(), reason="llama-server not built (bench/peers/build_llama_server.sh)")
def test_llama_cpp_serves_the_scenarios_gguf_beside_the_generic_stack(tmp_path):
    scenario = tmp_path / "smollm2.yaml"   # with the model's path made absolute
    subprocess.run([sys.executable, str(SCENARIOS / "prepare_scenario.py"), str(REPO / "scenarios" / "smollm2-chat-cpu.yaml"),
                    str(scenario)], check=True, capture_output=True, timeout=60)
    r, log = _compare(tmp_path, scenario, "--max-prompts", "8")
    peer = r["peers"]["llama.cpp"]
    assert peer["gguf"].endswith(".gguf") and peer["load_s"] > 0 and peer["version"]
    runs = r["workloads"]["scenario"]["stacks"]["llama.cpp"]["runs"]
    assert len(runs) == 2 and all(run["completed"] == 8 and run["failed"] == 0 for run in runs)
    assert all(run["output_throughput"] > 0 for run in runs)   # usage counted from its stream's last chunk
    assert r["workloads"]["scenario"]["best_peer"] == "llama.cpp" and r["ratio_vs_peer"] > 0
