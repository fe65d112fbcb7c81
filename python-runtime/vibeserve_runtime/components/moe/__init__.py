"""Mixture-of-experts blocks: `make(gate [E, H], w1 [E, I, H], w2 [E, H, I], w3 [E, I, H], top_k, linear) -> nn.Module`."""
