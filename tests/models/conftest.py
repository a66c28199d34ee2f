"""Fixtures of the model tests: a tiny Hugging Face llama directory with random weights."""
from __future__ import annotations

import shutil
from pathlib import Path

import pytest


@pytest.fixture(scope="session")
def tiny_hf(tmp_path_factory: pytest.TempPathFactory, minilm_path: Path) -> Path:
    """A 2-layer llama (random weights) with MiniLM's tokenizer files and a license."""
    import torch
    from transformers import LlamaConfig, LlamaForCausalLM

    torch.manual_seed(0)
    config = LlamaConfig(vocab_size=30522, hidden_size=64, intermediate_size=128, num_hidden_layers=2,
                         num_attention_heads=4, num_key_value_heads=2, max_position_embeddings=256,
                         bos_token_id=101, eos_token_id=102)
    path = tmp_path_factory.mktemp("hf") / "Tiny-Llama"
    model = LlamaForCausalLM(config)
    model.save_pretrained(path)
    for name in ("tokenizer.json", "tokenizer_config.json", "special_tokens_map.json"):
        shutil.copy(minilm_path / name, path / name)
    (path / "LICENSE").write_text("Apache License 2.0\n")
    (path / "params.txt").write_text(str(sum(p.numel() for p in model.parameters())))
    return path
