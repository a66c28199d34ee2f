"""Gemma 3 (text) over the paged KV cache.

Differences from Llama: RMSNorm scales by (1 + w); q and k are RMS-normed per head; the
embedding is multiplied by sqrt(hidden); the MLP uses tanh-approximated GELU; each block has
norms after attention and around the MLP; sliding-window layers use their own rope theta;
attention is scaled by query_pre_attn_scalar ** -0.5.
"""
from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn

from engine.attention import AttentionMetadata, Window, paged_attention
from engine.models.base import CausalLM
from engine.models.layers import Rotary, apply_rope, copy_linear, copy_norm, fused_linear, rotary_for


class Gemma3Layer(nn.Module):
    def __init__(self, hf_layer: nn.Module, config, rotary: Rotary, window: Window) -> None:
        super().__init__()
        attn, mlp, eps = hf_layer.self_attn, hf_layer.mlp, config.rms_norm_eps
        self.heads = config.num_attention_heads
        self.kv_heads = config.num_key_value_heads
        self.head_dim = config.head_dim
        self.scale = config.query_pre_attn_scalar ** -0.5
        self.rotary = rotary
        self.window = window
        self.input_norm = copy_norm(hf_layer.input_layernorm, eps, 1.0)
        self.qkv_proj = fused_linear([attn.q_proj, attn.k_proj, attn.v_proj])
        self.q_norm = copy_norm(attn.q_norm, eps, 1.0)
        self.k_norm = copy_norm(attn.k_norm, eps, 1.0)
        self.o_proj = copy_linear(attn.o_proj)
        self.post_attention_norm = copy_norm(hf_layer.post_attention_layernorm, eps, 1.0)
        self.pre_feedforward_norm = copy_norm(hf_layer.pre_feedforward_layernorm, eps, 1.0)
        self.gate_up_proj = fused_linear([mlp.gate_proj, mlp.up_proj])
        self.down_proj = copy_linear(mlp.down_proj)
        self.post_feedforward_norm = copy_norm(hf_layer.post_feedforward_layernorm, eps, 1.0)

    def forward(self, x: torch.Tensor, meta: AttentionMetadata, rope: tuple[torch.Tensor, torch.Tensor],
                k_cache: torch.Tensor, v_cache: torch.Tensor) -> torch.Tensor:
        tokens = x.shape[0]
        qkv = self.qkv_proj(self.input_norm(x))
        q_size, kv_size = self.heads * self.head_dim, self.kv_heads * self.head_dim
        q, k, v = qkv.split([q_size, kv_size, kv_size], dim=-1)
        q = apply_rope(self.q_norm(q.view(tokens, self.heads, self.head_dim)), *rope)
        k = apply_rope(self.k_norm(k.view(tokens, self.kv_heads, self.head_dim)), *rope)
        v = v.view(tokens, self.kv_heads, self.head_dim)
        attn = paged_attention(q, k, v, k_cache, v_cache, meta, self.window, self.scale)
        x = x + self.post_attention_norm(self.o_proj(attn))
        gate, up = self.gate_up_proj(self.pre_feedforward_norm(x)).chunk(2, dim=-1)
        mlp = self.down_proj(F.gelu(gate, approximate="tanh") * up)
        return x + self.post_feedforward_norm(mlp)


class Gemma3ForCausalLM(CausalLM):
    arch = "gemma3"

    @classmethod
    def from_hf(cls, hf_model: nn.Module) -> "Gemma3ForCausalLM":
        config = hf_model.config
        if getattr(config, "attn_logit_softcapping", None) or getattr(config, "final_logit_softcapping", None):
            raise ValueError("logit soft-capping is not supported")
        inner = hf_model.model
        rotaries = {t: rotary_for(config, config.head_dim, t) for t in set(config.layer_types)}
        layers = [Gemma3Layer(layer, config, rotaries[t], config.sliding_window if t == "sliding_attention" else None)
                  for layer, t in zip(inner.layers, config.layer_types)]
        embed = nn.Embedding(config.vocab_size, config.hidden_size, device="meta")
        embed.weight = inner.embed_tokens.weight
        return cls(embed, layers, copy_norm(inner.norm, config.rms_norm_eps, 1.0), copy_linear(hf_model.lm_head),
                   num_kv_heads=config.num_key_value_heads, head_dim=config.head_dim,
                   embed_scale=config.hidden_size ** 0.5)
