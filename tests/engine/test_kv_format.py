"""The KV cache's row format (engine/kv_format.py): int8 rows and their scales."""
from __future__ import annotations

import pytest
import torch

from engine import kv_format


def test_int8_rows_round_trip_within_half_a_step() -> None:
    torch.manual_seed(0)
    x = torch.randn(50, 3, 64) * torch.logspace(-3, 3, 50)[:, None, None]   # rows of very different sizes
    rows = kv_format.encode(x, torch.int8)
    assert rows.dtype == torch.int8 and rows.shape == (50, 3, 64 + kv_format.SCALE_BYTES)
    back = kv_format.decode(rows, torch.float32)
    step = x.abs().amax(-1, keepdim=True) / 127
    assert torch.all((back - x).abs() <= step / 2 * (1 + 1e-6))
    assert torch.equal(rows[..., :64].abs().amax(-1), torch.full((50, 3), 127, dtype=torch.int8))  # full range used


def test_an_all_zero_row_stays_zero() -> None:
    rows = kv_format.encode(torch.zeros(2, 1, 8), torch.int8)
    back = kv_format.decode(rows, torch.float32)
    assert torch.equal(back, torch.zeros(2, 1, 8))


@pytest.mark.parametrize(("dtype", "width", "size"), [(torch.float32, 64, 256), (torch.float16, 64, 128),
                                                      (torch.bfloat16, 64, 128), (torch.int8, 68, 68)])
def test_row_width_and_bytes(dtype: torch.dtype, width: int, size: int) -> None:
    assert kv_format.row_width(64, dtype) == width and kv_format.row_bytes(64, dtype) == size
    assert kv_format.encode(torch.randn(4, 2, 64), dtype).shape[-1] == width


def test_store_writes_the_encoded_rows_at_their_slots() -> None:
    cache = torch.zeros(10, 2, 68, dtype=torch.int8)
    x = torch.randn(3, 2, 64)
    kv_format.store(cache, torch.tensor([7, 2, 5]), x)
    assert torch.equal(cache[[7, 2, 5]], kv_format.encode(x, torch.int8))
    assert not cache[[0, 1, 3, 4, 6, 8, 9]].any()
