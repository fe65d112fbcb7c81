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
"""
from __future__ import annotations

DTYPE_TOL = {"float32": 2e-3, "float16": 0.05, "bfloat16": 0.08}
LINEAR_TOL = {"native": 0.0, "int8_weight_only": 0.15, "fp8": 0.25}
MARGIN_FACTOR = 2.0


def logit_tolerance(dtype: str, linear: str) -> float:
    return max(DTYPE_TOL.get(dtype, DTYPE_TOL["float32"]), LINEAR_TOL.get(linear, 0.0))
