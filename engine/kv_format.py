"""What a KV cache slot holds: for each KV head, one row of head_dim values in the cache's dtype.

- fp32, fp16, bf16: the values themselves, rounded to the dtype as Tensor.to rounds them.
- int8: the row's head_dim values as signed 8-bit integers, then the row's fp32 scale (4 bytes,
  native order), so a row is head_dim + 4 bytes: value = q * scale, with scale = max|x| / 127
  (at least the smallest normal float) and q = round-half-even(x / scale). Each value is off by
  at most scale / 2, 1/254 of its row's largest magnitude; a row costs 68 bytes at head_dim 64
  against fp16's 128, so a decode step at a long context reads about half the K/V bytes.

The kernels read and write the same layout (engine/csrc/kv_rows.h) and quantize exactly as
encode() does, so the fused decode step and the Python layers write identical caches.
"""
from __future__ import annotations

import torch

KV_TORCH_DTYPES = {"fp32": torch.float32, "fp16": torch.float16, "bf16": torch.bfloat16, "int8": torch.int8}
SCALE_BYTES = 4   # an int8 row's fp32 scale
_SMALLEST_SCALE = torch.finfo(torch.float32).tiny   # an all-zero row quantizes to zeros, not NaN


def row_width(head_dim: int, dtype: torch.dtype) -> int:
    """Elements of one KV head's row in a cache of `dtype` (the cache tensor's last dimension)."""
    return head_dim + SCALE_BYTES if dtype == torch.int8 else head_dim


def row_bytes(head_dim: int, dtype: torch.dtype) -> int:
    return row_width(head_dim, dtype) * dtype.itemsize


def encode(x: torch.Tensor, dtype: torch.dtype) -> torch.Tensor:
    """Rows x [..., head_dim] as a cache of `dtype` stores them ([..., row_width])."""
    if dtype != torch.int8:
        return x.to(dtype)
    x = x.float()
    scale = (x.abs().amax(-1, keepdim=True) / 127).clamp_min(_SMALLEST_SCALE)
    return torch.cat([torch.round(x / scale).to(torch.int8), scale.view(torch.int8)], dim=-1)


def decode(rows: torch.Tensor, dtype: torch.dtype) -> torch.Tensor:
    """Stored rows [..., row_width] as values [..., head_dim] in `dtype`."""
    if rows.dtype != torch.int8:
        return rows.to(dtype)
    head_dim = rows.shape[-1] - SCALE_BYTES
    scale = rows[..., head_dim:].contiguous().view(torch.float32)
    return (rows[..., :head_dim].float() * scale).to(dtype)


def store(cache: torch.Tensor, slots: torch.Tensor, x: torch.Tensor) -> None:
    """cache[slots[i]] = the stored form of x[i] ([T, kv_heads, head_dim])."""
    cache.index_copy_(0, slots, encode(x, cache.dtype))
