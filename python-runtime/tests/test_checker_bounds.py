"""The logit bounds' one rule on hand-made rows: twice what transformers at the stack's precision is
off the fp32 reference, in the worst error and in the mean, never below the floor; at the reference's
own precision (its rows as the calibration run) that is the floor itself."""

import pytest
import torch

from vibeserve_runtime.checker.checks import logits_close
from vibeserve_runtime.checker.tolerances import CALIBRATION_FACTOR, logit_tolerance

torch.manual_seed(0)
REF = [torch.randn(5, 64) for _ in range(3)]


def moved(rows, by: float) -> list[torch.Tensor]:
    """Rows off the reference by `by` logit std at one logit per row (and a little everywhere)."""
    out = []
    for r in rows:
        noise = torch.full_like(r, by / 20)
        noise[:, 0] = by
        out.append(r + noise)
    return out


def test_the_bound_scales_with_what_rounding_costs_at_the_stacks_precision():
    floor = logit_tolerance("bfloat16", "native")
    scale = float(torch.cat(REF).std())
    wide = moved(REF, 0.1 * scale)  # transformers' own bf16 run of a wide model
    ok = logits_close(moved(REF, 0.15 * scale), REF, floor, scale, wide)
    assert ok["passed"] and ok["threshold"] == pytest.approx(CALIBRATION_FACTOR * 0.1)
    bad = logits_close(moved(REF, 0.25 * scale), REF, floor, scale, wide)
    assert not bad["passed"]


def test_the_floor_holds_where_rounding_costs_less():
    floor = logit_tolerance("bfloat16", "native")
    scale = float(torch.cat(REF).std())
    tiny = moved(REF, 0.01 * scale)
    res = logits_close(moved(REF, 0.05 * scale), REF, floor, scale, tiny)
    assert res["passed"] and res["threshold"] == floor and res["mean_threshold"] == floor / 2


def test_at_the_references_own_precision_the_bound_is_the_fp32_floor():
    floor = logit_tolerance("float32", "native")
    scale = float(torch.cat(REF).std())
    res = logits_close(moved(REF, 1e-3 * scale), REF, floor, scale, REF)
    assert res["passed"] and res["threshold"] == floor == 2e-3
    assert not logits_close(moved(REF, 5e-3 * scale), REF, floor, scale, REF)["passed"]


def test_a_bug_that_moves_every_position_fails_the_mean_bound_under_a_loose_worst_bound():
    floor = logit_tolerance("bfloat16", "native")
    scale = float(torch.cat(REF).std())
    flipped = [r.clone() for r in REF]  # a flipped route: one large outlier per row
    for r in flipped:
        r[:, 0] += 1.5 * scale
    spread = [r + 0.2 * scale for r in REF]  # every logit of every position moved a little
    res = logits_close(spread, REF, floor, scale, flipped)
    assert res["value"] < res["threshold"] and res["mean"] > res["mean_threshold"] and not res["passed"]


def test_a_router_near_tie_row_is_left_out_of_the_worst_error_and_kept_in_the_mean():
    """A correct engine may send a token at a router near tie to another expert: that row alone is
    off by a logit std or more, in the stack or in transformers' own bf16 run, and neither sets the
    bound. Everywhere else the bound holds, and the mean still counts the tie rows."""
    floor = logit_tolerance("bfloat16", "native")
    scale = float(torch.cat(REF).std())
    calibration = moved(REF, 0.01 * scale)
    stack = moved(REF, 0.02 * scale)
    stack[1][3, 7] += 1.5 * scale  # the flipped route, at prompt 1 row 3
    ties = [torch.zeros(5, dtype=torch.bool) for _ in REF]
    assert not logits_close(stack, REF, floor, scale, calibration)["passed"]
    ties[1][3] = True
    res = logits_close(stack, REF, floor, scale, calibration, ties)
    assert res["passed"] and res["value"] < floor and res["router_tie_rows"] == 1 and "1 of 15 rows" in res["detail"]
    assert res["mean"] > logits_close(moved(REF, 0.02 * scale), REF, floor, scale, calibration, ties)["mean"]
    flipped_calibration = [r.clone() for r in calibration]  # transformers' own flip there does not widen the bound
    flipped_calibration[1][3, 7] += 2.0 * scale
    assert logits_close(stack, REF, floor, scale, flipped_calibration, ties)["threshold"] == floor
    stack[0][2, 5] += 1.5 * scale  # off at a row with a clear route: fails
    assert not logits_close(stack, REF, floor, scale, calibration, ties)["passed"]


def test_router_near_ties_are_the_rows_whose_top_k_gap_is_within_the_rounding_of_router_logits():
    from vibeserve_runtime.reference.hf_model import router_near_ties

    full = torch.tensor(
        [
            [[3.0, 2.0, 1.0, 0.0], [3.0, 2.0, 1.995, 0.0], [5.0, 3.0, 1.0, 1.0]],
            [[3.0, 2.0, 1.0, 0.0], [3.0, 2.0, 1.0, 0.0], [5.0, 3.0, 2.99, 1.0]],
        ]
    )  # [layers, rows, experts]
    low = full + torch.tensor([0.0, 0.004, -0.004, 0.0])  # rounding moves router logits by 0.004 at most
    # top-2 gaps: row 0 1.0; row 1 0.005 in layer 0 (< 2 x 0.004); row 2 0.01 in layer 1 (> 0.008)
    assert router_near_ties([(low, full)], top_k=2)[0].tolist() == [False, True, False]
    assert router_near_ties([(low, full)], top_k=4)[0].tolist() == [False, False, False]  # every expert runs
