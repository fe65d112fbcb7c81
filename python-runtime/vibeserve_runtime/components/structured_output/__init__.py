"""Structured output: a request's `response_format` JSON schema turned into a grammar (llguidance)
that every output token must follow. A backend is built once per engine,
`factory(tokenizer, vocab_size, eos_token_id) -> backend`, and the engine asks it:

    backend.start(schema) -> matcher        # per request; ValueError for a schema it cannot serve
    backend.mask(logits, sampled, drafts)    # logits with the grammar's disallowed tokens at -inf
    backend.advance(seq, token) -> bool      # the token appended; False once the grammar admits nothing more
    backend.forced_tokens(seq) -> list[int]  # tokens the grammar forces next, drafted by the engine
                                             # where backend.drafts_forced_tokens (engine/forced_drafts.py)

A sequence's matcher lives on it (Sequence.grammar). Masking happens on the host between the
forward and the sampler, so a step that carries a constrained request is built after the step
before it was read (no async overlap, one decode step per run)."""
