"""Batching policies: `schedule() -> [(seq, num_new_tokens)]` for the next forward pass."""
