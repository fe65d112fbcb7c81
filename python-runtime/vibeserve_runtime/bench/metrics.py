"""vLLM's serving metrics (benchmarks/benchmark_serving.py definitions) from per-request records.

- TTFT: request start → first output token.   - E2EL: request start → last token.
- TPOT: (E2EL - TTFT) / (output_tokens - 1), per request with more than one output token.
- ITL: every gap between consecutive token deliveries, pooled over all requests.
- throughputs: completed requests, output tokens, input+output tokens per second of the run.
Output tokens come from the server's usage counts, never from counting stream chunks.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from statistics import median, median_low, pstdev
from typing import Any


@dataclass
class RequestRecord:
    prompt_tokens: int
    output_tokens: int = 0
    ttft_s: float = 0.0
    itl_s: list[float] = field(default_factory=list)
    e2el_s: float = 0.0
    success: bool = False
    error: str = ""


def _pct(xs: list[float], q: float) -> float:
    # linear interpolation, as numpy.percentile's default used by vLLM
    s = sorted(xs)
    if not s:
        return float("nan")
    k = (len(s) - 1) * q / 100
    f = int(k)
    return s[f] + (s[min(f + 1, len(s) - 1)] - s[f]) * (k - f)


def _summ(name: str, xs_s: list[float], out: dict[str, Any]) -> None:
    xs = [x * 1000 for x in xs_s]
    out[f"mean_{name}_ms"] = sum(xs) / len(xs) if xs else float("nan")
    out[f"median_{name}_ms"] = median(xs) if xs else float("nan")
    out[f"std_{name}_ms"] = pstdev(xs) if xs else float("nan")
    out[f"p90_{name}_ms"] = _pct(xs, 90)
    out[f"p99_{name}_ms"] = _pct(xs, 99)


def compute_metrics(records: list[RequestRecord], duration_s: float) -> dict[str, Any]:
    ok = [r for r in records if r.success]
    total_in = sum(r.prompt_tokens for r in ok)
    total_out = sum(r.output_tokens for r in ok)
    m: dict[str, Any] = {
        "completed": len(ok),
        "failed": len(records) - len(ok),
        "duration_s": duration_s,
        "total_input_tokens": total_in,
        "total_output_tokens": total_out,
        "request_throughput": len(ok) / duration_s if duration_s > 0 else float("nan"),
        "output_throughput": total_out / duration_s if duration_s > 0 else float("nan"),
        "total_token_throughput": (total_in + total_out) / duration_s if duration_s > 0 else float("nan"),
    }
    _summ("ttft", [r.ttft_s for r in ok], m)
    _summ("tpot", [(r.e2el_s - r.ttft_s) / (r.output_tokens - 1) for r in ok if r.output_tokens > 1], m)
    _summ("itl", [x for r in ok for x in r.itl_s], m)
    _summ("e2el", [r.e2el_s for r in ok], m)
    errors = sorted({r.error for r in records if not r.success and r.error})
    if errors:
        m["errors"] = errors[:5]
    return m


def median_of_runs(runs: list[dict[str, Any]]) -> dict[str, Any]:
    """Per-metric median across repetitions (numbers only), and under `spread` each metric's
    {median, min, max, n}: a difference between two stacks inside their spreads is noise."""
    if not runs:
        return {}
    out: dict[str, Any] = {}
    spread: dict[str, dict[str, float]] = {}
    for k, v in runs[0].items():
        vals = [r.get(k) for r in runs if isinstance(r.get(k), (int, float)) and r.get(k) == r.get(k)]
        if isinstance(v, (int, float)) and not isinstance(v, bool) and vals:
            out[k] = median_low(vals) if all(isinstance(x, int) for x in vals) else median(vals)
            spread[k] = {"median": out[k], "min": min(vals), "max": max(vals), "n": len(vals)}
    out["spread"] = spread
    return out
