"""`bench`: offline (the stack's engine in-process), online (--url) or the hf-generate baseline."""
from __future__ import annotations

import asyncio
import json
import shlex
import sys
import time
from pathlib import Path

from .. import events
from ..bench.metrics import RequestRecord, compute_metrics, median_of_runs
from ..bench.workload import Workload, arrival_offsets, make_requests
from ..materialize import load_stack_dir
from .engine_loader import require_device
from .materialize_cmd import read_json_arg

_OVERRIDES = ("num_prompts", "input_len", "output_len", "dataset", "request_rate", "arrival",
              "max_concurrency", "warmups", "repetitions", "seed")


def workload_from_args(args) -> Workload:
    raw = read_json_arg(args.workload, "--workload")[0] if args.workload else {}
    for k in _OVERRIDES:
        v = getattr(args, k, None)
        if v is not None:
            raw[k] = v
    return Workload.from_dict(raw)


def _records_from_offline(rep: dict) -> tuple[list[RequestRecord], float]:
    recs = []
    for r in rep["records"]:
        t = r["times"]
        recs.append(RequestRecord(prompt_tokens=r["prompt_tokens"], output_tokens=r["output_tokens"],
                                  ttft_s=(t[0] - r["start"]) if t else 0.0,
                                  itl_s=[b - a for a, b in zip(t, t[1:])],
                                  e2el_s=(t[-1] - r["start"]) if t else 0.0, success=bool(t)))
    return recs, rep["duration_s"]


