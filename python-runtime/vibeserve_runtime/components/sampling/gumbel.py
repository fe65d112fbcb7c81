"""Gumbel-max sampling as an exponential race: argmax(p / E) with E ~ Exp(1) samples from p,
without the cumulative-sum search of multinomial."""

from __future__ import annotations

import torch

from .filters import filtered_logits, greedy_rows


class GumbelSampler:
    name = "gumbel"

    def __call__(self, logits: torch.Tensor, seqs) -> list[int]:
        return self.sample(logits, seqs).tolist()

    def sample(self, logits: torch.Tensor, seqs) -> torch.Tensor:
        """The sampled token ids, left on the logits' device (multi-step decode feeds them back)."""
        out = logits.argmax(dim=-1)
        greedy = greedy_rows(seqs)
        if not all(greedy):
            rows = [i for i, g in enumerate(greedy) if not g]
            probs = torch.softmax(filtered_logits(logits[rows], [seqs[i] for i in rows]), dim=-1)
            noise = torch.empty_like(probs)
            for j, i in enumerate(rows):
                noise[j].exponential_(generator=seqs[i].generator)
            out[rows] = (probs / noise).argmax(dim=-1)
        return out
