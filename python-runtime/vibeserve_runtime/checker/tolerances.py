"""Stated tolerances of the checker.

Logit error is measured as max |stack - reference| over every compared logit, divided by the
reference logits' standard deviation (the logit scale), so one number works for any model size.
fp32 must agree to rounding; half precision and quantized weights carry their own rounding error
through every layer, so they are allowed more. A greedy-token mismatch is excused only where the
reference's top-1 margin is below MARGIN_FACTOR × tolerance × scale, i.e. where an error within
tolerance could flip the choice.

Measured on CPU with the tiny Llama preset: bf16 0.022, int8 weight-only 0.027, bf16 + int8 0.037.
Half-precision tolerances are loose enough to hide a bug as small as a RoPE offset on a random
tiny model (0.016 in fp32), which is why the fp32 check is tight; a scenario can state its own
tolerance with `check --tolerance`.

Quantized stacks, and mixture-of-experts models in half precision, need calibrated bounds. A
random router puts experts within 1e-3 of each other in probability, so rounding alone flips the
top-k choice at a few positions, and that position's logits move by one to two logit std
(transformers' own bf16 Mixtral differs from its fp32 run by 2.0 at such a position, measured on CPU
with the mixtral-moe scenario's shape); int8 and fp8 weights move a wide model further than the
fixed tolerances above allow. The checker therefore also runs transformers at the stack's precision
(its dtype, and its weight format through reference/fake_quant.py) and allows the stack
CALIBRATION_FACTOR × what that run shows, both in the worst error and in the worst per-prompt mean,
never less than the fixed tolerance. The mean is what still catches a real bug (a wrong expert, gate
or scale moves every position). Where the stack's own error at a row is within those bounds and
large enough to flip the token, a flip there is excused, against the reference (greedy tokens) and
between a prompt alone and inside a batch (batch invariance): kernels that choose tiles per batch
size round differently per batch, and a router near-tie turns that into another expert.
"""
from __future__ import annotations

DTYPE_TOL = {"float32": 2e-3, "float16": 0.05, "bfloat16": 0.08}
LINEAR_TOL = {"native": 0.0, "int8_weight_only": 0.15, "fp8": 0.25}
MARGIN_FACTOR = 2.0
CALIBRATION_FACTOR = 2.0


def logit_tolerance(dtype: str, linear: str) -> float:
    return max(DTYPE_TOL.get(dtype, DTYPE_TOL["float32"]), LINEAR_TOL.get(linear, 0.0))


def calibrated_bounds(tol: float, same_precision_worst: float, same_precision_mean: float) -> tuple[float, float]:
    """(worst, mean) bounds from transformers' own error at the stack's precision; never below the fixed tolerance."""
    return (max(tol, CALIBRATION_FACTOR * same_precision_worst),
            max(tol / 2, CALIBRATION_FACTOR * same_precision_mean))
