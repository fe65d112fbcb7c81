"""Which engines a served workload can afford (bench/scenarios/served_budget.py)."""

import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[2] / "bench" / "scenarios"))
from served_budget import affordable, projected_repetition_s  # noqa: E402


def test_a_slow_first_wave_is_not_multiplied_into_the_projection():
    # 32 warm-up requests at 16 in flight: the first wave waited 10 s on compilation, the second ran in 0.2 s
    latencies = [10.0] * 16 + [0.2] * 16
    whole_pass = projected_repetition_s(latencies, 10.2, 32, 512, None)
    steady = projected_repetition_s(latencies, 10.2, 32, 512, 16)
    assert whole_pass > 150
    assert steady == 0.2 * 32


def test_open_loop_workloads_scale_the_whole_pass():
    assert projected_repetition_s([1.0] * 10, 5.0, 10, 100, None) == 50.0


def test_the_reserve_for_later_workloads_goes_before_any_engine():
    fit = affordable({"vllm": 10, "generic": 40, "searched": 5}, reps=3, left_s=200, reserve_s=150)
    assert sorted(fit.engines) == ["generic", "searched", "vllm"]
    assert fit.reserve_released and not fit.skipped


def test_the_slowest_engine_goes_first_whoever_it_is():
    fit = affordable(
        {"vllm": 10, "generic": 40, "searched": 5, "transformers-cb": 100}, reps=3, left_s=200, reserve_s=150
    )
    assert list(fit.skipped) == ["transformers-cb"] and "vllm" in fit.engines and fit.reserve_released
    fit = affordable({"vllm": 10, "generic": 60, "searched": 5}, reps=3, left_s=100, reserve_s=0)
    assert list(fit.skipped) == ["generic"] and sorted(fit.engines) == ["searched", "vllm"]


def test_the_reserve_stays_when_everything_fits_with_it():
    fit = affordable({"vllm": 10, "generic": 10}, reps=3, left_s=300, reserve_s=150)
    assert not fit.reserve_released and not fit.skipped
