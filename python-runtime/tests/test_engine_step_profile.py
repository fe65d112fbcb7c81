"""The decode-step profile (engine.profile): how much of a decode step is host work outside the
model's forward. Host work added around the forward raises the share; multi-step decode, which pays
the host work once per several tokens, lowers it; prefill-only steps are not counted."""

import time

from vibeserve_runtime.engine import Engine
from vibeserve_runtime.engine.step_profile import host_share_between
from vibeserve_runtime.types import SamplingParams

from test_engine_components import PROMPTS, spec

GREEDY = SamplingParams(max_tokens=12, ignore_eos=True)


def profile_of(engine) -> dict:
    before = engine.enable_profile().snapshot()
    engine.generate(PROMPTS, GREEDY)
    return host_share_between(before, engine.profile.snapshot())


def slow_scheduler(engine, seconds: float) -> None:
    """Adds host time to every scheduler step, outside the forward."""
    schedule = engine.scheduler.schedule

    def slow():
        time.sleep(seconds)
        return schedule()

    engine.scheduler.schedule = slow


def test_serving_does_not_profile_unless_asked():
    engine = Engine.from_spec(spec())
    assert engine.profile is None
    engine.generate(PROMPTS, GREEDY)
    assert engine.enable_profile() is engine.enable_profile() and engine.profile.steps == 0


def test_host_work_around_the_forward_raises_the_host_share():
    plain = Engine.from_spec(spec())
    profile_of(plain)  # warm-up
    base = profile_of(plain)
    slowed = Engine.from_spec(spec())
    slow_scheduler(slowed, 0.02)
    slow = profile_of(slowed)
    assert 0 <= base["decode_host_share"] < 1 and base["decode_step_ms"] > 0
    assert slow["decode_host_share"] > 0.5 and slow["decode_host_share"] > base["decode_host_share"] + 0.2, (base, slow)
    assert slow["decode_step_ms"] >= 20


def test_only_decode_steps_are_counted_and_multi_step_amortizes_the_host_work():
    single = Engine.from_spec(spec())
    slow_scheduler(single, 0.02)
    one = profile_of(single)
    # 4 prompts × 11 decode positions each (the first token comes from the prefill step)
    assert single.profile.tokens == len(PROMPTS) * (GREEDY.max_tokens - 1)
    assert single.profile.steps == GREEDY.max_tokens - 1
    multi = Engine.from_spec(spec(params={"decode_steps": 4}))
    slow_scheduler(multi, 0.02)
    four = profile_of(multi)
    assert multi.profile.tokens == single.profile.tokens and multi.profile.steps < single.profile.steps
    assert four["decode_ms_per_token"] < one["decode_ms_per_token"] * 0.6, (one, four)
