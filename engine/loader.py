"""Load a model offline (GGUF file or Hugging Face directory) into our own module.

transformers reads the file (GGUF tensors are dequantized on the way), then our model code in
engine/models/ takes over its weight tensors and the transformers model is dropped.
"""
from __future__ import annotations

import gc
import logging
import re
from dataclasses import dataclass
from pathlib import Path

import torch
from torch import nn
from transformers import AutoConfig, AutoModelForCausalLM, AutoTokenizer, PretrainedConfig, PreTrainedTokenizerBase

from engine import conversion_cache, fused_decode
from engine.errors import InvalidParameter, ModelLoadError
from engine.models import MODEL_TYPES, SUPPORTED, build_model
from engine.precision import compute_and_weights, default_precision
from engine.quantization import BACKENDS, CALIBRATION_TEXT, quantize, weight_bytes
from engine.short_thread import short_lived

_QUANT_SUFFIX = re.compile(r"[.-](i?q\d[\w]*|f16|f32|bf16|fp16|fp32)$", re.IGNORECASE)
log = logging.getLogger(__name__)
_TOKENIZER_FILES = ("tokenizer.json", "tokenizer.model", "tokenizer_config.json", "vocab.json")


@dataclass
class LoadedModel:
    name: str
    path: Path
    arch: str                              # "llama" | "gemma3"
    hf_config: PretrainedConfig
    tokenizer: PreTrainedTokenizerBase
    module: nn.Module                      # an engine.models.CausalLM
    device: torch.device
    dtype: torch.dtype                     # compute dtype between the layers
    precision: str                         # fp32 | fp16 | bf16 | int8 | nf4 (engine/precision.py)
    max_model_len: int
    eos_token_ids: list[int]

    def weight_bytes(self) -> int:
        """Bytes the loaded weights hold, packed int8/nf4 weights included."""
        return weight_bytes(self.module)


@short_lived
def load_model(path: str | Path, *, device: str = "cpu", precision: str | None = None,
               name: str | None = None, backend: str = "auto") -> LoadedModel:
    """Load a GGUF file or a Hugging Face directory at `precision` (fp32|fp16|bf16|int8|nf4;
    None: engine.precision.default_precision); raises ModelLoadError naming the path.

    backend "bitsandbytes" runs int8/nf4 through bitsandbytes on CPU too (the CUDA code path).
    Like every loader function it runs in a short-lived thread (engine/short_thread.py: the
    engine's loop keeps the CPU's only OpenMP team)."""
    target = torch.device(device)
    precision = precision or default_precision(target)
    dtype, _ = compute_and_weights(precision, target)
    check_backend(precision, target, backend)
    hf_model, tokenizer = load_hf(path, dtype)
    model = wrap(hf_model, tokenizer, path, device=target, precision=precision, name=name, backend=backend)
    del hf_model
    gc.collect()
    return model


def check_backend(precision: str, device: torch.device, backend: str = "auto") -> None:
    if backend not in BACKENDS:
        raise InvalidParameter("backend", f"backend must be one of {', '.join(BACKENDS)}, got {backend!r}")
    if precision == "nf4" and device.type != "cuda" and backend != "bitsandbytes":
        raise InvalidParameter("precision", "nf4 needs an NVIDIA GPU (bitsandbytes); use int8 on CPU")


@short_lived
def load_hf(path: str | Path, dtype: torch.dtype = torch.float32) -> tuple[nn.Module, PreTrainedTokenizerBase]:
    """The transformers model (on CPU, in `dtype`) and tokenizer of a GGUF file or HF directory.

    A GGUF file is converted once and read from engine.conversion_cache afterwards."""
    path = Path(path)
    directory, kwargs = _source(path)
    if not kwargs:
        return _read_hf(path, directory, kwargs, dtype)
    converted = conversion_cache.cached(path, dtype)
    if converted is not None:
        try:
            return _read_hf(converted, converted, {}, dtype)
        except ModelLoadError as exc:
            log.warning("ignoring the conversion cache of %s: %s", path, exc)
    hf_model, tokenizer = _read_hf(path, directory, kwargs, dtype)
    conversion_cache.store(path, dtype, hf_model, tokenizer)
    return hf_model, tokenizer