def run(args) -> int:
    w = workload_from_args(args)
    command = " ".join(shlex.quote(a) for a in [sys.executable, "-m", "vibeserve_runtime", *sys.argv[1:]])
    out: dict = {"command": command, "workload": w.to_dict()}
    runs: list[dict] = []

    if args.url:
        from ..bench.online import first_model, run_online
        out["mode"], out["url"] = "online", args.url
        try:
            model = args.model or asyncio.run(first_model(args.url, args.api_key))
        except Exception as e:  # the server is the thing under test; not reaching it is a usage problem
            raise events.UsageError("unreachable_server", f"cannot list models at {args.url}/v1/models: {e}")
        out["model"], out["device"] = model, "remote"
        vocab = 256 if args.endpoint == "chat" else _vocab_hint(args)
        if w.warmups:
            warm = make_requests(Workload(**{**w.to_dict(), "num_prompts": w.warmups}), vocab, 10_000)
            asyncio.run(run_online(args.url, model, warm, [0.0] * len(warm), None, args.endpoint, args.api_key))
        for r in range(w.repetitions):
            reqs = make_requests(w, vocab, r)
            recs, dur = asyncio.run(run_online(args.url, model, reqs, arrival_offsets(w, len(reqs), r),
                                               w.max_concurrency, args.endpoint, args.api_key))
            runs.append(compute_metrics(recs, dur))
            events.progress("bench", r + 1, w.repetitions, f"repetition {r + 1}: "
                            f"{runs[-1]['output_throughput']:.1f} output tok/s", **_brief(runs[-1]))
    else:
        if not args.stack:
            raise events.UsageError("bad_arguments", "bench needs --stack <dir> (offline/baseline) or --url <server>")
        stack_dir, spec = load_stack_dir(args.stack)
        device = args.device or spec["device"]
        require_device(device)
        out["stack"], out["device"] = spec["name"], device
        from ..models.presets import get_preset
        vocab = (spec["model"]["config"].get("vocab_size") or
                 (get_preset(spec["model"]["preset"])["vocab_size"] if spec["model"]["preset"] else 256))
        reps = []
        for r in range(w.repetitions):
            reqs = make_requests(w, vocab, r, avoid=set(range(3)))
            reps.append((reqs, arrival_offsets(w, len(reqs), r)))
        warm = make_requests(Workload(**{**w.to_dict(), "num_prompts": max(1, w.warmups)}), vocab, 10_000) if w.warmups else []
        if args.baseline == "hf-generate":
            from ..bench.hf_baseline import build_baseline_model, run_hf_generate
            out["mode"] = "baseline:hf-generate"
            events.progress("bench", 0, w.repetitions, "loading the transformers model")
            model = build_baseline_model(spec["model"], device)
            if warm:
                run_hf_generate(model, warm[:1], device)
            for r, (reqs, _) in enumerate(reps):
                runs.append(compute_metrics(*run_hf_generate(model, reqs, device)))
                events.progress("bench", r + 1, w.repetitions, f"repetition {r + 1}", **_brief(runs[-1]))
        else:
            from ..checker.integrity import integrity_report
            from .candidate_process import run_candidate
            out["mode"] = "offline"
            integ = integrity_report(stack_dir)   # the timing loop runs in the stack's copy of cli/
            if not integ["passed"]:
                raise events.CandidateError("integrity_violation", integ["detail"])
            payload = {"warmup": [[q.prompt_token_ids, q.max_tokens] for q in warm],
                       "reps": [{"requests": [[q.prompt_token_ids, q.max_tokens] for q in reqs], "arrivals": arr}
                                for reqs, arr in reps], "max_concurrency": w.max_concurrency}
            t0 = time.perf_counter()
            obs = run_candidate(stack_dir, "bench_offline", payload, device=args.device)
            wall = time.perf_counter() - t0
            for rep in obs["reps"]:
                recs, dur = _records_from_offline(rep)
                runs.append(compute_metrics(recs, dur) | {"engine_steps": rep.get("steps"), **kv_summary(rep.get("kv_samples") or []),
                                                          **_numbers(rep.get("decode_profile")),
                                                          **_numbers(rep.get("admission"))})
            claimed = sum(r["duration_s"] for r in runs)
            if claimed > wall:   # the candidate's own clock cannot run faster than ours
                raise events.CandidateError("integrity_violation", f"the stack reported {claimed:.2f}s of runs "
                                            f"inside {wall:.2f}s of wall-clock time")
            out["engine_stats"] = obs.get("stats")
            components = _numbers(obs.get("decode_components"))   # one probe after the runs: same for each
            runs = [r | components for r in runs]

    out.update(median_of_runs(runs))
    out["repetitions"] = runs
    if args.out:
        Path(args.out).parent.mkdir(parents=True, exist_ok=True)
        Path(args.out).write_text(json.dumps(out, indent=2, default=str))
    events.result(**out)
    if not any(r.get("completed") for r in runs):
        kind = events.UsageError if args.url else events.CandidateError
        raise kind("no_requests_completed", f"no request completed: {runs[-1].get('errors') if runs else ''}")
    return events.EXIT_OK


def _numbers(d) -> dict:
    """The numeric entries of a dict the candidate reported (anything else is dropped)."""
    if not isinstance(d, dict):
        return {}
    return {k: v for k, v in d.items() if isinstance(k, str) and isinstance(v, (int, float)) and not isinstance(v, bool)}


def _brief(m: dict) -> dict:
    return {k: m.get(k) for k in ("output_throughput", "median_ttft_ms", "median_tpot_ms", "completed")}


def _vocab_hint(args) -> int:
    # Token-id prompts must be valid for the remote model; ids below 256 exist in every vocabulary
    # we serve (byte-level BPEs and the byte tokenizer), so random ids are drawn from there.
    return 256


def kv_summary(samples: list[dict]) -> dict:
    """KV-cache memory efficiency while the run was busy: tokens really cached vs room held."""
    busy = [s for s in samples if s.get("kv_tokens_allocated")]
    if not busy:
        return {}
    return {"peak_kv_tokens_used": max(s.get("kv_tokens_used", 0) for s in busy),
            "peak_kv_tokens_allocated": max(s["kv_tokens_allocated"] for s in busy),
            "kv_tokens_capacity": busy[0].get("kv_tokens_capacity"),
            "kv_memory_efficiency": sum(s.get("kv_tokens_used", 0) / s["kv_tokens_allocated"] for s in busy) / len(busy)}
