"""Hugging Face transformers in fp32 on the very weights the engine loads.

The state dict comes from the runtime's own `load_model_weights` (same config, same tensors, in
the stack's dtype, so bf16-rounded weights are compared as such), then the model is built in fp32
with plain attention and no cache: the least clever way to compute the right answer.
"""

from __future__ import annotations

import json
import tempfile
from pathlib import Path

import torch


def load_weights(model_spec: dict):
    try:
        from ..models import load_model_weights
    except ImportError:
        from ..models.loading import load_model_weights
    return load_model_weights(model_spec)


def build_hf_model(hf_config: dict, hf_state_dict: dict, dtype=torch.float32, device="cpu"):
    """Saved through a directory so transformers applies its own checkpoint conversions
    (e.g. v5 fuses Mixtral's per-expert weights)."""
    import transformers
    from safetensors.torch import save_file

    cfg = dict(hf_config)
    with tempfile.TemporaryDirectory(prefix="vibeserve-ref-") as d:
        (Path(d) / "config.json").write_text(json.dumps(cfg))
        save_file(
            {k: v.detach().contiguous().cpu() for k, v in hf_state_dict.items()}, str(Path(d) / "model.safetensors")
        )
        model = transformers.AutoModelForCausalLM.from_pretrained(d, dtype=dtype, attn_implementation="eager")
    return model.to(device).eval()


class HFReference:
    def __init__(self, model_spec: dict, device: str = "cpu", stack_components: dict | None = None):
        """`stack_components`: the stack's choices, to calibrate on its precision (same_precision_rows);
        None for no calibration (a stated `check --tolerance`)."""
        if device == "cuda":  # an fp32 reference means fp32 matmuls, not TF32
            torch.backends.cuda.matmul.allow_tf32 = False
            torch.backends.cudnn.allow_tf32 = False
        cfg, sd, meta = load_weights(model_spec)
        self.hf_config, self.meta, self.device = cfg, meta, device
        self.model = build_hf_model(cfg, sd, torch.float32, device)
        self.name = f"transformers {__import__('transformers').__version__} {type(self.model).__name__} fp32 ({meta.get('source', '')})"
        self.vocab_size = cfg["vocab_size"]
        self.dtype = model_spec.get("dtype", "float32")
        comps = stack_components or {}
        self.linear = comps.get("linear", "native")
        quantized = self.linear in ("int8_weight_only", "fp8")  # a builder's own format has no reference rounding
        self.calibrated = stack_components is not None
        self._weight_format = self.linear if quantized else "native"
        # the per-expert loop builds its experts from `linear`; the fused kernels keep them in the model dtype
        self._experts_quantized = quantized and comps.get("moe") == "loop"
        # At fp32 with native weights the stack's precision is the reference's own: nothing to run.
        self.rounds = self.calibrated and (self.dtype != "float32" or quantized)
        self._state_dict = sd if self.rounds else None  # only what same_precision_rows needs
        self.max_positions = cfg.get("max_position_embeddings") or cfg.get("n_positions") or 2048

    def offload(self) -> None:
        """Give the GPU to the candidate while it runs (an fp32 8B reference holds 32 GB)."""
        if self.device == "cuda":
            self.model.to("cpu")
            torch.cuda.empty_cache()

    def reload(self) -> None:
        if self.device == "cuda":
            self.model.to("cuda")

    @torch.inference_mode()
    def logits(self, ids: list[int]) -> torch.Tensor:
        x = torch.tensor([ids], device=self.device)
        return self.model(input_ids=x, use_cache=False).logits[0].float().cpu()

    def greedy(self, prompt: list[int], n: int) -> tuple[list[int], torch.Tensor]:
        """n greedy tokens (full recompute each step, no cache) and the n+1 next-token logit rows
        along prompt + tokens."""
        ids = list(prompt)
        for _ in range(n):
            ids.append(int(self.logits(ids)[-1].argmax()))
        return ids[len(prompt) :], self.logits_along(prompt, ids[len(prompt) :])

    def logits_along(self, prompt: list[int], tokens: list[int]) -> torch.Tensor:
        """Row i: next-token logits after prompt + tokens[:i] (len(tokens)+1 rows)."""
        return self.logits(list(prompt) + list(tokens))[len(prompt) - 1 :]

    @torch.inference_mode()
    def same_precision_rows(
        self, prompts: list[list[int]], tokens: list[list[int]], ref_rows: list[torch.Tensor]
    ) -> tuple[list[torch.Tensor], list[torch.Tensor] | None]:
        """The logit rows of `logits_along` computed by transformers itself in the stack's dtype and
        weight format (reference/fake_quant.py): how far plain rounding and quantization move this
        model from its fp32 answer, which calibrates the checker's bounds. At the reference's own
        precision that run is the reference: `ref_rows` (its rows along the same tokens) are returned.
        Second, for an MoE model, which of those rows sit at a router near tie (router_near_ties);
        None where nothing rounds or nothing routes. Needs `calibrated`; runs once."""
        from .fake_quant import apply_linear_format

        if not self.calibrated:
            raise RuntimeError("same_precision_rows needs the stack's components (HFReference(stack_components=...))")
        if not self.rounds:
            return list(ref_rows), None
        if self._state_dict is None:
            raise RuntimeError("same_precision_rows runs once")
        model = build_hf_model(self.hf_config, self._state_dict, getattr(torch, self.dtype), self.device)
        self._state_dict = None
        apply_linear_format(model, self._weight_format, self._experts_quantized)
        rows, routed = [], []
        for p, t in zip(prompts, tokens):
            ids, first = list(p) + list(t), len(p) - 1
            logits, router = _forward(model, ids, self.device)
            rows.append(logits[first:])
            if router is not None:  # an MoE model: its fp32 router along the same rows, to compare
                fp32_router = _forward(self.model, ids, self.device)[1]
                routed.append((router[:, first:], fp32_router[:, first:]))
        del model
        if self.device == "cuda":
            torch.cuda.empty_cache()
        top_k = self.hf_config.get("num_experts_per_tok")
        return rows, (router_near_ties(routed, top_k) if routed and top_k else None)


