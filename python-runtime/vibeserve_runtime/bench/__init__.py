"""Benchmark harness: offline (in-process engine), online load generator (any OpenAI-compatible
URL) and the naive transformers `generate` baseline, all reporting vLLM's metric names."""
