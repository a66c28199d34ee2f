"""Building blocks shared by the model families: RMSNorm, rotary embeddings, fused projections."""
from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn
from transformers import PretrainedConfig
from transformers.modeling_rope_utils import ROPE_INIT_FUNCTIONS

from engine.kernels import kernels_for


class RMSNorm(nn.Module):
    """RMSNorm; `offset=1.0` gives Gemma's (1 + w) scaling."""

    def __init__(self, dim: int, eps: float, offset: float = 0.0) -> None:
        super().__init__()
        self.weight = nn.Parameter(torch.ones(dim), requires_grad=False)
        self.eps = eps
        self.offset = offset

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        kernels = kernels_for(x)
        if kernels is not None:  # one pass per row, one call
            return kernels.rms_norm(x, self.weight, self.eps, self.offset)
        if x.dtype == torch.float32:  # torch's fused op; same math as below
            return F.rms_norm(x, self.weight.shape, self.offset + self.weight if self.offset else self.weight,
                              self.eps)
        x32 = x.float()
        normed = x32 * torch.rsqrt(x32.pow(2).mean(-1, keepdim=True) + self.eps)
        if self.offset:
            return (normed * (self.offset + self.weight.float())).type_as(x)
        return self.weight * normed.type_as(x)


class Rotary(nn.Module):
    """Rotary position embedding with a cos/sin table grown on demand and indexed by position."""

    def __init__(self, inv_freq: torch.Tensor, scaling: float = 1.0) -> None:
        super().__init__()
        self.inv_freq = inv_freq.float()  # not a buffer: derived from the config, not a weight
        self.scaling = scaling
        self.cos = torch.empty(0)
        self.sin = torch.empty(0)

    def table(self, positions: torch.Tensor, dtype: torch.dtype) -> tuple[torch.Tensor, torch.Tensor]:
        """cos and sign-folded sin at `positions`, [tokens, 1, head_dim] (broadcast over heads)."""
        needed = int(positions.max()) + 1 if positions.numel() else 1
        if self.cos.shape[0] < needed or self.cos.dtype != dtype or self.cos.device != positions.device:
            self._grow(max(needed, 2 * self.cos.shape[0], 256), positions.device, dtype)
        return self.cos[positions].unsqueeze(1), self.sin[positions].unsqueeze(1)

    def _grow(self, length: int, device: torch.device, dtype: torch.dtype) -> None:
        t = torch.arange(length, device=device, dtype=torch.float32)
        freqs = torch.outer(t, self.inv_freq.to(device))
        emb = torch.cat((freqs, freqs), dim=-1)
        self.cos = (emb.cos() * self.scaling).to(dtype)
        sin = emb.sin() * self.scaling
        half = sin.shape[-1] // 2
        # rotate_half(x) == roll(x, half) with the first half negated: fold that sign into sin
        self.sin = torch.cat((-sin[:, :half], sin[:, half:]), dim=-1).to(dtype)


def apply_rope(x: torch.Tensor, cos: torch.Tensor, sin: torch.Tensor) -> torch.Tensor:
    """x: [tokens, heads, head_dim]; cos and sign-folded sin from Rotary.table: [tokens, 1, head_dim]."""
    return torch.addcmul(x * cos, x.roll(x.shape[-1] // 2, dims=-1), sin)


def rotary_for(config: PretrainedConfig, head_dim: int, layer_type: str | None = None) -> Rotary:
    """Build the rotary table for a config (and, for Gemma 3, a layer type with its own theta)."""
    params = config.rope_parameters
    if layer_type is not None and layer_type in params:
        params = params[layer_type]
    rope_type = params.get("rope_type", "default")
    if rope_type == "default":
        dim = int(head_dim * params.get("partial_rotary_factor", 1.0))
        base = float(params["rope_theta"])
        inv_freq = 1.0 / (base ** (torch.arange(0, dim, 2, dtype=torch.int64).float() / dim))
        return Rotary(inv_freq)
    init = ROPE_INIT_FUNCTIONS[rope_type]
    kwargs = {"layer_type": layer_type} if layer_type is not None else {}
    inv_freq, scaling = init(config, None, **kwargs)
    return Rotary(inv_freq, float(scaling))


def fused_linear(parts: list[nn.Linear]) -> nn.Linear:
    """One nn.Linear whose output is the concatenation of `parts` (q|k|v or gate|up)."""
    weight = torch.cat([p.weight.detach() for p in parts], dim=0)
    has_bias = parts[0].bias is not None
    fused = nn.Linear(weight.shape[1], weight.shape[0], bias=has_bias, device="meta")
    fused.weight = nn.Parameter(weight.contiguous(), requires_grad=False)
    if has_bias:
        fused.bias = nn.Parameter(torch.cat([p.bias.detach() for p in parts]), requires_grad=False)
    return fused


def copy_linear(src: nn.Linear) -> nn.Linear:
    out = nn.Linear(src.in_features, src.out_features, bias=src.bias is not None, device="meta")
    out.weight = nn.Parameter(src.weight.detach().contiguous(), requires_grad=False)
    if src.bias is not None:
        out.bias = nn.Parameter(src.bias.detach().clone(), requires_grad=False)
    return out


def copy_norm(src: nn.Module, eps: float, offset: float = 0.0) -> RMSNorm:
    norm = RMSNorm(src.weight.shape[0], eps, offset)
    norm.weight = nn.Parameter(src.weight.detach().clone(), requires_grad=False)
    return norm
