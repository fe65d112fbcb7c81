"""Checks that share a GPU (the runtime worker's search.checks_per_device) each hand their stack
1/N of its usual GPU-memory share, so two KV pools sized from free memory both fit."""

import pytest
from runtime_stacks import TINY_LLAMA, materialize
from vibeserve_runtime import events
from vibeserve_runtime.cli import check_cmd
from vibeserve_runtime.cli.main import build_parser
from vibeserve_runtime.stack_spec import ENGINE_PARAMS


class _Probed(Exception):
    pass


def _probe_of(tmp_path, monkeypatch, *extra):
    stack = materialize(tmp_path, {**TINY_LLAMA, "name": "memory-share"})
    seen = {}

    def capture(stack_dir, task, probe, device):
        seen.update(probe)
        raise _Probed

    monkeypatch.setattr(check_cmd, "run_candidate", capture)
    args = build_parser().parse_args(
        ["check", "--stack", str(stack), "--num-prompts", "1", "--new-tokens", "2", *extra]
    )
    with pytest.raises(_Probed):
        check_cmd.run(args)
    return seen


def test_a_shared_check_gives_its_stack_a_share_of_the_memory(tmp_path, monkeypatch):
    util = ENGINE_PARAMS["gpu_memory_utilization"][1]
    assert _probe_of(tmp_path / "a", monkeypatch, "--memory-share", "2")["gpu_memory_utilization"] == util / 2
    assert "gpu_memory_utilization" not in _probe_of(tmp_path / "b", monkeypatch)


def test_a_share_below_one_is_refused_before_anything_loads(tmp_path):
    args = build_parser().parse_args(["check", "--stack", str(tmp_path / "absent"), "--memory-share", "0"])
    with pytest.raises(events.VibeError, match="--memory-share must be ≥ 1") as caught:
        check_cmd.run(args)
    assert caught.value.kind == "usage"
