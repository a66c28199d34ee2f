"""What every model family shares: embed, a stack of layers over the paged KV cache, final norm, LM head."""
from __future__ import annotations

from typing import Callable

import torch
from torch import nn

from engine.attention import AttentionMetadata, Window


class CausalLM(nn.Module):
    """A decoder-only model computing a flat [tokens, hidden] batch of all scheduled sequences."""

    arch: str = ""

    def __init__(self, embed: nn.Module, layers: list[nn.Module], norm: nn.Module, lm_head: nn.Module,
                 *, num_kv_heads: int, head_dim: int, embed_scale: float | None = None) -> None:
        super().__init__()
        self.embed_tokens = embed
        self.layers = nn.ModuleList(layers)
        self.norm = norm
        self.lm_head = lm_head
        self.num_kv_heads = num_kv_heads
        self.head_dim = head_dim
        self.embed_scale = embed_scale
        # The decoder layers of a step the decode kernel covers as one call (engine/fused_decode.py), set at load
        self.fused_decode: Callable[..., torch.Tensor] | None = None

    @property
    def windows(self) -> set[Window]:
        """The attention windows the layers use (None: full attention)."""
        return {layer.window for layer in self.layers}

    def forward(self, input_ids: torch.Tensor, meta: AttentionMetadata,
                kv_caches: list[tuple[torch.Tensor, torch.Tensor]]) -> torch.Tensor:
        """input_ids: [T]; returns the final hidden state of each sequence's last token [num_seqs, hidden]."""
        hidden = self.embed_tokens(input_ids)
        if self.embed_scale is not None:
            hidden = hidden * torch.tensor(self.embed_scale, dtype=hidden.dtype)
        if self.fused_decode is not None and meta.kernel_rows is not None:
            rope = self.layers[0].rotary.table(meta.positions, hidden.dtype)
            return self.norm(self.fused_decode(hidden, meta, rope, kv_caches)[meta.last_rows])
        rope_cache: dict[int, tuple[torch.Tensor, torch.Tensor]] = {}
        for layer, (k_cache, v_cache) in zip(self.layers, kv_caches):
            key = id(layer.rotary)
            if key not in rope_cache:
                rope_cache[key] = layer.rotary.table(meta.positions, hidden.dtype)
            hidden = layer(hidden, meta, rope_cache[key], k_cache, v_cache)
        return self.norm(hidden[meta.last_rows])

    def logits(self, hidden: torch.Tensor) -> torch.Tensor:
        return self.lm_head(hidden).float()
