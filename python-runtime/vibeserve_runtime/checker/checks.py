"""The individual checks. Each returns {"name", "value", "threshold", "passed", "detail"}."""

from __future__ import annotations

from typing import TYPE_CHECKING

from .tolerances import MARGIN_FACTOR, calibrated_bounds

if TYPE_CHECKING:  # torch is imported where a check computes, so that check_cmd can start the stack first
    import torch


def _check(name: str, value, threshold, passed: bool, detail: str) -> dict:
    return {"name": name, "value": value, "threshold": threshold, "passed": bool(passed), "detail": detail}


def logit_scale(ref_rows: list[torch.Tensor]) -> float:
    import torch

    return float(torch.cat([r.flatten() for r in ref_rows]).std()) or 1.0


def margins(rows: torch.Tensor) -> torch.Tensor:
    top2 = rows.topk(2, dim=-1).values
    return top2[:, 0] - top2[:, 1]


def error_stats(
    rows: list[torch.Tensor], ref_rows: list[torch.Tensor], scale: float, excused: list[torch.Tensor] | None = None
) -> tuple[float, float, str]:
    """(worst |rows - reference| / scale over the rows not `excused`, worst per-prompt mean of it over
    every row, where the worst is)."""
    import torch

    worst, mean_err, where = 0.0, 0.0, ""
    for i, (s, r) in enumerate(zip(rows, ref_rows)):
        err = (s.float() - r).abs() / scale
        mean_err = max(mean_err, float(err.mean()))
        row_worst = err.max(dim=-1).values
        if excused is not None:
            row_worst = torch.where(excused[i], 0.0, row_worst)
        if float(row_worst.max()) > worst:
            worst = float(row_worst.max())
            row = int(row_worst.argmax())
            where = f"prompt {i}, position {row} ({'prefill' if row == 0 else 'decode step ' + str(row)})"
    return worst, mean_err, where


def logits_close(
    stack_rows: list[torch.Tensor],
    ref_rows: list[torch.Tensor],
    tol: float,
    scale: float,
    same_precision: list[torch.Tensor] | None = None,
    router_ties: list[torch.Tensor] | None = None,
) -> dict:
    """Teacher-forced logits close to the reference. With `same_precision` (transformers' own rows at
    the stack's dtype and weight format) the bounds are calibrated on what that run shows, `tol`
    being their floor (tolerances.calibrated_bounds); without it (a stated `check --tolerance`) the
    worst error must be within `tol`. Rows at a router near tie (`router_ties`, per prompt) are left
    out of the worst error, never out of the mean (tolerances.py)."""
    import torch

    for i, (s, r) in enumerate(zip(stack_rows, ref_rows)):
        if tuple(s.shape) != tuple(r.shape):
            return _check(
                "logits",
                None,
                tol,
                False,
                f"prompt {i}: stack returned logits of shape {tuple(s.shape)}, reference {tuple(r.shape)}",
            )
        if not torch.isfinite(s).all():
            return _check("logits", None, tol, False, f"prompt {i}: stack logits contain NaN/inf")
    worst, mean_err, where = error_stats(stack_rows, ref_rows, scale, router_ties)
    detail = (
        f"max |stack - reference| / logit std (std={scale:.4g}); worst at {where or '-'}; mean error {mean_err:.3g}"
    )
    tie_rows = int(sum(int(t.sum()) for t in router_ties)) if router_ties is not None else 0
    if tie_rows:
        detail += (
            f"; {tie_rows} of {sum(len(t) for t in router_ties)} rows at a router near tie left out of "
            f"the worst (kept in the mean)"
        )
    if same_precision is None:
        return _check("logits", worst, tol, worst <= tol, detail)
    hf_worst, hf_mean, _ = error_stats(same_precision, ref_rows, scale, router_ties)
    worst_bound, mean_bound = calibrated_bounds(tol, hf_worst, hf_mean)
    passed = worst <= worst_bound and mean_err <= mean_bound
    return {
        **_check(
            "logits",
            worst,
            worst_bound,
            passed,
            f"{detail}; bounds calibrated on transformers at the stack's precision (its worst {hf_worst:.3g}, "
            f"mean {hf_mean:.3g}): worst <= {worst_bound:.3g}, mean <= {mean_bound:.3g}",
        ),
        "mean": mean_err,
        "mean_threshold": mean_bound,
        "same_precision": {"worst": hf_worst, "mean": hf_mean},
        "floor": tol,
        "router_tie_rows": tie_rows,
    }


