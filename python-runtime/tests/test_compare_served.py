"""The served comparison (bench/scenarios/compare_served.py) on a CPU variant of a seed scenario:
real `serve` processes for the generic stack and a recorded design, driven over HTTP by the load
generator, both workloads, medians and ratios computed from the repetitions it recorded."""

import json
import subprocess
import sys
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[2]
SCENARIOS = REPO / "bench" / "scenarios"


@pytest.fixture(scope="module")
def served(tmp_path_factory):
    tmp = tmp_path_factory.mktemp("served")
    scenario = tmp / "gpt2-cpu.yaml"
    subprocess.run(
        [
            sys.executable,
            str(SCENARIOS / "prepare_scenario.py"),
            str(REPO / "scenarios" / "gpt2-chat.yaml"),
            str(scenario),
            "--cpu",
        ],
        check=True,
        capture_output=True,
        timeout=60,
    )
    # a recorded design: the generic CPU stack with a smaller batch limit
    earlier = tmp / "earlier.json"
    earlier.write_text(
        json.dumps(
            {
                "search": {
                    "search_id": "s-1",
                    "best_design": {
                        "choices": {
                            "attention": "sdpa",
                            "kv_cache": "paged",
                            "scheduler": "continuous",
                            "execution": "eager",
                            "linear": "native",
                            "moe": "loop",
                            "sampling": "sort_based",
                            "tokenizer": "byte",
                            "tp": "1",
                        },
                        "params": {
                            "max_batch_size": 4,
                            "max_num_batched_tokens": 2048,
                            "block_size": 16,
                            "prefix_caching": True,
                        },
                    },
                }
            }
        )
    )
    out = tmp / "served.json"
    p = subprocess.run(
        [
            sys.executable,
            str(SCENARIOS / "compare_served.py"),
            "--scenario",
            str(scenario),
            "--out",
            str(out),
            "--design-from",
            str(earlier),
            "--peers",
            "",
            "--reps",
            "2",
            "--max-prompts",
            "8",
            "--time-budget-s",
            "240",
            "--work-dir",
            str(tmp / "work"),
        ],
        capture_output=True,
        text=True,
        timeout=600,
        cwd=tmp,
    )
    assert p.returncode == 0, p.stderr[-3000:]
    return json.loads(out.read_text()), p.stderr


def test_every_stack_is_served_and_measured_over_http_on_both_workloads(served):
    r, log = served
    assert r["mode"] == "online" and r["device_kind"] == "cpu"
    assert set(r["workloads"]) == {"scenario", "saturating"}
    for name, section in r["workloads"].items():
        assert set(section["stacks"]) == {"generic", "searched"}, name
        for stack in section["stacks"].values():
            assert len(stack["runs"]) == 2
            assert all(run["completed"] == 8 and run["failed"] == 0 for run in stack["runs"])
    # the saturating run keeps 128 output tokens and shortens the prompt to the tiny model's 512 positions
    sat = r["workloads"]["saturating"]["workload"]
    assert (sat["input_len"], sat["output_len"], sat["max_concurrency"]) == (384, 128, 256)
    assert "ready in" in log and r["stacks"]["generic"]["load_s"] > 0
    assert r["searched_source"].startswith("the best design of search s-1")
    assert r["stacks"]["searched"]["params"]["max_batch_size"] == 4


def test_medians_and_ratios_come_from_the_recorded_repetitions(served):
    r, _ = served
    head = r["workloads"]["scenario"]
    med = {n: sorted(run["output_throughput"] for run in s["runs"]) for n, s in head["stacks"].items()}
    for n, vals in med.items():
        assert head["stacks"][n]["metrics"]["output_throughput"]["median"] == pytest.approx(sum(vals) / 2)
    ratio = (
        head["stacks"]["searched"]["metrics"]["output_throughput"]["median"]
        / head["stacks"]["generic"]["metrics"]["output_throughput"]["median"]
    )
    assert head["ratio_vs_generic"] == pytest.approx(ratio)
    assert r["ratio_vs_generic"] == pytest.approx(ratio)
    assert r["workload"]["num_prompts"] == 8 and r["stacks"]["generic"]["metrics"]
    # no peer was asked for: there is no best peer and no ratio against one
    assert head["best_peer"] is None and r["ratio_vs_peer"] is None


def test_every_engine_serves_the_same_checkpoint(served):
    r, _ = served
    ckpt = Path(r["checkpoint"])
    assert (ckpt / "model.safetensors").is_file() and (ckpt / "config.json").is_file()
    for name in ("generic", "searched"):
        stack = json.loads((Path(r["checkpoint"]).parent / name / "stack.json").read_text())
        assert stack["model"]["weights"] == "path"
        assert Path(stack["model"]["path"]).resolve() == ckpt.resolve()
