"""The shared_prefix workload (bench/workload.py): one system prompt per request set, requests that
differ after it, a prefix of its own for the warm-up and for every timed pass, the field's
validation, and the scenario's CPU variant carried into the bench verb's terms."""

import json
import subprocess
import sys
from pathlib import Path

import pytest
import yaml

from vibeserve_runtime.bench.workload import (
    Workload,
    make_requests,
    pass_seed,
    profile_requests,
    timed_pass,
    warmup_requests,
)
from vibeserve_runtime.events import VibeError

REPO = Path(__file__).resolve().parents[2]
SCENARIOS = REPO / "bench" / "scenarios"
sys.path.insert(0, str(SCENARIOS))
from prepare_scenario import cpu_variant  # noqa: E402
from runtime_stacks import result_of, run_verb  # noqa: E402
from scenario_stacks import generic_spec, materialize, scenario_workload  # noqa: E402

VOCAB = 512
SHARED = {"dataset": "shared_prefix", "num_prompts": 8, "input_len": 40, "shared_prefix_len": 32, "output_len": 4}


def _prefix_of(reqs) -> tuple:
    """The longest prefix every prompt of the set opens with."""
    prompts = [q.prompt_token_ids for q in reqs]
    n = 0
    while all(len(p) > n and p[n] == prompts[0][n] for p in prompts):
        n += 1
    return tuple(prompts[0][:n])


def test_prompts_share_exactly_the_prefix_and_differ_after_it():
    w = Workload.from_dict(SHARED)
    reqs = make_requests(w, VOCAB, pass_seed(0, 0), {0, 1, 2})
    assert len(reqs) == 8
    assert all(len(q.prompt_token_ids) == 40 and q.max_tokens == 4 for q in reqs)
    assert len(_prefix_of(reqs)) == 32
    suffixes = {tuple(q.prompt_token_ids[32:]) for q in reqs}
    assert len(suffixes) == 8
    assert not {0, 1, 2} & {t for q in reqs for t in q.prompt_token_ids}
    assert make_requests(w, VOCAB, pass_seed(0, 0), {0, 1, 2})[3].prompt_token_ids == reqs[3].prompt_token_ids


def test_the_warmup_and_every_pass_have_a_prefix_of_their_own():
    """A set sharing another's prefix would find it cached: the warm-up would warm the timed passes,
    and pass k would warm pass k+1."""
    w = Workload.from_dict({**SHARED, "max_concurrency": 2})
    sets = {
        "warmup": warmup_requests(w, VOCAB),
        "profile": profile_requests(w, VOCAB),
        **{f"rep{r}-pass{k}": timed_pass(w, VOCAB, r, k) for r in range(3) for k in range(3)},
    }
    prefixes = {name: _prefix_of(reqs) for name, reqs in sets.items()}
    assert all(len(p) == 32 for p in prefixes.values()), prefixes
    # no two sets share even one block's worth of prefix
    assert len({p[:16] for p in prefixes.values()}) == len(sets)
    # the warm-up keeps the timed passes' shapes: 2c requests of the same lengths
    assert [len(q.prompt_token_ids) for q in sets["warmup"]] == [40] * 4


@pytest.mark.parametrize(
    "fields, says",
    [
        ({"shared_prefix_len": None}, "is required for dataset 'shared_prefix'"),
        ({"shared_prefix_len": 40}, "0 < shared_prefix_len < input_len (40), got 40"),
        ({"shared_prefix_len": 0}, "0 < shared_prefix_len < input_len (40), got 0"),
        ({"shared_prefix_len": 8.5}, "must be an integer"),
        ({"dataset": "fixed"}, "applies to dataset 'shared_prefix' only"),
    ],
)
def test_a_bad_shared_prefix_len_is_a_usage_error_naming_the_field(fields, says):
    with pytest.raises(VibeError) as e:
        Workload.from_dict({**SHARED, **fields})
    assert e.value.kind == "usage" and e.value.reason == "bad_workload"
    assert "workload field 'shared_prefix_len'" in e.value.message and says in e.value.message
    assert "\n" not in e.value.message


def test_the_scenario_and_its_cpu_variant_carry_the_prefix_into_the_bench_workload(tmp_path):
    scenario = REPO / "scenarios" / "shared-prefix-chat.yaml"
    w = scenario_workload(yaml.safe_load(scenario.read_text()))
    assert (w.dataset, w.input_len, w.shared_prefix_len) == ("shared_prefix", 2176, 2048)
    cpu = tmp_path / "cpu.yaml"
    subprocess.run(
        [sys.executable, str(SCENARIOS / "prepare_scenario.py"), str(scenario), str(cpu), "--cpu"],
        check=True,
        capture_output=True,
        timeout=60,
    )
    w = Workload.from_dict(scenario_workload(yaml.safe_load(cpu.read_text())).to_dict())
    assert (w.dataset, w.input_len, w.shared_prefix_len) == ("shared_prefix", 32, 30)


def test_the_cpu_variant_runs_and_its_later_requests_hit_the_prefix_cache(tmp_path):
    """The generic stack (prefix caching on) on the CPU variant, through the bench verb: a pass's
    first wave computes the prefix, the requests after it reuse its blocks."""
    sc = cpu_variant(yaml.safe_load((REPO / "scenarios" / "shared-prefix-chat.yaml").read_text()))
    stack = materialize(generic_spec(sc, "cpu"), tmp_path / "generic")
    w = scenario_workload(sc).to_dict() | {"min_duration_s": 0}
    rc, evs, err = run_verb("bench", "--stack", str(stack), "--workload", json.dumps(w), "--no-profile")
    assert rc == 0, err[-1500:]
    res = result_of(evs)
    assert res["completed"] == 12 and res["total_input_tokens"] == 12 * 32
    stats = res["engine_stats"]
    assert 0 < stats["prefix_cache_hit_tokens"] < stats["prefix_cache_query_tokens"]
