"""KV-cache layouts. Both store K/V per layer as [num_blocks + 1, block_size, kv_heads, head_dim]
(the extra block is scratch space for padded CUDA-graph rows) and describe a sequence's tokens by a
block table; they differ in how blocks are handed out."""
