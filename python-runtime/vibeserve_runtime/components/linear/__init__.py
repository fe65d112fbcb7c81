"""Linear-layer weight formats: a factory `make(weight [out, in], bias | None) -> nn.Module`."""