def _read_hf(path: Path, directory: Path, kwargs: dict,
             dtype: torch.dtype) -> tuple[nn.Module, PreTrainedTokenizerBase]:
    config = _read_config(path, directory, kwargs)
    tokenizer = _read_tokenizer(path, directory, kwargs)
    if not kwargs and not any(path.glob("*.safetensors")) and not any(path.glob("pytorch_model*.bin")):
        raise ModelLoadError(str(path), "no weights: no *.safetensors or pytorch_model*.bin file")
    try:
        hf_model = AutoModelForCausalLM.from_pretrained(directory, config=config, dtype=dtype, **kwargs)
    except Exception as exc:  # transformers raises many kinds for a damaged file
        raise ModelLoadError(str(path), f"cannot read the weights ({_short(exc)})") from exc
    return hf_model.eval(), tokenizer


@short_lived
def wrap(hf_model: nn.Module, tokenizer: PreTrainedTokenizerBase, path: str | Path, *,
         device: torch.device, precision: str = "fp32", name: str | None = None,
         backend: str = "auto", compute_dtype: torch.dtype | None = None) -> LoadedModel:
    """Our module built from a transformers model (sharing its tensors where it can, so wrap a
    copy to keep the transformers model as it is), at `precision`, quantized and placed.
    `compute_dtype` overrides the precision's own (the GPU's bf16 layers, tested on a CPU)."""
    dtype, quantization = compute_and_weights(precision, device)
    dtype = compute_dtype or dtype
    check_backend(precision, device, backend)
    config = hf_model.config
    module = build_model(hf_model).to(dtype).eval()
    calibration = tokenizer(CALIBRATION_TEXT).input_ids if quantization == "int8" else None
    module = quantize(module, quantization, device, calibration, backend)
    module.fused_decode = fused_decode.build(module)
    return LoadedModel(
        name=model_name(Path(path), name), path=Path(path), arch=module.arch, hf_config=config,
        tokenizer=tokenizer, module=module, device=device, dtype=dtype, precision=precision,
        max_model_len=int(getattr(config, "max_position_embeddings", 2048)),
        eos_token_ids=_eos_ids(hf_model, tokenizer),
    )


def model_name(path: Path, name: str | None = None) -> str:
    """A lowercase slug: the given name, else the file (or directory) name without quant suffix."""
    raw = name or (path.stem if path.suffix.lower() == ".gguf" else path.name)
    if not name:
        raw = _QUANT_SUFFIX.sub("", raw)
    return re.sub(r"[^a-z0-9.]+", "-", raw.lower()).strip("-.") or "model"


def _source(path: Path) -> tuple[Path, dict]:
    if not path.exists():
        raise ModelLoadError(str(path), "no such file or directory")
    if path.is_dir():
        if not (path / "config.json").is_file():
            raise ModelLoadError(str(path), "not a model directory: config.json is missing")
        return path, {}
    with path.open("rb") as f:
        if f.read(4) != b"GGUF":
            raise ModelLoadError(str(path), "not a GGUF file (bad magic) and not a model directory")
    return path.parent, {"gguf_file": path.name}


def _read_config(path: Path, directory: Path, kwargs: dict) -> PretrainedConfig:
    try:
        config = AutoConfig.from_pretrained(directory, **kwargs)
    except Exception as exc:
        raise ModelLoadError(str(path), f"cannot read the model config ({_short(exc)})") from exc
    model_type = getattr(config, "model_type", None)
    if model_type not in MODEL_TYPES:
        raise ModelLoadError(str(path), f"unsupported architecture {model_type!r}; "
                                        f"supported: {', '.join(SUPPORTED)}")
    return config


def _read_tokenizer(path: Path, directory: Path, kwargs: dict) -> PreTrainedTokenizerBase:
    if not kwargs and not any((directory / f).is_file() for f in _TOKENIZER_FILES):
        raise ModelLoadError(str(path), "no tokenizer: none of " + ", ".join(_TOKENIZER_FILES) + " is present")
    try:
        return AutoTokenizer.from_pretrained(directory, **kwargs)
    except Exception as exc:
        raise ModelLoadError(str(path), f"cannot read the tokenizer ({_short(exc)})") from exc


def _eos_ids(hf_model: nn.Module, tokenizer: PreTrainedTokenizerBase) -> list[int]:
    ids: list[int] = []
    generation = getattr(hf_model, "generation_config", None)
    for value in (getattr(generation, "eos_token_id", None), tokenizer.eos_token_id):
        for token in value if isinstance(value, list) else [value]:
            if token is not None and int(token) not in ids:
                ids.append(int(token))
    return ids


def _short(exc: Exception) -> str:
    text = str(exc).strip().splitlines()
    return f"{type(exc).__name__}: {text[0][:200]}" if text else type(exc).__name__
