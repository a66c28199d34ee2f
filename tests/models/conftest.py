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


@pytest.fixture(scope="session")
def tiny_gguf(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A small, well-formed llama GGUF file (1 layer, fp32 tensors, an embedded vocabulary)."""
    import numpy as np
    from gguf import GGUFWriter

    path = tmp_path_factory.mktemp("gguf") / "Tiny-Llama.F32.gguf"
    hidden, ffn, vocab = 64, 128, 256
    writer = GGUFWriter(str(path), "llama")
    for key, value in (("block_count", 1), ("context_length", 512), ("embedding_length", hidden),
                       ("feed_forward_length", ffn), ("attention.head_count", 4), ("attention.head_count_kv", 2)):
        writer.add_uint32(f"llama.{key}", value)
    writer.add_tokenizer_model("gpt2")
    writer.add_token_list([f"t{i}" for i in range(vocab)])
    rng = np.random.default_rng(0)
    shapes = {"token_embd.weight": (vocab, hidden), "blk.0.attn_q.weight": (hidden, hidden),
              "blk.0.attn_k.weight": (32, hidden), "blk.0.attn_v.weight": (32, hidden),
              "blk.0.attn_output.weight": (hidden, hidden), "blk.0.ffn_gate.weight": (ffn, hidden),
              "blk.0.ffn_up.weight": (ffn, hidden), "blk.0.ffn_down.weight": (hidden, ffn),
              "blk.0.attn_norm.weight": (hidden,), "blk.0.ffn_norm.weight": (hidden,), "output_norm.weight": (hidden,)}
    for name, shape in shapes.items():
        writer.add_tensor(name, rng.standard_normal(shape).astype(np.float32))
    writer.write_header_to_file()
    writer.write_kv_data_to_file()
    writer.write_tensors_to_file()
    writer.close()
    return path
