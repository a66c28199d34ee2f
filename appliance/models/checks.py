"""Integrity checks run at import: readable, complete, tokenizer present.

Nothing here loads weights: GGUF files are read through `gguf`'s memory-mapped reader and
safetensors files through their JSON header only.
"""
from __future__ import annotations

import json
import struct
from pathlib import Path
from typing import Any

from gguf import GGML_QUANT_SIZES, GGMLQuantizationType, GGUFReader

from appliance.models.errors import StoreError

TOKENIZER_FILES = ("tokenizer.json", "tokenizer.model")


class _ExtentCheckedReader(GGUFReader):
    """GGUFReader that checks every tensor's data lies inside the file before mapping it,
    so that a truncated file is named as such instead of failing in a numpy reshape."""

    def _build_tensors(self, start_offs: int, fields: list[Any]) -> None:
        end = start_offs
        for field in fields:
            _, _, _, dims, raw_dtype, offset = field.parts
            block, type_size = GGML_QUANT_SIZES[GGMLQuantizationType(int(raw_dtype[0]))]
            count = 1
            for d in dims.tolist():
                count *= int(d)
            end = max(end, start_offs + int(offset[0]) + count * type_size // block)
        if end > len(self.data):
            raise _Truncated(end, len(self.data))
        super()._build_tensors(start_offs, fields)


class _Truncated(Exception):
    def __init__(self, expected: int, actual: int) -> None:
        super().__init__(expected, actual)
        self.expected = expected
        self.actual = actual


def open_gguf(path: Path) -> GGUFReader:
    """A reader over a complete, well-formed GGUF file that embeds a tokenizer."""
    _check_readable(path)
    try:
        reader = _ExtentCheckedReader(path)
    except _Truncated as exc:
        raise StoreError(f"{path}: truncated: tensor data ends at byte {exc.expected:,} "
                         f"but the file has {exc.actual:,} bytes") from None
    except (ValueError, IndexError, KeyError, OverflowError, UnicodeDecodeError) as exc:
        raise StoreError(f"{path}: not a valid GGUF file (header unreadable, corrupt or "
                         f"truncated: {exc})") from None
    if reader.get_field("tokenizer.ggml.tokens") is None:
        raise StoreError(f"{path}: GGUF file embeds no tokenizer (tokenizer.ggml.tokens missing)")
    return reader


def check_hf_dir(path: Path) -> dict[str, Any]:
    """The config.json of a complete Hugging Face model directory with a tokenizer."""
    config_path = path / "config.json"
    _check_readable(config_path)
    try:
        config = json.loads(config_path.read_text())
    except (UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise StoreError(f"{config_path}: not valid JSON: {exc}") from None
    if not isinstance(config, dict):
        raise StoreError(f"{config_path}: expected a JSON object")
    if not any((path / name).is_file() for name in TOKENIZER_FILES):
        raise StoreError(f"{path}: no tokenizer (needs {' or '.join(TOKENIZER_FILES)})")
    weights = sorted(path.glob("*.safetensors")) or sorted(path.glob("pytorch_model*.bin"))
    if not weights:
        raise StoreError(f"{path}: no weight files (*.safetensors or pytorch_model*.bin)")
    for file in weights:
        if file.suffix == ".safetensors":
            safetensors_elements(file)
    return config


def safetensors_elements(path: Path) -> int:
    """Number of weight elements in a safetensors file, after checking it is complete."""
    _check_readable(path)
    size = path.stat().st_size
    try:
        with path.open("rb") as f:
            (length,) = struct.unpack("<Q", f.read(8))
            if length > size - 8:
                raise ValueError(f"header length {length:,} exceeds the file")
            header = json.loads(f.read(length))
        tensors = [v for k, v in header.items() if k != "__metadata__"]
        end = 8 + length + max((t["data_offsets"][1] for t in tensors), default=0)
        elements = sum(_product(t["shape"]) for t in tensors)
    except (struct.error, ValueError, KeyError, TypeError, UnicodeDecodeError) as exc:
        raise StoreError(f"{path}: not a valid safetensors file ({exc})") from None
    if end > size:
        raise StoreError(f"{path}: truncated: tensor data ends at byte {end:,} "
                         f"but the file has {size:,} bytes")
    return elements


def _product(shape: list[int]) -> int:
    n = 1
    for d in shape:
        n *= int(d)
    return n


def _check_readable(path: Path) -> None:
    if not path.exists():
        raise StoreError(f"{path}: no such file")
    if not path.is_file():
        raise StoreError(f"{path}: not a regular file")
    try:
        with path.open("rb") as f:
            f.read(1)
    except OSError as exc:
        raise StoreError(f"{path}: cannot be read ({exc.strerror})") from None
