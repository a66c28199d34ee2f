"""The Llama family (Llama 2/3, SmolLM2, Mistral, Qwen2) over the paged KV cache."""
from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn

from engine.attention import AttentionMetadata, Window, paged_attention
from engine.models.base import CausalLM
from engine.models.layers import Rotary, apply_rope, copy_linear, copy_norm, fused_linear, rotary_for


class LlamaLayer(nn.Module):
    def __init__(self, hf_layer: nn.Module, config, rotary: Rotary) -> None:
        super().__init__()
        attn, mlp = hf_layer.self_attn, hf_layer.mlp
        self.heads = config.num_attention_heads
        self.kv_heads = config.num_key_value_heads
        self.head_dim = attn.head_dim
        self.scale = self.head_dim ** -0.5
        self.rotary = rotary
        self.window: Window = getattr(attn, "sliding_window", None)  # Qwen2/Mistral sliding layers
        self.input_norm = copy_norm(hf_layer.input_layernorm, config.rms_norm_eps)
        self.qkv_proj = fused_linear([attn.q_proj, attn.k_proj, attn.v_proj])
        self.o_proj = copy_linear(attn.o_proj)
        self.post_attention_norm = copy_norm(hf_layer.post_attention_layernorm, config.rms_norm_eps)
        self.gate_up_proj = fused_linear([mlp.gate_proj, mlp.up_proj])
        self.down_proj = copy_linear(mlp.down_proj)

    def forward(self, x: torch.Tensor, meta: AttentionMetadata, rope: tuple[torch.Tensor, torch.Tensor],
                k_cache: torch.Tensor, v_cache: torch.Tensor) -> torch.Tensor:
        tokens = x.shape[0]
        qkv = self.qkv_proj(self.input_norm(x))
        q_size, kv_size = self.heads * self.head_dim, self.kv_heads * self.head_dim
        qk, v = qkv.split([q_size + kv_size, kv_size], dim=-1)
        qk = apply_rope(qk.view(tokens, self.heads + self.kv_heads, self.head_dim), *rope)  # q and k at once
        q, k = qk.split([self.heads, self.kv_heads], dim=1)
        v = v.view(tokens, self.kv_heads, self.head_dim)
        attn = paged_attention(q, k, v, k_cache, v_cache, meta, self.window, self.scale)
        x = x + self.o_proj(attn)
        gate, up = self.gate_up_proj(self.post_attention_norm(x)).chunk(2, dim=-1)
        return x + self.down_proj(F.silu(gate) * up)


class LlamaForCausalLM(CausalLM):
    arch = "llama"

    @classmethod
    def from_hf(cls, hf_model: nn.Module) -> "LlamaForCausalLM":
        config = hf_model.config
        inner = hf_model.model
        head_dim = inner.layers[0].self_attn.head_dim
        rotary = rotary_for(config, head_dim)
        layers = [LlamaLayer(layer, config, rotary) for layer in inner.layers]
        return cls(inner.embed_tokens, layers, copy_norm(inner.norm, config.rms_norm_eps),
                   copy_linear(hf_model.lm_head), num_kv_heads=config.num_key_value_heads, head_dim=head_dim)
