"""GPT-2 from an HF state dict (Conv1D weights are [in, out]; transposed once at load)."""

from __future__ import annotations

import torch.nn.functional as F
from torch import nn

from .parts import ModelParts


class LayerNorm(nn.Module):
    def __init__(self, weight, bias, eps):
        super().__init__()
        self.weight = nn.Parameter(weight, requires_grad=False)
        self.bias = nn.Parameter(bias, requires_grad=False)
        self.eps = eps

    def forward(self, x):
        return F.layer_norm(x, x.shape[-1:], self.weight, self.bias, self.eps)


def _conv1d(sd, name, parts):
    return parts.linear(sd.pop(name + ".weight").t().contiguous(), sd.pop(name + ".bias"))


class GPT2Block(nn.Module):
    def __init__(self, cfg, sd, i, parts: ModelParts):
        super().__init__()
        p = f"transformer.h.{i}."
        eps = cfg.get("layer_norm_epsilon", 1e-5)
        self.nh = cfg["n_head"]
        self.hd = cfg["n_embd"] // self.nh
        self.ln_1 = LayerNorm(sd.pop(p + "ln_1.weight"), sd.pop(p + "ln_1.bias"), eps)
        self.c_attn = _conv1d(sd, p + "attn.c_attn", parts)
        self.c_proj = _conv1d(sd, p + "attn.c_proj", parts)
        self.ln_2 = LayerNorm(sd.pop(p + "ln_2.weight"), sd.pop(p + "ln_2.bias"), eps)
        self.c_fc = _conv1d(sd, p + "mlp.c_fc", parts)
        self.mlp_proj = _conv1d(sd, p + "mlp.c_proj", parts)
        self.attn = parts.attention
        self.scale = self.hd**-0.5
        self.k_cache = self.v_cache = None

    def forward(self, x, meta):
        T = x.shape[0]
        q, k, v = self.c_attn(self.ln_1(x)).view(T, 3, self.nh, self.hd).unbind(1)
        o = self.attn(q, k, v, self.k_cache, self.v_cache, meta, self.scale)
        x = x + self.c_proj(o.reshape(T, -1))
        return x + self.mlp_proj(F.gelu(self.c_fc(self.ln_2(x)), approximate="tanh"))


class GPT2LMHeadModel(nn.Module):
    def __init__(self, cfg: dict, sd: dict, parts: ModelParts):
        super().__init__()
        self.cfg = cfg
        self.num_kv_heads = cfg["n_head"]
        self.head_dim = cfg["n_embd"] // cfg["n_head"]
        self.wte = nn.Parameter(sd.pop("transformer.wte.weight"), requires_grad=False)
        self.wpe = nn.Parameter(sd.pop("transformer.wpe.weight"), requires_grad=False)
        self.layers = nn.ModuleList(GPT2Block(cfg, sd, i, parts) for i in range(cfg["n_layer"]))
        self.ln_f = LayerNorm(
            sd.pop("transformer.ln_f.weight"), sd.pop("transformer.ln_f.bias"), cfg.get("layer_norm_epsilon", 1e-5)
        )
        lm = sd.pop("lm_head.weight", None)
        self.lm_head = nn.Parameter(self.wte if lm is None else lm, requires_grad=False)

    @property
    def attention_layers(self):
        return list(self.layers)

    def forward(self, input_ids, meta):
        x = F.embedding(input_ids, self.wte) + F.embedding(meta.positions, self.wpe)
        for layer in self.layers:
            x = layer(x, meta)
        return self.ln_f(x)

    def compute_logits(self, hidden):
        return F.linear(hidden, self.lm_head).float()
