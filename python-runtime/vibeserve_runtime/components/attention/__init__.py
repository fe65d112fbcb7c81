"""Attention backends: `backend(q, k, v, k_cache, v_cache, meta, scale) -> out`, all shaped [tokens, heads, head_dim]."""
