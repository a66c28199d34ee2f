"""A model's facts (architecture, parameters, context, license) from its metadata alone.

GGUF metadata keys are mapped onto the Hugging Face config.json keys, so that the planner
reads one shape whatever the format.
"""
from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from gguf import GGUFReader

from appliance.models.checks import check_hf_dir, open_gguf, safetensors_elements
from appliance.models.errors import StoreError
from engine.planner import SUPPORTED_ARCHITECTURES, ModelShape, PlanError

LICENSE_FILES = ("LICENSE", "LICENSE.md", "LICENSE.txt", "license.txt", "LICENCE", "USE_POLICY.md")
_GGUF_ARCH = {"llama": "llama", "mistral": "mistral", "qwen2": "qwen2", "gemma3": "gemma3_text"}


@dataclass(slots=True)
class ModelFacts:
    format: str                     # "gguf" | "hf"
    architecture: str               # config.json model_type
    parameters: int
    context_length: int
    license: str | None = None      # the license named in the metadata
    license_file: str | None = None
    config: dict[str, Any] = field(default_factory=dict)   # config.json keys for the planner


def read_facts(path: Path) -> ModelFacts:
    """Check `path` (a .gguf file or a Hugging Face directory) and read its facts."""
    path = Path(path)
    if path.is_dir():
        return _hf_facts(path)
    if path.suffix.lower() != ".gguf":
        raise StoreError(f"{path}: expected a .gguf file or a Hugging Face model directory")
    return _gguf_facts(open_gguf(path))


def _gguf_facts(reader: GGUFReader) -> ModelFacts:
    arch = str(_field(reader, "general.architecture", ""))
    if arch not in _GGUF_ARCH:
        raise StoreError(f"{reader.data.filename}: unsupported architecture {arch!r}; "
                         f"supported: {', '.join(_GGUF_ARCH)}")
    config = gguf_config(reader)
    _check_shape(config, Path(str(reader.data.filename)))
    return ModelFacts(
        format="gguf", architecture=config["model_type"],
        parameters=sum(int(t.n_elements) for t in reader.tensors),
        context_length=config["max_position_embeddings"],
        license=_field(reader, "general.license", None), config=config,
    )


def gguf_config(reader: GGUFReader) -> dict[str, Any]:
    """config.json keys from GGUF metadata."""
    arch = str(_field(reader, "general.architecture", ""))

    def get(key: str, default: Any = None) -> Any:
        return _field(reader, f"{arch}.{key}", default)

    hidden, heads = get("embedding_length"), get("attention.head_count")
    tokens = reader.get_field("tokenizer.ggml.tokens")
    return {
        "model_type": _GGUF_ARCH.get(arch, arch),
        "vocab_size": get("vocab_size") or (len(tokens.data) if tokens else None),
        "hidden_size": hidden,
        "num_hidden_layers": get("block_count"),
        "num_attention_heads": heads,
        "num_key_value_heads": get("attention.head_count_kv", heads),
        "head_dim": get("attention.key_length") or (hidden // heads if hidden and heads else None),
        "intermediate_size": get("feed_forward_length"),
        "max_position_embeddings": get("context_length"),
        "tie_word_embeddings": all(t.name != "output.weight" for t in reader.tensors),
    }


def _hf_facts(path: Path) -> ModelFacts:
    config = check_hf_dir(path)
    text = config.get("text_config", config) if config.get("model_type") == "gemma3" else config
    if text.get("model_type") not in SUPPORTED_ARCHITECTURES:
        raise StoreError(f"{path / 'config.json'}: unsupported architecture "
                         f"{text.get('model_type')!r}; supported: {', '.join(SUPPORTED_ARCHITECTURES)}")
    shape = _check_shape(config, path / "config.json")
    files = sorted(path.glob("*.safetensors"))
    params = sum(safetensors_elements(f) for f in files) if files else shape.parameters()
    license_file = next((n for n in LICENSE_FILES if (path / n).is_file()), None)
    return ModelFacts(
        format="hf", architecture=shape.architecture, parameters=params,
        context_length=shape.max_context, license=config.get("license"),
        license_file=license_file, config=config,
    )


def _check_shape(config: dict[str, Any], where: Path) -> ModelShape:
    try:
        return ModelShape.from_config(config)
    except PlanError as exc:
        raise StoreError(f"{where}: {exc}") from None


def _field(reader: GGUFReader, key: str, default: Any) -> Any:
    found = reader.get_field(key)
    if found is None:
        return default
    value = found.contents()
    return value.item() if hasattr(value, "item") else value
