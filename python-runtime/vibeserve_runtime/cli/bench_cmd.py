"""`bench`: offline (stacks' engines in their own processes, one or several side by side:
cli/offline_bench.py), online (--url) or the hf-generate baseline."""

from __future__ import annotations

import asyncio
import json
import shlex
import sys
from pathlib import Path

from .. import events
from ..bench.metrics import median_of_runs
from ..bench.repetition import repeat_until
from ..bench.workload import REAL_TEXT_DATASETS, Workload, arrival_offsets, pass_seed, timed_pass, warmup_requests
from ..materialize import load_stack_dir
from .engine_loader import require_device
from .materialize_cmd import read_json_arg
from .offline_bench import AVOID, metrics_of_passes, records_of_pass
from .phases import Phases

_OVERRIDES = (
    "num_prompts",
    "input_len",
    "output_len",
    "dataset",
    "request_rate",
    "arrival",
    "max_concurrency",
    "warmups",
    "repetitions",
    "min_duration_s",
    "seed",
    "shared_prefix_len",
)


def workload_from_args(args) -> Workload:
    raw = read_json_arg(args.workload, "--workload")[0] if args.workload else {}
    for k in _OVERRIDES:
        v = getattr(args, k, None)
        if v is not None:
            raw[k] = v
    return Workload.from_dict(raw)


# bench/scenarios/compare_stacks.py reads the harness's passes with it
_records_from_offline = records_of_pass


