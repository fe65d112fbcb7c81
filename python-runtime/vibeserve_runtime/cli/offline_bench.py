"""The offline benchmark of one stack, or of several side by side (`bench --stack A --with B ...`).

Each stack's engine runs in a `_candidate bench_offline` child of its own (its own code, see
candidate_process.py). The children load and warm up one after another; then repetition r runs
every stack once, in an order rotated by r, each child waiting for its turn, so drift of the
machine (a busy neighbour, clocks, temperature) lands on every stack alike. On a GPU the engines
share the memory for KV caches: each sizes its pool from the share of what is free when it loads
that leaves it 1/n of the usable memory, so the last does not inherit only what the first ones left.

The parent trusts nothing the children report beyond their timings: it rebuilds every pass's
requests and checks the records against them, and a stack's timed runs must fit inside the wall
time of its turns.
"""

from __future__ import annotations

import time
from pathlib import Path

from .. import events
from ..bench.metrics import RequestRecord, compute_metrics, median_of_runs
from ..bench.workload import REAL_TEXT_DATASETS, Workload, timed_pass
from ..tokenizers import tokenizer_of
from .candidate_process import CandidateRun
from .phases import buckets_of, of_child

AVOID = frozenset(range(3))  # token ids offline prompts leave out (special tokens of small vocabularies)


def capture_cap_for(w: Workload) -> int:
    """The largest decode batch a bench of w can form: every pass (warm-up, timed, profile) sends at
    most num_prompts requests, at most max_concurrency of them in flight. The engine caps its CUDA
    graphs there (components/execution/cuda_graphs.py), and at the stack's max_batch_size as always."""
    return min(w.max_concurrency or w.num_prompts, w.num_prompts)


def measure(
    stacks: list[tuple[Path, dict]], w: Workload, vocabs: list[int], device: str | None, profile: bool
) -> list[dict]:
    """Per stack, in the order given: its metrics (medians, `spread`, `repetitions`, profile
    figures, engine_stats), or {"error": ...} when it failed (a single stack's failure raises)."""
    n = len(stacks)
    # real-text workloads are rebuilt here with each stack's own tokenizer
    tokenizers = [tokenizer_of(spec) if w.dataset in REAL_TEXT_DATASETS else None for _, spec in stacks]
    runs: list[CandidateRun | None] = []
    walls = [0.0] * n
    failed: dict[int, str] = {}
    try:
        for i, ((stack_dir, spec), vocab) in enumerate(zip(stacks, vocabs)):
            payload = {
                "workload": w.to_dict(),
                "vocab": vocab,
                "avoid": sorted(AVOID),
                "profile": profile,
                "gpu_memory_utilization": _memory_share(spec, i, n),
                "capture_cap": capture_cap_for(w),
            }
            run = CandidateRun(
                stack_dir,
                "bench_offline",
                payload,
                device=device,
                turns=True,
                tag={"stack": spec["name"]} if n > 1 else None,
            )
            runs.append(run)
            _guard(n, failed, i, lambda: run.wait_for(_reached(0)))  # built and warmed up
        for r in range(w.repetitions):
            for i in [(j + r) % n for j in range(n)]:
                if i in failed:
                    continue
                t0 = time.perf_counter()
                _guard(n, failed, i, lambda: runs[i].take_turn(_reached(r + 1)))
                walls[i] += time.perf_counter() - t0
        out = []
        for i, run in enumerate(runs):
            result = (
                None
                if i in failed
                else _guard(n, failed, i, lambda: _stack_result(run.finish(), w, vocabs[i], walls[i], tokenizers[i]))
            )
            out.append({"error": failed[i]} if i in failed else result)
        return out
    finally:
        for run in runs:
            if run is not None:
                run.close()


def _reached(done: int):
    return lambda ev: ev.get("stage") == "bench" and ev.get("done") == done and not ev.get("heartbeat")


def _guard(n: int, failed: dict[int, str], i: int, step):
    """Runs a step of stack i; side by side, a stack's own failure leaves the others running."""
    try:
        return step()
    except events.VibeError as e:
        if n == 1 or e.kind != "candidate":
            raise
        failed[i] = f"{e.reason}: {e.message}"
        return None


def _memory_share(spec: dict, i: int, n: int) -> float | None:
    """The share of free GPU memory the i-th of n engines sizes its KV pool from (None: its own)."""
    if n == 1:
        return None
    from ..stack_spec import gpu_memory_utilization_of

    util = gpu_memory_utilization_of(spec)
    # the i before it took util/n of the free memory F each: util/n * F = share * (1 - i * util/n) * F
    return util / (n - i * util)


