"""Our own forward passes over the paged KV cache, keyed by transformers' model_type."""
from __future__ import annotations

from torch import nn

from engine.models.base import CausalLM
from engine.models.gemma3 import Gemma3ForCausalLM
from engine.models.llama import LlamaForCausalLM

MODEL_TYPES: dict[str, type[CausalLM]] = {
    "llama": LlamaForCausalLM,
    "mistral": LlamaForCausalLM,
    "qwen2": LlamaForCausalLM,
    "gemma3_text": Gemma3ForCausalLM,
}

SUPPORTED = sorted(MODEL_TYPES)


def build_model(hf_model: nn.Module) -> CausalLM:
    """Our module for a loaded transformers causal LM (shares its weight tensors)."""
    return MODEL_TYPES[hf_model.config.model_type].from_hf(hf_model)


__all__ = ["CausalLM", "MODEL_TYPES", "SUPPORTED", "build_model"]
