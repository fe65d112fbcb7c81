"""Speculative decoding from the request itself: proposers of draft tokens, `proposer.propose(seq, k)
-> list[int]` (at most k tokens the sequence is likely to continue with; [] for none). No draft
model: the drafts come from the request's own text, so proposing costs host microseconds. The
engine has the target model verify them exactly (engine/verify_step.py)."""
