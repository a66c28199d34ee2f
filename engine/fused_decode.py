"""The decode step of a Llama-family model on CPU as one C++ call.

A step whose every token attends through the decode kernel (engine/attention.py's
KernelRows: decode tokens, and the prefill chunks runs_as_decodes takes: a short prompt, a
follow-up turn after a cached prefix, a speculative verification) runs every decoder layer in
engine/csrc/fused_decode.cpp: the same arithmetic as LlamaLayer.forward over Int8Linear (int8)
or PackedLinear (fp32, bf16) layers, bit for bit, without forty Python-level torch calls per
layer. At batch 1 those calls cost more than the int8 matrix products. Steps with a longer
prefill chunk keep the Python layers (and SDPA).
"""
from __future__ import annotations

from typing import Any

import torch
from torch import nn

from engine.attention import AttentionMetadata
from engine.kernels import cpu_kernels
from engine.models.llama import LlamaLayer
from engine.packed_linear import PackedLinear
from engine.quantization import Int8Linear


class FusedDecode:
    """Runs the decoder layers of `module` for a step that meta.kernel_rows covers; see supports()."""

    def __init__(self, module: nn.Module, kernels: Any) -> None:
        first = module.layers[0]
        self._decoder = kernels.FusedDecoder(first.heads, first.kv_heads, first.head_dim,
                                            first.input_norm.eps, first.scale)
        for layer in module.layers:
            self._decoder.add_layer(layer.input_norm.weight, *_packed(layer.qkv_proj), *_packed(layer.o_proj),
                                    layer.post_attention_norm.weight, *_packed(layer.gate_up_proj),
                                    *_packed(layer.down_proj), layer.window or 0)

    def __call__(self, hidden: torch.Tensor, meta: AttentionMetadata, rope: tuple[torch.Tensor, torch.Tensor],
                 kv_caches: list[tuple[torch.Tensor, torch.Tensor]]) -> torch.Tensor:
        rows = meta.kernel_rows
        cos, sin = rope
        return self._decoder.forward(hidden, [k for k, _ in kv_caches], [v for _, v in kv_caches],
                                     meta.slot_mapping, rows.gather, rows.lengths, cos, sin)


def build(module: nn.Module) -> FusedDecode | None:
    """The fused decode step for `module`, or None where it does not apply (see supports)."""
    kernels = cpu_kernels() if supports(module) else None
    return FusedDecode(module, kernels) if kernels is not None else None


def supports(module: nn.Module) -> bool:
    """Llama-family layers sharing one rotary table, fp32 activations, every projection int8
    (fbgemm) or fp32 prepacked for oneDNN."""
    layers = list(module.layers)
    return bool(layers) and all(_fusable(layer, layers[0].rotary) for layer in layers)


def _fusable(layer: nn.Module, rotary: nn.Module) -> bool:
    projections = (layer.qkv_proj, layer.o_proj, layer.gate_up_proj, layer.down_proj)
    return (type(layer) is LlamaLayer and layer.rotary is rotary and layer.input_norm.offset == 0
            and layer.input_norm.weight.dtype == torch.float32
            and all(isinstance(p, (Int8Linear, PackedLinear)) for p in projections))


def _packed(linear: Int8Linear | PackedLinear) -> tuple[Any, torch.Tensor | None]:
    return linear.packed, linear.bias
