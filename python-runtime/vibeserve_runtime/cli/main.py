"""Argument parsing, dispatch and the boundary's error/exit-code discipline for every verb."""

from __future__ import annotations

import argparse
import os
import sys
import threading
import traceback

from .. import events
from ..bench.workload import DATASETS

CANDIDATE_ENV = "VIBESERVE_CANDIDATE"  # set in processes that run a candidate stack's own code


class _Parser(argparse.ArgumentParser):
    def error(self, message: str):  # argparse would exit 2, which the boundary reserves for candidates
        raise events.UsageError("bad_arguments", f"{self.prog}: {message}")


def build_parser() -> argparse.ArgumentParser:
    p = _Parser(prog="python -m vibeserve_runtime", description="VibeServe runtime verbs (JSON lines on stdout)")
    sub = p.add_subparsers(dest="verb", required=True, parser_class=_Parser)

    m = sub.add_parser("materialize", help="stack spec → self-contained stack directory")
    m.add_argument("--spec", required=True, help="stack.json path or inline JSON")
    m.add_argument("--out", required=True, help="stack directory to write")

    def stack_opts(q, required=True):
        q.add_argument("--stack", required=required, help="stack directory (or its stack.json)")
        q.add_argument("--device", choices=["cpu", "cuda"], help="override the stack's device")
        q.add_argument("--timeout", type=float, help="seconds; exceeding it is a candidate fault (exit 2)")

    c = sub.add_parser("check", help="correctness vs the fp32 Hugging Face transformers reference")
    stack_opts(c)
    c.add_argument("--report", help="also write the JSON report to this file")
    c.add_argument("--num-prompts", type=int, default=3)
    c.add_argument("--new-tokens", type=int, default=12)
    c.add_argument("--seed", type=int, default=0)
    c.add_argument(
        "--tolerance",
        type=float,
        help="a fixed logit tolerance instead of bounds calibrated on transformers at the stack's precision (checker/tolerances.py)",
    )
    c.add_argument(
        "--reference-cache",
        help="directory of reference outputs reused across checks of one search (checker/reference_cache.py)",
    )
    c.add_argument(
        "--memory-share",
        type=int,
        default=1,
        help="checks sharing the GPU at once: the stack sizes its KV pool from 1/N of its usual share",
    )

    b = sub.add_parser("bench", help="offline (in-process), online (--url) or baseline benchmark")
    stack_opts(b, required=False)
    b.add_argument("--url", help="base URL of an OpenAI-compatible server (online load generator)")
    b.add_argument("--model", help="model name to send (online; default: the server's first model)")
    b.add_argument("--api-key", default=os.environ.get("VIBESERVE_API_KEY"))
    b.add_argument("--baseline", choices=["hf-generate"], help="naive baseline on the stack's model")
    b.add_argument("--workload", help="workload JSON (file or inline); see bench/workload.py")
    b.add_argument("--num-prompts", type=int)
    b.add_argument("--input-len", type=int)
    b.add_argument("--output-len", type=int)
    b.add_argument("--dataset", choices=DATASETS)
    b.add_argument("--shared-prefix-len", type=int, help="shared_prefix: tokens every prompt of a request set shares")
    b.add_argument("--request-rate", type=float, help="requests/s; omit or inf for all at once")
    b.add_argument("--arrival", choices=["poisson", "fixed"])
    b.add_argument("--max-concurrency", type=int)
    b.add_argument("--warmups", type=int)
    b.add_argument("--repetitions", type=int)
    b.add_argument("--min-duration-s", type=float, help="seconds each repetition runs at least (fresh request sets)")
    b.add_argument("--no-profile", action="store_true", help="skip the untimed profile pass (offline)")
    b.add_argument(
        "--with",
        dest="with_stacks",
        action="append",
        metavar="STACK",
        help="another stack measured side by side with --stack, repetitions interleaved (offline)",
    )
    b.add_argument("--seed", type=int)
    b.add_argument("--endpoint", choices=["completions", "chat"], default="completions")
    b.add_argument("--out", help="also write the JSON result to this file")

    s = sub.add_parser("serve", help="OpenAI-compatible HTTP server for a stack")
    s.add_argument("--stack", required=True)
    s.add_argument("--device", choices=["cpu", "cuda"])
    s.add_argument("--host", default="127.0.0.1")
    s.add_argument("--port", type=int, default=8000)
    s.add_argument("--api-key", default=os.environ.get("VIBESERVE_API_KEY"))
    s.add_argument("--served-model-name")
    s.add_argument("--max-queue", type=int, default=256, help="waiting requests before answering 429")
    s.add_argument(
        "--max-model-len",
        type=int,
        help="context length to serve (default: the model's, not the workload length in stack.json)",
    )
    s.add_argument(
        "--engine-in-process",
        action="store_true",
        help="run the engine loop in a thread of the server process, not in its own process",
    )

    sub.add_parser("hardware", help="torch/CUDA/Triton versions and GPUs")
    sub.add_parser("protected", help="runtime entries a candidate stack may not change")
    v = sub.add_parser("versions", help="installed versions of Python distributions")
    v.add_argument("names", nargs="*", metavar="NAME", help="distribution name")

    # Internal: the process that runs a candidate stack's own code for check/bench (see candidate_process.py).
    k = sub.add_parser("_candidate")
    k.add_argument("task", choices=["check_probe", "bench_offline"])
    k.add_argument("--stack", required=True)
    k.add_argument("--device", choices=["cpu", "cuda"])
    k.add_argument("--input", required=True)
    k.add_argument("--output", required=True)
    return p


