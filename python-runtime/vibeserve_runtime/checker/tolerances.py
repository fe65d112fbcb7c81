"""Stated tolerances of the checker.

Logit error is measured as max |stack - reference| over every compared logit, divided by the
reference logits' standard deviation (the logit scale). The reference is transformers in fp32.

One rule for every stack: its bounds are calibrated on transformers itself run at the stack's own
precision, its dtype and its weight format (reference/fake_quant.py rounds the weights as the stack's
quantizer does), on the same prompts and tokens. That run's error against the fp32 reference is what
rounding alone costs this model at this precision; the stack is allowed CALIBRATION_FACTOR times it,
in the worst error and in the worst per-prompt mean, never less than the floor (DTYPE_TOL,
LINEAR_TOL). So the bound grows with what width, depth and precision make rounding cost, and only
as far as that: a fixed bf16 bound tuned on tiny models rejected correct wide models (width 3072
and 4096, 4 layers, bf16 on an H100: 0.083 and 0.098 against 0.08). A correct engine rounds about as
much as transformers does (measured on CPU in bf16: tiny presets 0.021-0.026 vs transformers'
0.022-0.025; width 512-1024 at 2-4 layers 0.039-0.042 vs 0.036-0.043; width 3072, head_dim 96,
4 layers 0.088 vs 0.106, bound 0.21), so twice transformers' error is room for another kernel and
summation order, not for a bug.

The floor is what a small model gets, where rounding is too small to calibrate on: fp32 must agree
to rounding (2e-3; at fp32 with native weights the calibration run is the reference itself, error 0),
half precision and quantized weights keep the fixed bounds measured on the tiny presets. Half-precision
bounds are loose enough to hide a bug as small as a RoPE offset on a random tiny model (0.016 in
fp32), which is why the fp32 floor is tight and the broken-component tests run in fp32 too. The mean
bound (half the floor at least) is what catches a real bug whose worst case hides among rounding
outliers: a wrong expert, gate or scale moves every position.

For an MoE model the worst error leaves out the rows at a router near tie, in the stack's rows and
in the calibration run's alike (reference/hf_model.router_near_ties: a layer whose fp32 router puts
its k-th and (k+1)-th expert closer than CALIBRATION_FACTOR times the largest router-logit change
that rounding causes there). At such a row any correct engine may route a token to another expert,
which moves that row by a logit std or more: a correct fused MoE kernel in bf16 was rejected at
0.11 against a 0.08 bound at one such row (tiny OLMoE shape, router gap 3e-4), while transformers'
own bf16 run happened to route as fp32 did. Those rows stay in the mean bound.

A greedy-token mismatch is excused where the reference's top-1 margin is below MARGIN_FACTOR x floor x
scale (a near tie), or where the stack's own teacher-forced error at that row, within the bounds, is
more than 1 / MARGIN_FACTOR of the margin: a random router puts experts within 1e-3 of each other, so
rounding alone flips the top-k choice at a few positions and moves that position's logits by one to
two logit std (transformers' own bf16 Mixtral differs from its fp32 run by 2.0 at such a position,
measured on CPU with the mixtral-moe scenario's shape), and kernels that choose tiles per batch size
round differently per batch, which a router near-tie turns into another expert. A scenario can state
a fixed tolerance instead, with `check --tolerance` (no calibration).
"""

from __future__ import annotations

DTYPE_TOL = {"float32": 2e-3, "float16": 0.05, "bfloat16": 0.08}
LINEAR_TOL = {"native": 0.0, "int8_weight_only": 0.15, "fp8": 0.25}
MARGIN_FACTOR = 2.0
CALIBRATION_FACTOR = 2.0


def logit_tolerance(dtype: str, linear: str) -> float:
    """The floor of the bounds for a stack of this dtype and weight format."""
    return max(DTYPE_TOL.get(dtype, DTYPE_TOL["float32"]), LINEAR_TOL.get(linear, 0.0))


def calibrated_bounds(floor: float, same_precision_worst: float, same_precision_mean: float) -> tuple[float, float]:
    """(worst, mean) bounds from transformers' own error at the stack's precision; never below the floor."""
    return (
        max(floor, CALIBRATION_FACTOR * same_precision_worst),
        max(floor / 2, CALIBRATION_FACTOR * same_precision_mean),
    )