def run(args) -> int:
    phases = Phases()  # bench.json's phase_s (docs/boundary.md)
    w = workload_from_args(args)
    command = " ".join(shlex.quote(a) for a in [sys.executable, "-m", "vibeserve_runtime", *sys.argv[1:]])
    out: dict = {"command": command, "workload": w.to_dict()}
    runs: list[dict] = []

    if args.url:
        from ..bench.online import first_model, run_online

        if w.dataset in REAL_TEXT_DATASETS:  # real text needs the model's tokenizer
            raise events.UsageError("bad_workload", f"workload dataset '{w.dataset}' runs offline only (bench --stack)")
        out["mode"], out["url"] = "online", args.url
        try:
            model = args.model or asyncio.run(first_model(args.url, args.api_key))
        except Exception as e:  # the server is the thing under test; not reaching it is a usage problem
            raise events.UsageError("unreachable_server", f"cannot list models at {args.url}/v1/models: {e}")
        out["model"], out["device"] = model, "remote"
        from ..models.presets import SHARED_VOCAB  # (models/ imports torch: only where needed)

        # token-id prompts must be valid for the remote model, whatever its vocabulary
        vocab = SHARED_VOCAB
        phases.lap("setup")

        def online_pass(reqs: list, seed_offset: int) -> dict:
            recs, dur = asyncio.run(
                run_online(
                    args.url,
                    model,
                    reqs,
                    arrival_offsets(w, len(reqs), seed_offset),
                    w.max_concurrency,
                    args.endpoint,
                    args.api_key,
                )
            )
            return {"records": recs, "duration_s": dur}

        for _ in range(w.warmups):
            online_pass(warmup_requests(w, vocab), pass_seed(0, 0))
        phases.lap("warmup")
        for r in range(w.repetitions):
            runs.append(
                metrics_of_passes(
                    repeat_until(w.min_duration_s, lambda k: online_pass(timed_pass(w, vocab, r, k), pass_seed(r, k)))
                )
            )
            events.progress(
                "bench",
                r + 1,
                w.repetitions,
                f"repetition {r + 1}: {runs[-1]['output_throughput']:.1f} output tok/s",
                **_brief(runs[-1]),
            )
        phases.lap("timed")
    else:
        if not args.stack:
            raise events.UsageError("bad_arguments", "bench needs --stack <dir> (offline/baseline) or --url <server>")
        stacks = [load_stack_dir(d) for d in [args.stack, *(args.with_stacks or [])]]
        stack_dir, spec = stacks[0]
        device = args.device or spec["device"]
        require_device(device)
        out["stack"], out["device"] = spec["name"], device
        from ..models.presets import vocab_size_of

        vocabs = [vocab_size_of(s["model"]) for _, s in stacks]
        phases.lap("setup")
        if args.baseline == "hf-generate":
            from ..bench.hf_baseline import build_baseline_model, run_hf_generate

            out["mode"] = "baseline:hf-generate"
            if w.dataset in REAL_TEXT_DATASETS:
                raise events.UsageError(
                    "bad_workload",
                    f"workload dataset '{w.dataset}' is measured on stacks (bench --stack); "
                    "the hf-generate baseline takes token-id workloads",
                )
            events.progress("bench", 0, w.repetitions, "loading the transformers model")
            model = build_baseline_model(spec["model"], device)
            phases.lap("load")

            def hf_pass(reqs: list) -> dict:
                recs, dur = run_hf_generate(model, reqs, device)
                return {"records": recs, "duration_s": dur}

            for _ in range(w.warmups):
                hf_pass(warmup_requests(w, vocabs[0], AVOID))
            phases.lap("warmup")
            for r in range(w.repetitions):
                runs.append(
                    metrics_of_passes(
                        repeat_until(w.min_duration_s, lambda k: hf_pass(timed_pass(w, vocabs[0], r, k, AVOID)))
                    )
                )
                events.progress("bench", r + 1, w.repetitions, f"repetition {r + 1}", **_brief(runs[-1]))
            phases.lap("timed")
        else:
            from ..checker.integrity import integrity_report
            from . import offline_bench

            # the timing loop runs in each stack's copy of cli/; side by side, a stack that fails
            # the check is reported as failed and the others are still measured
            broken = {
                i: integ["detail"] for i, (d, _) in enumerate(stacks) if not (integ := integrity_report(d))["passed"]
            }
            if broken and len(stacks) == 1:
                raise events.CandidateError("integrity_violation", broken[0])
            phases.lap("integrity")
            sound = [i for i in range(len(stacks)) if i not in broken]
            measured = (
                dict(
                    zip(
                        sound,
                        offline_bench.measure(
                            [stacks[i] for i in sound],
                            w,
                            [vocabs[i] for i in sound],
                            args.device,
                            profile=not args.no_profile,
                        ),
                    )
                )
                if sound
                else {}
            )
            phases.skip()  # the children's own phases: each stack's phase_s
            if len(stacks) > 1:
                out["mode"] = "offline:side-by-side"
                out["stacks"] = [
                    {
                        "stack": s["name"],
                        "stack_dir": str(d),
                        **(measured[i] if i in measured else {"error": f"integrity_violation: {broken[i]}"}),
                    }
                    for i, (d, s) in enumerate(stacks)
                ]
                return _finish(
                    args,
                    out,
                    any(m.get("completed") for m in measured.values()),
                    "no stack completed a request",
                    phases,
                )
            out["mode"] = "offline"
            out.update(measured[0])
            phases.s.update(out.get("phase_s") or {})
            return _finish(
                args,
                out,
                any(r.get("completed") for r in out["repetitions"]),
                f"no request completed: {out['repetitions'][-1].get('errors')}",
                phases,
            )

    out.update(median_of_runs(runs))
    out["repetitions"] = runs
    return _finish(
        args,
        out,
        any(r.get("completed") for r in runs),
        f"no request completed: {runs[-1].get('errors') if runs else ''}",
        phases,
    )


def _finish(args, out: dict, completed: bool, why_not: str, phases: Phases) -> int:
    out["phase_s"] = {**phases.s, "total": phases.total()}
    if args.out:
        Path(args.out).parent.mkdir(parents=True, exist_ok=True)
        Path(args.out).write_text(json.dumps(out, indent=2, default=str))
    events.result(**out)
    if not completed:
        kind = events.UsageError if args.url else events.CandidateError
        raise kind("no_requests_completed", why_not)
    return events.EXIT_OK


def _brief(m: dict) -> dict:
    return {k: m.get(k) for k in ("output_throughput", "median_ttft_ms", "median_tpot_ms", "completed")}