def _first_mismatch(a: list[int], b: list[int]) -> int | None:
    for i, (x, y) in enumerate(zip(a, b)):
        if x != y:
            return i
    return None if len(a) == len(b) else min(len(a), len(b))


def tokens_agree(
    name: str,
    got: list[list[int]],
    want: list[list[int]],
    margin_rows: list[torch.Tensor],
    margin_threshold: float,
    what: str,
    row_errors: list[torch.Tensor] | None = None,
) -> dict:
    """Token sequences must agree up to the first position where the reference margin (along the
    shared prefix) is below margin_threshold; a mismatch at a clear margin fails. With `row_errors`
    (the stack's own teacher-forced logit error per row, within calibrated bounds) a mismatch is also
    excused where that error is large enough to flip the choice, e.g. at a flipped expert route."""
    bad, notes = 0, []
    for i, (g, w, rows) in enumerate(zip(got, want, margin_rows)):
        j = _first_mismatch(g, w)
        if j is None:
            notes.append(f"#{i}: all {len(w)} equal")
            continue
        if j >= min(len(g), len(w)):
            bad += 1
            notes.append(f"#{i}: lengths differ ({len(g)} vs {len(w)})")
            continue
        m = float(margins(rows[j : j + 1])[0])
        if row_errors is not None and j < len(row_errors[i]) and m < MARGIN_FACTOR * float(row_errors[i][j]):
            notes.append(
                f"#{i}: equal for {j}, then differs where the stack's tolerated error "
                f"{float(row_errors[i][j]):.3g} exceeds half the margin {m:.3g}"
            )
        elif m < margin_threshold:
            notes.append(f"#{i}: equal for {j}, then differs at a near-tie (margin {m:.3g})")
        else:
            bad += 1
            notes.append(f"#{i}: differs at token {j} ({g[j]} vs {w[j]}) where the reference margin {m:.3g} is clear")
    return _check(name, bad, 0, bad == 0, f"{what}; mismatches at a clear margin counted. " + "; ".join(notes))


def max_tokens_respected(outputs: dict[str, list[int]], wanted: dict[str, int], finished: list[str]) -> dict:
    wrong = [f"{rid}: {len(outputs.get(rid, []))}/{n}" for rid, n in wanted.items() if len(outputs.get(rid, [])) != n]
    unfinished = sorted(set(wanted) - set(finished))
    ok = not wrong and not unfinished
    return _check(
        "max_tokens",
        len(wrong) + len(unfinished),
        0,
        ok,
        "every request produced exactly max_tokens tokens and finished"
        if ok
        else f"wrong lengths: {wrong[:5]}; never finished: {unfinished[:5]}",
    )


def streams_incrementally(stream_steps: dict[str, list[int]]) -> dict:
    multi = {rid: s for rid, s in stream_steps.items() if len(s) >= 2}
    inc = [rid for rid, s in multi.items() if s[0] < s[-1] and s == sorted(s)]
    frac = len(inc) / len(multi) if multi else 0.0
    return _check(
        "streaming",
        frac,
        1.0,
        bool(multi) and frac >= 1.0,
        f"{len(inc)}/{len(multi)} requests delivered their tokens over several engine steps, in order",
    )


def errors_along(errors: list[torch.Tensor], got: list[list[int]], want: list[list[int]]) -> list[torch.Tensor]:
    """Per-row errors computed along `want`'s tokens, kept only while `got` follows `want`: row j
    predicts token j from the prefix before it, so rows past the first differing token were computed
    on another prefix than `got`'s."""
    out = []
    for err, g, w in zip(errors, got, want):
        j = _first_mismatch(g, w)
        out.append(err if j is None else err[: j + 1])
    return out


def row_errors(stack_rows: list[torch.Tensor], ref_rows: list[torch.Tensor]) -> list[torch.Tensor]:
    """Per prompt, the largest |stack - reference| logit error of each row."""
    return [(s.float() - r).abs().max(dim=-1).values for s, r in zip(stack_rows, ref_rows)]
