"""Sort-based top-k/top-p, then torch.multinomial (per-request generator when a seed is given)."""

from __future__ import annotations

import torch

from .filters import filtered_logits, greedy_rows


class SortBasedSampler:
    name = "sort_based"

    def __call__(self, logits: torch.Tensor, seqs) -> list[int]:
        return self.sample(logits, seqs).tolist()

    def sample(self, logits: torch.Tensor, seqs) -> torch.Tensor:
        """The sampled token ids, left on the logits' device (multi-step decode feeds them back)."""
        out = logits.argmax(dim=-1)
        greedy = greedy_rows(seqs)
        if not all(greedy):
            rows = [i for i, g in enumerate(greedy) if not g]
            probs = torch.softmax(filtered_logits(logits[rows], [seqs[i] for i in rows]), dim=-1)
            for j, i in enumerate(rows):
                out[i] = torch.multinomial(probs[j], 1, generator=seqs[i].generator)[0]
        return out
