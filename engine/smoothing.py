"""SmoothQuant-style smoothing before int8: move activation outliers into the weights.

Dynamic int8 quantizes each activation tensor with one scale, so a few huge channels (small
models have them) crush the rest. For each linear layer, input channel j is divided by
s_j = max|x_j|^a / max|W[:, j]|^(1-a) and the weight column multiplied by it; the division is
folded into whatever produces x (the RMSNorm weight, the up projection, the V projection), so
the fp32 function is unchanged and no extra work runs per token. The activation maxima come
from one pass over a short calibration text.
"""
from __future__ import annotations

import torch
from torch import nn

from engine.attention import build_metadata

ALPHA = 0.75  # chosen on SmolLM2: KL to fp32 about 0.01-0.2 nats (0.2-1.4 without smoothing)
CALIBRATION_TEXT = (
    "The quarterly report shows revenue of 4.2 million dollars, up 12% from last year. "
    "def area(radius):\n    return 3.14159 * radius ** 2\n\n"
    "Patients should take one tablet twice a day with water. Do not exceed the stated dose. "
    "Question: What is the capital of Japan? Answer: Tokyo is the capital of Japan.\n"
    "Die Maschine läuft seit 2019 ohne Unterbrechung; la production continue normalement."
)


def smooth(module: nn.Module, calibration_ids: list[int]) -> None:
    """Rescale `module` (a CausalLM in fp32) so its linear inputs quantize well; same outputs."""
    amax = _activation_maxima(module, calibration_ids)
    for layer in module.layers:
        _fold_into_norm(layer.input_norm, layer.qkv_proj, amax[layer.qkv_proj])
        mlp_norm = getattr(layer, "pre_feedforward_norm", None) or layer.post_attention_norm
        _fold_into_norm(mlp_norm, layer.gate_up_proj, amax[layer.gate_up_proj])
        _fold_into_up(layer.gate_up_proj, layer.down_proj, amax[layer.down_proj])
        _fold_into_v(layer, amax[layer.o_proj])


def _scales(x_max: torch.Tensor, linear: nn.Linear) -> torch.Tensor:
    w_max = linear.weight.abs().amax(dim=0).clamp(min=1e-5)
    return (x_max.clamp(min=1e-5).pow(ALPHA) / w_max.pow(1 - ALPHA)).clamp(min=1e-2, max=1e2)


def _scale_columns(linear: nn.Linear, s: torch.Tensor) -> None:
    linear.weight = nn.Parameter(linear.weight * s, requires_grad=False)  # new tensor: never touch shared ones


def _fold_into_norm(norm: nn.Module, linear: nn.Linear, x_max: torch.Tensor) -> None:
    s = _scales(x_max, linear)
    effective = norm.offset + norm.weight
    norm.weight = nn.Parameter(effective / s - norm.offset, requires_grad=False)
    _scale_columns(linear, s)


def _fold_into_up(gate_up: nn.Linear, down: nn.Linear, x_max: torch.Tensor) -> None:
    s = _scales(x_max, down)
    inter = down.in_features
    row_scale = torch.cat([torch.ones(inter), 1.0 / s]).unsqueeze(1)      # gate rows untouched, up rows / s
    gate_up.weight = nn.Parameter(gate_up.weight * row_scale, requires_grad=False)
    _scale_columns(down, s)


def _fold_into_v(layer: nn.Module, x_max: torch.Tensor) -> None:
    """o_proj's input is attention over V: scale V's output channels (one scale per KV channel)."""
    heads, kv_heads, dim = layer.heads, layer.kv_heads, layer.head_dim
    s = _scales(x_max, layer.o_proj).view(kv_heads, heads // kv_heads, dim).amax(dim=1)  # [kv_heads, dim]
    if layer.qkv_proj.bias is not None:
        return  # a V bias would need scaling too; leave such models unsmoothed here
    rows = torch.ones(layer.qkv_proj.out_features)
    rows[-kv_heads * dim:] = 1.0 / s.reshape(-1)
    layer.qkv_proj.weight = nn.Parameter(layer.qkv_proj.weight * rows.unsqueeze(1), requires_grad=False)
    _scale_columns(layer.o_proj, s.unsqueeze(1).expand(kv_heads, heads // kv_heads, dim).reshape(-1))


def _activation_maxima(module: nn.Module, ids: list[int]) -> dict[nn.Module, torch.Tensor]:
    amax: dict[nn.Module, torch.Tensor] = {}

    def record(linear: nn.Module, inputs: tuple[torch.Tensor, ...]) -> None:
        current = inputs[0].detach().abs().amax(dim=0)
        amax[linear] = torch.maximum(amax[linear], current) if linear in amax else current

    hooks = [layer_linear.register_forward_pre_hook(record)
             for layer in module.layers for layer_linear in (layer.qkv_proj, layer.o_proj, layer.gate_up_proj,
                                                             layer.down_proj)]
    try:
        block = 16
        blocks = -(-len(ids) // block)
        meta = build_metadata([len(ids)], [0], [list(range(blocks))], block, module.windows, torch.device("cpu"))
        shape = (blocks * block, module.num_kv_heads, module.head_dim)
        caches = [(torch.zeros(shape), torch.zeros(shape)) for _ in module.layers]
        with torch.inference_mode():
            module(torch.tensor(ids), meta, caches)
    finally:
        for hook in hooks:
            hook.remove()
    return amax
