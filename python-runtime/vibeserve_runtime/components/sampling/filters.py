"""Temperature, top-k and top-p applied to a batch of logits, each row with its own parameters."""

from __future__ import annotations

import torch


def filtered_logits(logits: torch.Tensor, seqs) -> torch.Tensor:
    """Logits scaled by temperature with everything outside top-k / top-p set to -inf."""
    dev = logits.device
    temp = torch.tensor([max(s.params.temperature, 1e-5) for s in seqs], device=dev)[:, None]
    logits = logits / temp
    top_k = [s.params.top_k for s in seqs]
    top_p = [s.params.top_p for s in seqs]
    if not any(k > 0 for k in top_k) and all(p >= 1.0 for p in top_p):
        return logits
    V = logits.shape[-1]
    k = torch.tensor([kk if 0 < kk < V else V for kk in top_k], device=dev)
    p = torch.tensor(top_p, device=dev, dtype=torch.float32)
    sorted_logits, order = torch.sort(logits, dim=-1, descending=True)
    rank = torch.arange(V, device=dev)[None, :]
    drop = rank >= k[:, None]
    probs = torch.softmax(sorted_logits.masked_fill(drop, float("-inf")), dim=-1)
    # keep the smallest prefix whose mass reaches p (the token that crosses p is kept)
    drop |= (probs.cumsum(-1) - probs) >= p[:, None]
    sorted_logits = sorted_logits.masked_fill(drop, float("-inf"))
    return torch.full_like(logits, float("-inf")).scatter(1, order, sorted_logits)


def greedy_rows(seqs) -> list[bool]:
    return [s.params.temperature <= 0 for s in seqs]
