"""Samplers: `sampler(logits [B, V] fp32, seqs) -> list[int]`; temperature 0 is greedy in all of them."""
