"""Prefill attention (engine/attention.py): SDPA's own causal mask for a chunk that starts the
sequence, and bf16 compute over a bf16 or int8 cache on an AMX CPU."""
from __future__ import annotations

import pytest
import torch
import torch.nn.functional as F

from engine import attention, kv_format
from engine.attention import build_metadata, paged_attention, prefill_dtype
from engine.cpu_isa import cpu_isa, resolve

BLOCK = 16
needs_amx = pytest.mark.skipif(not cpu_isa().has_amx, reason="the CPU has no AMX: prefill attention stays fp32")


def _chunk(start: int, count: int, window: int | None, cache_dtype: torch.dtype, seed: int = 3):
    """A prefill of `count` tokens after `start` cached ones: inputs and an fp32 reference
    (SDPA over the gathered K/V with the explicit causal/window mask)."""
    blocks = -(-(start + count) // BLOCK)
    table = list(range(blocks))[::-1]                       # blocks out of order, as a real table is
    meta = build_metadata([count], [start], [table], BLOCK, {window}, torch.device("cpu"))
    torch.manual_seed(seed)
    q, k, v = torch.randn(count, 9, 64), torch.randn(count, 3, 64), torch.randn(count, 3, 64)
    k_cache = kv_format.encode(torch.randn(blocks * BLOCK, 3, 64), cache_dtype)
    v_cache = kv_format.encode(torch.randn(blocks * BLOCK, 3, 64), cache_dtype)
    got = paged_attention(q, k, v, k_cache, v_cache, meta, window, 0.125)
    chunk = meta.prefills[0]
    keys = kv_format.decode(k_cache[chunk.gather], torch.float32).transpose(0, 1)[None]
    values = kv_format.decode(v_cache[chunk.gather], torch.float32).transpose(0, 1)[None]
    reference = F.scaled_dot_product_attention(q.transpose(0, 1)[None], keys, values, scale=0.125,
                                               attn_mask=chunk.masks[window][None, None], enable_gqa=True)
    return got, reference[0].transpose(0, 1).reshape(count, -1)


@pytest.mark.parametrize(("start", "window"), [(0, None), (0, 300), (0, 40), (70, None), (70, 40)])
def test_prefill_matches_the_masked_sdpa(start: int, window: int | None) -> None:
    """From position 0 with no binding window the causal flag replaces the mask; after a cached
    prefix, or with a window shorter than the chunk, the mask stays. Same results either way."""
    got, reference = _chunk(start, 120, window, torch.float32)
    torch.testing.assert_close(got, reference, atol=1e-5, rtol=1e-5)


def test_prefill_dtype_follows_the_cache_and_the_cpu(monkeypatch: pytest.MonkeyPatch) -> None:
    q = torch.zeros(2, 9, 64)
    amx = cpu_isa().has_amx
    assert prefill_dtype(q, torch.zeros(1, dtype=torch.float32)) == torch.float32
    assert prefill_dtype(q, torch.zeros(1, dtype=torch.float16)) == torch.float32
    for cache_dtype in (torch.bfloat16, torch.int8):
        assert prefill_dtype(q, torch.zeros(1, dtype=cache_dtype)) == (torch.bfloat16 if amx else torch.float32)
        assert prefill_dtype(q.half(), torch.zeros(1, dtype=cache_dtype)) == torch.float16   # GPU-style activations
    monkeypatch.setattr(attention, "cpu_isa", lambda: resolve(cpu_isa().detected, "avx2"))
    assert prefill_dtype(q, torch.zeros(1, dtype=torch.bfloat16)) == torch.float32          # forced below AMX


@needs_amx
@pytest.mark.parametrize("cache_dtype", [torch.bfloat16, torch.int8])
@pytest.mark.parametrize("start", [0, 70])
def test_bf16_prefill_over_a_narrow_cache_stays_close_to_fp32(cache_dtype: torch.dtype, start: int) -> None:
    """On AMX the chunk's attention runs in bf16: close to the fp32 reference, and not equal to
    it (it did run in bf16)."""
    got, reference = _chunk(start, 120, None, cache_dtype)
    assert not torch.equal(got, reference)
    torch.testing.assert_close(got, reference, atol=2e-2, rtol=2e-2)
