"""Llama family (Llama-2/3, SmolLM2, Qwen2 q/k/v bias) and Mixtral (MoE MLP), built from an HF state dict.

q/k/v and gate/up projections are fused into one matmul each, so a decode step launches fewer,
larger GEMMs.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn

from .fused import silu_mul
from .norms import RMSNorm
from .parts import ModelParts
from .rope import rope_params


class LlamaAttention(nn.Module):
    def __init__(self, cfg: dict, sd: dict, p: str, parts: ModelParts, rope):
        super().__init__()
        H = cfg["hidden_size"]
        self.nh = cfg["num_attention_heads"]
        self.kvh = cfg.get("num_key_value_heads") or self.nh
        self.hd = cfg.get("head_dim") or H // self.nh
        names = [p + f"self_attn.{n}_proj." for n in "qkv"]
        w = torch.cat([sd.pop(n + "weight") for n in names])
        b = torch.cat([sd.pop(n + "bias") for n in names]) if names[0] + "bias" in sd else None
        self.qkv_proj = parts.linear(w, b)
        self.o_proj = parts.linear(sd.pop(p + "self_attn.o_proj.weight"), sd.pop(p + "self_attn.o_proj.bias", None))
        self.rope = rope
        self.attn = parts.attention
        self.scale = self.hd**-0.5
        self.k_cache = self.v_cache = None

    def forward(self, x, meta):
        T = x.shape[0]
        q, k, v = self.qkv_proj(x).split([self.nh * self.hd, self.kvh * self.hd, self.kvh * self.hd], dim=-1)
        q, k = self.rope(meta.positions, q.view(T, self.nh, self.hd), k.view(T, self.kvh, self.hd))
        o = self.attn(q, k, v.view(T, self.kvh, self.hd), self.k_cache, self.v_cache, meta, self.scale)
        return self.o_proj(o.reshape(T, self.nh * self.hd))


class LlamaMLP(nn.Module):
    def __init__(self, sd: dict, p: str, parts: ModelParts):
        super().__init__()
        self.gate_up = parts.linear(torch.cat([sd.pop(p + "mlp.gate_proj.weight"), sd.pop(p + "mlp.up_proj.weight")]))
        self.down = parts.linear(sd.pop(p + "mlp.down_proj.weight"))

    def forward(self, x):
        return self.down(silu_mul(self.gate_up(x)))


def mixtral_moe(cfg: dict, sd: dict, p: str, parts: ModelParts) -> nn.Module:
    E = cfg["num_local_experts"]
    q = p + "block_sparse_moe."
    w = {n: torch.stack([sd.pop(f"{q}experts.{e}.{n}.weight") for e in range(E)]) for n in ("w1", "w2", "w3")}
    return parts.moe(sd.pop(q + "gate.weight"), w["w1"], w["w2"], w["w3"], cfg["num_experts_per_tok"], parts.linear)


class LlamaBlock(nn.Module):
    def __init__(self, cfg: dict, sd: dict, i: int, parts: ModelParts, rope):
        super().__init__()
        p = f"model.layers.{i}."
        eps = cfg.get("rms_norm_eps", 1e-5)
        self.input_norm = RMSNorm(sd.pop(p + "input_layernorm.weight"), eps)
        self.attn = LlamaAttention(cfg, sd, p, parts, rope)
        self.post_norm = RMSNorm(sd.pop(p + "post_attention_layernorm.weight"), eps)
        self.mlp = mixtral_moe(cfg, sd, p, parts) if cfg["model_type"] == "mixtral" else LlamaMLP(sd, p, parts)

    def forward(self, x, meta):
        x = x + self.attn(self.input_norm(x), meta)
        return x + self.mlp(self.post_norm(x))


class LlamaForCausalLM(nn.Module):
    def __init__(self, cfg: dict, sd: dict, parts: ModelParts):
        super().__init__()
        self.cfg = cfg
        H, nh = cfg["hidden_size"], cfg["num_attention_heads"]
        self.num_kv_heads = cfg.get("num_key_value_heads") or nh
        self.head_dim = cfg.get("head_dim") or H // nh
        theta, scaling = rope_params(cfg)
        rope = parts.rope(self.head_dim, cfg.get("max_position_embeddings", 2048), theta, scaling)
        self.embed = nn.Parameter(sd.pop("model.embed_tokens.weight"), requires_grad=False)
        self.layers = nn.ModuleList(LlamaBlock(cfg, sd, i, parts, rope) for i in range(cfg["num_hidden_layers"]))
        self.norm = RMSNorm(sd.pop("model.norm.weight"), cfg.get("rms_norm_eps", 1e-5))
        lm = sd.pop("lm_head.weight", None)
        self.lm_head = nn.Parameter(self.embed if lm is None else lm, requires_grad=False)

    @property
    def attention_layers(self):
        return [layer.attn for layer in self.layers]

    def forward(self, input_ids, meta):
        x = F.embedding(input_ids, self.embed)
        for layer in self.layers:
            x = layer(x, meta)
        return self.norm(x)

    def compute_logits(self, hidden):
        return F.linear(hidden, self.lm_head).float()
