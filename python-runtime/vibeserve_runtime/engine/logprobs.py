"""Log-probabilities for the requests that ask for them (SamplingParams.logprobs, .prompt_logprobs).

A step pays for them only when a request in it asks: the logits of prompt positions are computed
only for sequences that want prompt logprobs, and the log-softmax runs only over asking rows. The
values are the model's own distribution (log-softmax of the raw logits), whatever the sampling
settings, as the OpenAI API and lm-evaluation-harness expect of a log-likelihood.
"""

from __future__ import annotations

import torch

from ..types import TokenLogprob
from .launched_step import copy_to_device, copy_to_host


def token_logprobs(logits: torch.Tensor, token_ids: list[int], ks: list[int]) -> list[TokenLogprob]:
    """Row i scores token_ids[i]: its logprob and the ks[i] most likely tokens of that row."""
    lp = torch.log_softmax(logits.float(), dim=-1)
    chosen = lp.gather(1, torch.tensor(token_ids, device=lp.device)[:, None])[:, 0].tolist()
    k = min(max(ks), lp.shape[-1])
    top_v, top_i = lp.topk(k, dim=-1) if k else (lp[:, :0], lp[:, :0].long())
    top_v, top_i = top_v.tolist(), top_i.tolist()
    return [
        TokenLogprob(t, c, list(zip(ids[:n], vals[:n])))
        for t, c, ids, vals, n in zip(token_ids, chosen, top_i, top_v, ks)
    ]


class SampledLogprobs:
    """The logprob entries of a step's sampled tokens for the sequences that ask for them: computed on
    the device at launch, from the tokens still on the device, and copied back with them, so under
    async scheduling they cost no wait before the next step is launched."""

    def __init__(self, logits: torch.Tensor, seqs, tokens: torch.Tensor):
        """tokens: [len(seqs), 1] sampled ids, on the logits' device."""
        self.rows = [i for i, s in enumerate(seqs) if s.params.logprobs is not None]
        self.ks = [seqs[i].params.logprobs for i in self.rows]
        self._size = len(seqs)
        if not self.rows:
            return
        rows = copy_to_device(torch.tensor(self.rows), logits.device)
        lp = torch.log_softmax(logits[rows].float(), dim=-1)
        chosen = lp.gather(1, tokens[rows, :1])[:, 0]
        k = min(max(self.ks), lp.shape[-1])
        top_v, top_i = lp.topk(k, dim=-1) if k else (lp[:, :0], lp[:, :0].long())
        self._host = [copy_to_host(t) for t in (tokens[rows, 0], chosen, top_v, top_i)]

    def entries(self) -> list[TokenLogprob | None]:
        """For each sampled sequence, its new token's entry, or None when it did not ask. Read after
        the step's tokens (the copies have landed by then)."""
        out: list[TokenLogprob | None] = [None] * self._size
        if self.rows:
            toks, chosen, top_v, top_i = (t.tolist() for t in self._host)
            for j, (i, n) in enumerate(zip(self.rows, self.ks)):
                out[i] = TokenLogprob(toks[j], chosen[j], list(zip(top_i[j][:n], top_v[j][:n])))
        return out


class PromptRows:
    """The rows one step computes when some sequence in it wants prompt logprobs: the sampled rows
    (build_batch's sample_idx) plus every prompt position of the asking sequences, in ascending
    order (a runner may take a full, ordered row set of a decode batch as "every row")."""

    def __init__(self, batch):
        sample_rows, self.prompt = [], []  # prompt: (seq, position); its row scores token position+1
        prompt_rows, offset = [], 0
        for seq, n in batch:
            start = seq.num_computed
            if seq.prompt_logprobs is not None:
                for p in range(start, min(start + n, seq.num_prompt_tokens - 1)):
                    self.prompt.append((seq, p))
                    prompt_rows.append(offset + p - start)
            offset += n
            if start + n == len(seq):
                sample_rows.append(offset - 1)
        self.rows = sorted(set(sample_rows) | set(prompt_rows))
        where = {r: i for i, r in enumerate(self.rows)}
        self.sample_pick = [where[r] for r in sample_rows]
        self.prompt_pick = [where[r] for r in prompt_rows]

    def index(self, device) -> torch.Tensor:
        return torch.tensor(self.rows, dtype=torch.long, device=device)

    def record(self, logits: torch.Tensor) -> torch.Tensor:
        """Stores the prompt positions' entries on their sequences; returns the sampled rows' logits."""
        if self.prompt:
            entries = token_logprobs(
                logits[self.prompt_pick],
                [s.token_ids[p + 1] for s, p in self.prompt],
                [s.params.prompt_logprobs for s, _ in self.prompt],
            )
            for (seq, p), e in zip(self.prompt, entries):
                seq.prompt_logprobs[p + 1] = e
        return logits[self.sample_pick]
