"""The trusted fp32 Hugging Face transformers reference that candidates are checked against."""

from .hf_model import HFReference, build_hf_model

__all__ = ["HFReference", "build_hf_model"]
