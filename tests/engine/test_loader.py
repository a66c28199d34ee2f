"""Loading models: a Hugging Face directory end to end, names, and clear errors for bad input."""
from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
import torch
from transformers import LlamaConfig, LlamaForCausalLM

from engine.errors import InvalidParameter, ModelLoadError
from engine.loader import load_model, model_name
from engine.model_runner import ForwardBatch, ModelRunner


@pytest.fixture(scope="module")
def tiny_llama_dir(tmp_path_factory: pytest.TempPathFactory, smollm2_hf: tuple[Any, Any]) -> Path:
    """A random 2-layer Llama saved with save_pretrained, with SmolLM2's tokenizer."""
    torch.manual_seed(0)
    config = LlamaConfig(vocab_size=49152, hidden_size=64, intermediate_size=128, num_hidden_layers=2,
                         num_attention_heads=4, num_key_value_heads=2, max_position_embeddings=256,
                         eos_token_id=2, bos_token_id=1, tie_word_embeddings=True)
    directory = tmp_path_factory.mktemp("models") / "Tiny-Llama"
    LlamaForCausalLM(config).save_pretrained(directory)
    smollm2_hf[1].save_pretrained(directory)
    return directory


def test_hf_directory_loads_and_runs(tiny_llama_dir: Path) -> None:
    model = load_model(tiny_llama_dir)
    assert (model.name, model.arch, model.precision) == ("tiny-llama", "llama", "fp32")
    assert model.dtype == torch.float32 and model.device == torch.device("cpu")
    assert model.max_model_len == 256 and model.eos_token_ids == [2]
    assert model.tokenizer.chat_template  # SmolLM2's template came along
    # tied 49152 x 64 embedding once, 2 layers of (q 64x64, k/v 32x64 each, o 64x64, 3 MLP 64x128), norms
    params = 49152 * 64 + 2 * (64 * 64 * 2 + 2 * 32 * 64 + 3 * 64 * 128 + 2 * 64) + 64
    packed_head = 49152 * 64  # on CPU the tied head is also held prepacked for oneDNN
    assert model.weight_bytes() == 4 * (params + packed_head)
    reference = LlamaForCausalLM.from_pretrained(tiny_llama_dir).eval()
    runner = ModelRunner(model, num_blocks=4, block_size=8)
    ids = [1, 500, 7000, 42, 9]
    ours = runner.forward(ForwardBatch([ids], [0], [[2, 0]]))[0]
    with torch.inference_mode():
        theirs = reference(torch.tensor([ids])).logits[0, -1]
    torch.testing.assert_close(ours, theirs, atol=1e-4, rtol=1e-4)


def test_names_are_slugs_without_the_quantization_suffix() -> None:
    assert model_name(Path("/m/SmolLM2-135M-Instruct.Q4_1.gguf")) == "smollm2-135m-instruct"
    assert model_name(Path("/m/gemma-3-270m-q4_k_m.gguf")) == "gemma-3-270m"
    assert model_name(Path("/m/Qwen2.5-0.5B-Instruct")) == "qwen2.5-0.5b-instruct"
    assert model_name(Path("/m/x.gguf"), "My Model") == "my-model"


def test_missing_path(tmp_path: Path) -> None:
    with pytest.raises(ModelLoadError, match="no such file or directory") as info:
        load_model(tmp_path / "nothing.gguf")
    assert str(tmp_path / "nothing.gguf") in str(info.value)


def test_truncated_gguf_is_refused(tmp_path: Path, smollm2_path: Path) -> None:
    truncated = tmp_path / "SmolLM2-truncated.gguf"
    with smollm2_path.open("rb") as f:
        truncated.write_bytes(f.read(200_000))  # cut inside the metadata
    with pytest.raises(ModelLoadError) as info:
        load_model(truncated)
    assert info.value.path == str(truncated) and str(truncated) in str(info.value)


def test_file_that_is_not_gguf(tmp_path: Path) -> None:
    bogus = tmp_path / "model.gguf"
    bogus.write_bytes(b"PK\x03\x04 this is a zip, not a model")
    with pytest.raises(ModelLoadError, match="not a GGUF file") as info:
        load_model(bogus)
    assert str(bogus) in str(info.value)


def test_unsupported_architecture_is_named(tmp_path: Path) -> None:
    (tmp_path / "config.json").write_text(json.dumps({"model_type": "gpt2", "n_layer": 2}))
    with pytest.raises(ModelLoadError, match="unsupported architecture 'gpt2'; supported: .*llama") as info:
        load_model(tmp_path)
    assert str(tmp_path) in str(info.value)


def test_directory_without_tokenizer(tmp_path: Path, tiny_llama_dir: Path) -> None:
    for name in ("config.json", "model.safetensors", "generation_config.json"):
        (tmp_path / name).write_bytes((tiny_llama_dir / name).read_bytes())
    with pytest.raises(ModelLoadError, match="no tokenizer") as info:
        load_model(tmp_path)
    assert str(tmp_path) in str(info.value)


def test_directory_without_config(tmp_path: Path) -> None:
    with pytest.raises(ModelLoadError, match="config.json is missing"):
        load_model(tmp_path)


def test_bad_precision_is_a_clear_error(tiny_llama_dir: Path) -> None:
    with pytest.raises(InvalidParameter, match="precision must be one of fp32, fp16, bf16, int8, nf4, got 'fp8'"):
        load_model(tiny_llama_dir, precision="fp8")
    with pytest.raises(InvalidParameter, match="precision must be one of"):
        load_model(tiny_llama_dir, precision="none")      # the old word for fp32 is not a precision
    with pytest.raises(InvalidParameter, match="nf4 needs an NVIDIA GPU"):
        load_model(tiny_llama_dir, precision="nf4")
