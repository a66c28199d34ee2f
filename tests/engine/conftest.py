"""Engine fixtures: each real model read from its GGUF file once per test session.

The transformers model (the reference for greedy output) and our module share the weights
read by one `load_hf` call, in fp32 on the CPU.
"""
from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
import torch

from engine.loader import LoadedModel, load_hf, wrap


@pytest.fixture(scope="session")
def smollm2_hf(smollm2_path: Path) -> tuple[Any, Any]:
    """(transformers model, tokenizer) of SmolLM2-135M-Instruct, fp32."""
    return load_hf(smollm2_path, torch.float32)


@pytest.fixture(scope="session")
def smollm2_model(smollm2_hf: tuple[Any, Any], smollm2_path: Path) -> LoadedModel:
    hf_model, tokenizer = smollm2_hf
    return wrap(hf_model, tokenizer, smollm2_path, device=torch.device("cpu"))


@pytest.fixture(scope="session")
def gemma3_hf(gemma3_path: Path) -> tuple[Any, Any]:
    """(transformers model, tokenizer) of Gemma 3 270M, fp32."""
    return load_hf(gemma3_path, torch.float32)


@pytest.fixture(scope="session")
def gemma3_model(gemma3_hf: tuple[Any, Any], gemma3_path: Path) -> LoadedModel:
    hf_model, tokenizer = gemma3_hf
    return wrap(hf_model, tokenizer, gemma3_path, device=torch.device("cpu"))


@pytest.fixture(scope="session")
def smollm2_int8(smollm2_hf: tuple[Any, Any], smollm2_path: Path) -> LoadedModel:
    hf_model, tokenizer = smollm2_hf
    return wrap(hf_model, tokenizer, smollm2_path, device=torch.device("cpu"), precision="int8")


@pytest.fixture(scope="session")
def smollm2_bf16(smollm2_hf: tuple[Any, Any], smollm2_path: Path) -> LoadedModel:
    """bf16 weights, fp32 between the layers: the CPU's AMX precision (it runs anywhere, slowly without AMX)."""
    hf_model, tokenizer = smollm2_hf
    return wrap(hf_model, tokenizer, smollm2_path, device=torch.device("cpu"), precision="bf16")