def _stack_result(obs: dict, w: Workload, vocab: int, wall: float, tokenizer=None) -> dict:
    reps = obs.get("reps") or []
    if len(reps) != w.repetitions:
        raise events.CandidateError("wrong_output", f"the stack ran {len(reps)} of {w.repetitions} repetitions")
    runs = []
    for r, rep in enumerate(reps):
        passes = offline_passes(rep, r, w, vocab, tokenizer)
        runs.append(metrics_of_passes(passes) | {"engine_steps": sum(p["steps"] or 0 for p in passes)})
    claimed = sum(r["duration_s"] for r in runs)
    if claimed > wall:  # the candidate's own clock cannot run faster than ours
        raise events.CandidateError(
            "integrity_violation", f"the stack reported {claimed:.2f}s of runs inside {wall:.2f}s of wall-clock time"
        )
    return {
        **median_of_runs(runs),
        "repetitions": runs,
        "engine_stats": obs.get("stats"),
        **profile_figures(obs.get("profile")),
        "phase_s": of_child(obs.get("phase_s")),
        "captured_buckets": buckets_of(obs.get("captured_buckets")),
    }


def metrics_of_passes(passes: list[dict]) -> dict:
    """One repetition's metrics over all of its passes (bench/repetition.py)."""
    records = [rec for p in passes for rec in p["records"]]
    return compute_metrics(records, sum(p["duration_s"] for p in passes)) | {"passes": len(passes)}


def records_of_pass(p: dict) -> tuple[list[RequestRecord], float]:
    """A pass's raw timings (cli/timed_pass.py) as request records and its duration."""
    recs = []
    for r in p["records"]:
        t = r["times"]
        recs.append(
            RequestRecord(
                prompt_tokens=r["prompt_tokens"],
                output_tokens=r["output_tokens"],
                ttft_s=(t[0] - r["start"]) if t else 0.0,
                itl_s=[b - a for a, b in zip(t, t[1:])],
                e2el_s=(t[-1] - r["start"]) if t else 0.0,
                success=bool(t),
            )
        )
    return recs, p["duration_s"]


def offline_passes(rep: dict, r: int, w: Workload, vocab: int, tokenizer=None) -> list[dict]:
    """A repetition's passes as the stack reported them, checked against our own copy of each
    pass's requests: one record per request, prompt sizes ours, never more tokens than asked."""
    passes = rep.get("passes") if isinstance(rep, dict) else None
    if not passes:
        raise events.CandidateError("wrong_output", f"repetition {r + 1} has no pass")
    out = []
    for k, p in enumerate(passes):
        sent = timed_pass(w, vocab, r, k, AVOID, tokenizer)
        recs, dur = records_of_pass(p)
        if len(recs) != len(sent):
            raise events.CandidateError(
                "integrity_violation", f"repetition {r + 1}, pass {k + 1}: {len(recs)} records for {len(sent)} requests"
            )
        for rec, q in zip(recs, sent):
            if rec.output_tokens > q.max_tokens:
                raise events.CandidateError(
                    "integrity_violation",
                    f"repetition {r + 1}, pass {k + 1}: a request "
                    f"reported {rec.output_tokens} tokens of {q.max_tokens} asked",
                )
            rec.prompt_tokens = len(q.prompt_token_ids)
        out.append({"records": recs, "duration_s": dur, "steps": p.get("steps")})
    return out


def profile_figures(prof) -> dict:
    """The untimed profile pass's figures (cli/profile_pass.py), once per benchmark."""
    if not isinstance(prof, dict):
        return {}
    return {
        **kv_summary(prof.get("kv_samples") or []),
        **_numbers(prof.get("decode_profile")),
        **_numbers(prof.get("admission")),
        **_numbers(prof.get("decode_components")),
        **_numbers(prof.get("speculation")),
        **_numbers(prof.get("structured_output")),
    }


def _numbers(d) -> dict:
    """The numeric entries of a dict the candidate reported (anything else is dropped)."""
    if not isinstance(d, dict):
        return {}
    return {
        k: v for k, v in d.items() if isinstance(k, str) and isinstance(v, (int, float)) and not isinstance(v, bool)
    }


def kv_summary(samples: list[dict]) -> dict:
    """KV-cache memory efficiency while the run was busy: tokens really cached vs room held."""
    busy = [s for s in samples if s.get("kv_tokens_allocated")]
    if not busy:
        return {}
    return {
        "peak_kv_tokens_used": max(s.get("kv_tokens_used", 0) for s in busy),
        "peak_kv_tokens_allocated": max(s["kv_tokens_allocated"] for s in busy),
        "kv_tokens_capacity": busy[0].get("kv_tokens_capacity"),
        "kv_memory_efficiency": sum(s.get("kv_tokens_used", 0) / s["kv_tokens_allocated"] for s in busy) / len(busy),
    }
