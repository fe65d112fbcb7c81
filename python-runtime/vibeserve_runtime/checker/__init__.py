"""Correctness checker: a candidate stack vs the fp32 transformers reference (see checks.py)."""
