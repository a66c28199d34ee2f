"""A cache of GGUF files converted to Hugging Face directories.

Reading a GGUF file through transformers parses its whole metadata (vocabulary included)
three times and dequantizes every tensor: tens of seconds on a small CPU. The first load
writes the result (config, tokenizer, dequantized weights as safetensors) next to the file,
in `.converted/<stem>-<size>-<mtime>-<dtype>/`; later loads read that directory in a second
or two. A changed file gets a new key; a directory that cannot be written just means no cache.
"""
from __future__ import annotations

import copy
import logging
import os
import shutil
import tempfile
from pathlib import Path

import torch
from safetensors.torch import save_file
from torch import nn
from transformers import PreTrainedTokenizerBase

log = logging.getLogger(__name__)
CACHE_DIR = ".converted"
_COMPLETE = "complete"


def converted_dir(gguf: Path, dtype: torch.dtype) -> Path:
    stat = gguf.stat()
    dtype_name = str(dtype).removeprefix("torch.")
    return gguf.parent / CACHE_DIR / f"{gguf.stem}-{stat.st_size}-{stat.st_mtime_ns}-{dtype_name}"


def cached(gguf: Path, dtype: torch.dtype) -> Path | None:
    """The converted directory of `gguf`, if a complete one exists."""
    if os.environ.get("AIRLOCK_NO_CONVERSION_CACHE"):
        return None
    target = converted_dir(gguf, dtype)
    return target if (target / _COMPLETE).is_file() else None


def store(gguf: Path, dtype: torch.dtype, model: nn.Module, tokenizer: PreTrainedTokenizerBase) -> None:
    """Write the converted model; written to a temporary directory, then renamed into place."""
    if os.environ.get("AIRLOCK_NO_CONVERSION_CACHE"):
        return
    target = converted_dir(gguf, dtype)
    try:
        target.parent.mkdir(parents=True, exist_ok=True)
        staging = Path(tempfile.mkdtemp(dir=target.parent, prefix=".staging-"))
        _save_model(model, staging)
        tokenizer.save_pretrained(staging)
        (staging / _COMPLETE).write_text(gguf.name + "\n")
        _drop_stale(target)
        staging.rename(target)
    except OSError as exc:
        log.warning("no conversion cache for %s: %s", gguf, exc)
        shutil.rmtree(locals().get("staging", target.parent / ".none"), ignore_errors=True)


def _save_model(model: nn.Module, directory: Path) -> None:
    """config.json, generation_config.json and model.safetensors (transformers refuses to
    save_pretrained a model read from GGUF, so the pieces are written one by one)."""
    config = copy.deepcopy(model.config)
    if hasattr(config, "quantization_config"):
        del config.quantization_config
    config.save_pretrained(directory)
    if getattr(model, "generation_config", None) is not None:
        model.generation_config.save_pretrained(directory)
    state = {name: tensor.contiguous() for name, tensor in model.state_dict().items()}
    if getattr(config, "tie_word_embeddings", False):
        state.pop("lm_head.weight", None)
    save_file(state, str(directory / "model.safetensors"), metadata={"format": "pt"})


def _drop_stale(target: Path) -> None:
    """Remove earlier conversions of the same file (another size, time or an unfinished write)."""
    stem = target.name.rsplit("-", 3)[0]
    for old in target.parent.glob(f"{stem}-*"):
        if old != target and old.is_dir():
            shutil.rmtree(old, ignore_errors=True)
    shutil.rmtree(target, ignore_errors=True)