def _dispatch(args) -> int:
    if args.verb == "materialize":
        from . import materialize_cmd as mod
    elif args.verb == "check":
        from . import check_cmd as mod
    elif args.verb == "bench":
        from . import bench_cmd as mod
    elif args.verb == "serve":
        from . import serve_cmd as mod
    elif args.verb == "hardware":
        from . import hardware_cmd as mod
    elif args.verb == "protected":
        from . import protected_cmd as mod
    elif args.verb == "versions":
        from . import versions_cmd as mod
    else:
        from . import candidate_cmd as mod
    return mod.run(args)


def _arm_timeout(seconds: float | None) -> None:
    if not seconds:
        return

    def fire():
        from .candidate_process import kill_children

        kill_children()
        events.error(events.CandidateError("timeout", f"the run exceeded --timeout {seconds:g}s"))
        os._exit(events.EXIT_CANDIDATE)

    t = threading.Timer(seconds, fire)
    t.daemon = True
    t.start()


def classify(exc: BaseException) -> events.VibeError:
    """Map an unexpected exception to a boundary error. In a candidate process any failure is the
    candidate's; in the trusted process it is infrastructure (retryable)."""
    in_candidate = os.environ.get(CANDIDATE_ENV) == "1"
    name = type(exc).__name__
    if name == "OutOfMemoryError" or isinstance(exc, MemoryError) or "out of memory" in str(exc).lower():
        return events.CandidateError("out_of_memory", f"{name}: {str(exc)[:300]}")
    if in_candidate:
        return events.CandidateError("crashed", f"{name} in the stack's code: {str(exc)[:300]}")
    return events.InfraError("internal_error", f"{name}: {str(exc)[:300]}")


def main(argv: list[str] | None = None) -> int:
    events.redirect_prints()
    try:
        args = build_parser().parse_args(argv)
        _arm_timeout(getattr(args, "timeout", None))
        if args.verb in ("check", "bench"):
            events.start_heartbeat()
        return _dispatch(args)
    except events.VibeError as e:
        events.error(e)
        return e.exit_code
    except KeyboardInterrupt:
        events.error(events.InfraError("interrupted", "interrupted by a signal"))
        return 130
    except SystemExit:
        raise
    except BaseException as e:  # noqa: BLE001 - the boundary must classify every failure
        traceback.print_exc(file=sys.stderr)
        err = classify(e)
        events.error(err)
        return err.exit_code