def _forward(model, ids: list[int], device) -> tuple[torch.Tensor, torch.Tensor | None]:
    """(logits [seq, vocab], router logits [layers, seq, experts] or None for a dense model), fp32 on CPU."""
    routes = hasattr(model.config, "output_router_logits")
    kwargs = {"output_router_logits": True} if routes else {}
    out = model(input_ids=torch.tensor([ids], device=device), use_cache=False, **kwargs)
    router = getattr(out, "router_logits", None) if routes else None
    return out.logits[0].float().cpu(), (torch.stack([r.float().cpu() for r in router]) if router else None)


def router_near_ties(routed: list[tuple[torch.Tensor, torch.Tensor]], top_k: int) -> list[torch.Tensor]:
    """Per prompt, which rows have, in some layer, a gap between the fp32 router's k-th and (k+1)-th
    expert smaller than CALIBRATION_FACTOR times the largest router-logit change that rounding alone
    causes (the stack-precision run against fp32, over every row and layer). At such a row any
    correct engine may route one token to another expert, which moves that row's logits by a logit
    std or more; `routed` holds (stack-precision router logits, fp32 router logits) per prompt."""
    from ..checker.tolerances import CALIBRATION_FACTOR

    noise = max(float((low - full).abs().max()) for low, full in routed)
    ties = []
    for _, full in routed:
        if top_k >= full.shape[-1]:  # every expert runs: nothing to flip
            return [torch.zeros(full.shape[1], dtype=torch.bool) for _, full in routed]
        ranked = full.sort(dim=-1, descending=True).values  # [layers, rows, experts]
        gap = (ranked[..., top_k - 1] - ranked[..., top_k]).min(dim=0).values  # [rows]
        ties.append(gap < CALIBRATION_FACTOR * noise)
    return ties
