"""How a forward pass runs: `runner.run(input_ids, meta, sample_idx) -> logits [len(sample_idx), vocab] fp32`."""
