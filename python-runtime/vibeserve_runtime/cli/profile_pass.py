"""The untimed pass that says where a stack's time goes, run after the timed repetitions.

It runs a set shaped like repetition 0 (bench/workload.py) with the engine's decode profile on
(engine/step_profile.py), samples KV-cache occupancy every few steps and accounts for the time
requests waited to be admitted, then profiles one decode forward by component
(engine/component_profile.py), and replays the speculation proposers and jump-forward over the
pass's outputs (bench/speculation.py, bench/structured_output.py). None of this may run inside a timed repetition: the profile records
events and reads clocks on every step and the occupancy samples walk the running sequences, which
would slow the very steps being timed.
"""

from __future__ import annotations

from ..bench.speculation import measured_figures, speculation_figures
from ..bench.structured_output import structured_output_figures
from ..engine.step_profile import host_share_between
from .timed_pass import greedy, run_pass

KV_SAMPLE_EVERY = 8  # steps between KV occupancy samples


def profile_pass(engine, rep: dict, max_conc: int | None) -> dict:
    enable = getattr(engine, "enable_profile", None)  # an engine without one reports no decode profile
    profile = enable() if enable else None
    before = profile.snapshot() if profile else None
    spec_before = engine.stats()
    structured = getattr(engine, "structured", None)
    mask_before = structured.mask_seconds if structured is not None else 0.0
    observer = StepObserver(engine)
    try:
        timed = run_pass(engine, rep, max_conc, observer)
    finally:
        if profile is not None:
            engine.profile = None  # later steps run unprofiled again
    ttft_s = sum(r["times"][0] - r["start"] for r in timed["records"] if r["times"])
    return {
        "kv_samples": observer.kv_samples,
        "decode_profile": host_share_between(before, profile.snapshot()) if profile else {},
        "admission": observer.queue.summary(ttft_s),
        "speculation": {
            **speculation_figures(rep["requests"], observer.outputs, engine.spec.params),
            **measured_figures(spec_before, engine.stats()),
        },
        "structured_output": structured_output_figures(
            structured,
            rep["requests"],
            observer.outputs,
            (structured.mask_seconds - mask_before) if structured is not None else 0.0,
            timed["duration_s"],
        ),
        "decode_components": component_probe(engine, rep, max_conc),
    }


def component_probe(engine, rep: dict, max_conc: int | None) -> dict:
    """The pass's concurrent prompts, a few tokens each, with one decode forward profiled by component."""
    ask = getattr(engine, "profile_components_at_next_decode", None)
    requests = rep["requests"]
    if ask is None or not requests:
        return {}
    prompts = [r[0] for r in requests[: max_conc or len(requests)]]
    ask()
    engine.generate(prompts, greedy(4))
    return engine.component_profile or {}


class StepObserver:
    """What the profile pass watches after every step: KV occupancy and admission waits."""

    def __init__(self, engine):
        self.engine = engine
        self.queue = QueueWait(engine)
        self.kv_samples: list[dict] = []
        self.outputs: dict[int, list[int]] = {}  # request index -> its tokens (bench/speculation.py replays them)
        self.steps = 0

    def after_output(self, i: int, tokens: list[int]) -> None:
        self.outputs.setdefault(i, []).extend(tokens)

    def after_step(self, seconds: float, finished: int) -> None:
        if self.steps % KV_SAMPLE_EVERY == 0:
            self.kv_samples.append(
                {k: v for k, v in self.engine.stats().items() if k.startswith("kv_") and isinstance(v, (int, float))}
            )
        self.steps += 1
        self.queue.after_step(seconds, finished)


class QueueWait:
    """How much of the time to first token requests spent waiting to be admitted to the batch, and
    how much of that wait happened while the batch was at its size limit (so a larger limit would
    have admitted them). Each step adds (requests waiting after it) x (its duration): a request
    that arrived during the step counts from the step's start, which errs long by under one step."""

    def __init__(self, engine):
        self.scheduler = engine.scheduler
        self.max_batch = int(engine.spec.params.get("max_batch_size") or 0)
        self.wait_s = self.wait_full_s = 0.0
        self.peak_full = 0  # most requests seen waiting behind a full batch: the slots it lacked

    def after_step(self, seconds: float, finished: int) -> None:
        waiting = len(self.scheduler.waiting)
        if waiting:
            self.wait_s += waiting * seconds
            # the batch this step ran: those still running plus those it finished
            if self.max_batch and len(self.scheduler.running) + finished >= self.max_batch:
                self.wait_full_s += waiting * seconds
                self.peak_full = max(self.peak_full, waiting)

    def summary(self, ttft_s: float) -> dict:
        if ttft_s <= 0:
            return {}
        return {
            "ttft_queue_share": round(min(1.0, self.wait_s / ttft_s), 4),
            "queue_wait_batch_full_share": round(self.wait_full_s / self.wait_s, 4) if self.wait_s else 0.0,
            "queue_peak_waiting_full": self.peak_full,
        }
