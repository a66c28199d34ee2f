"""Airlock's CPU kernels against the torch code they replace: decode attention (gather + SDPA),
the anchored rows of the int8 linear layers, RMSNorm, the tied int8 LM head's matmul."""
from __future__ import annotations

import random
from pathlib import Path

import pytest
import torch

from engine import kv_format
from engine.attention import build_metadata, decode_gathered
from engine.cpu_isa import cpu_isa
from engine.kernels import cpu_kernels, kernels_at
from engine.quantization import _anchor, int8_matmul_torch, quantize_rows, weight_levels

pytestmark = pytest.mark.skipif(cpu_kernels() is None, reason="no C++ compiler: the torch path runs instead")


def _levels() -> list[str]:
    """This CPU's level, and avx2 below it where it has more (the AVX2 kernels an older CPU runs)."""
    level = cpu_isa().level
    return [level] + (["avx2"] if level in ("avx512", "amx") else [])


@pytest.mark.parametrize("level", _levels())
@pytest.mark.parametrize("dim", [64, 128, 32, 20])        # 64, 128: AVX-512's tiles; 32: AVX2's; 20: scalar
@pytest.mark.parametrize("cache_dtype", [torch.float32, torch.float16, torch.bfloat16, torch.int8])
@pytest.mark.parametrize("heads,kv_heads,window", [(9, 3, None), (4, 4, None), (8, 2, 5), (4, 1, 40)])
def test_kernel_matches_gather_and_sdpa(heads: int, kv_heads: int, window: int | None,
                                        cache_dtype: torch.dtype, dim: int, level: str) -> None:
    """fp16, bf16 and int8 caches: the kernel widens (and scales) each row as it reads it; the
    torch path widens the gathered batch. Same stored values, so the same result up to fp32
    rounding. At every level this CPU can run, so the AVX2 build an older server loads is
    checked here too."""
    rng = random.Random(heads * 100 + kv_heads)
    block_size = 4
    lengths = [1, 3, 17, 40, 9, 64]                       # ragged, block edges and a lone token
    ids = list(range(1, 64))
    rng.shuffle(ids)                                       # scattered blocks, block 0 never used
    tables, next_id = [], 0
    for n in lengths:
        count = -(-n // block_size)
        tables.append(ids[next_id:next_id + count])
        next_id += count
    meta = build_metadata([1] * len(lengths), [n - 1 for n in lengths], tables, block_size, {window},
                          torch.device("cpu"))
    torch.manual_seed(len(lengths) + heads)
    k_cache = kv_format.encode(torch.randn(64 * block_size, kv_heads, dim), cache_dtype)
    v_cache = kv_format.encode(torch.randn(64 * block_size, kv_heads, dim), cache_dtype)
    q = torch.randn(len(lengths), heads, dim)
    scale = dim ** -0.5
    expected = decode_gathered(q, k_cache, v_cache, meta.decode, window, scale, heads // kv_heads)
    got = kernels_at(level).decode_attention(q, k_cache, v_cache, meta.decode.gather, meta.decode.lengths,
                                             scale, window or 0)
    torch.testing.assert_close(got, expected, atol=1e-5, rtol=1e-5)


def test_kernel_ignores_positions_past_each_length() -> None:
    """Changing K/V beyond a sequence's length (padding, other sequences' slots) changes nothing."""
    q = torch.randn(2, 4, 64)
    k_cache, v_cache = torch.randn(32, 2, 64), torch.randn(32, 2, 64)
    slots = torch.arange(32).view(2, 16)
    lengths = torch.tensor([5, 16])
    before = cpu_kernels().decode_attention(q, k_cache, v_cache, slots, lengths, 0.125, 0)
    k_cache[5:16], v_cache[5:16] = 1e4, -1e4              # the first sequence's unused slots
    after = cpu_kernels().decode_attention(q, k_cache, v_cache, slots, lengths, 0.125, 0)
    assert torch.equal(before[0], after[0])


@pytest.mark.parametrize("rows", [1, 7, 40])
def test_anchored_rows_equal_the_torch_path(rows: int) -> None:
    x = torch.randn(rows, 96) * torch.logspace(-3, 3, rows).unsqueeze(1)   # rows of very different scales
    x[0] = 0.0                                                             # an all-zero row divides by 1e-12
    anchored, peak = cpu_kernels().anchored_rows(x)
    expected_peak = x.abs().amax(dim=1, keepdim=True).clamp(min=1e-12)
    assert torch.equal(peak, expected_peak)
    assert torch.equal(anchored, torch.cat([x / expected_peak, _anchor(96, x.dtype)]))


@pytest.mark.parametrize("offset", [0.0, 1.0])                  # Llama's w, Gemma's (1 + w)
def test_rms_norm_matches_torch(offset: float) -> None:
    x = torch.randn(5, 7, 576) * 30
    weight = torch.randn(576)
    expected = torch.nn.functional.rms_norm(x, (576,), offset + weight, 1e-6)
    got = cpu_kernels().rms_norm(x, weight, 1e-6, offset)
    assert got.shape == x.shape
    torch.testing.assert_close(got, expected, atol=1e-6, rtol=1e-6)


def _table(rows: int, k: int, levels: float | None = None) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """A table at the levels this CPU's build takes (127 with AVX-512 VNNI, else 63)."""
    qweight, scale = quantize_rows(torch.randn(rows, k), levels or weight_levels())
    return qweight, scale, qweight.sum(dim=1, dtype=torch.int32)


@pytest.mark.parametrize("rows,k", [(1, 576), (33, 576), (33, 100), (1, 7), (3, 600)])   # K % 64: 0, 0, 36, 7, 24
def test_int8_matmul_matches_the_torch_path(rows: int, k: int) -> None:
    torch.manual_seed(rows * 1000 + k)
    qweight, scale, sums = _table(77, k)                  # 77 table rows: 9 register tiles of 8, 5 alone
    x = torch.randn(rows, k) * torch.logspace(-2, 2, rows).unsqueeze(1)   # rows of very different scales
    got = cpu_kernels().int8_matmul(x, qweight, scale, sums)
    # the same integer sums, so the same floats
    torch.testing.assert_close(got, int8_matmul_torch(x, qweight, scale), atol=1e-6, rtol=1e-6)
    exact = x @ (qweight.float() * scale.unsqueeze(1)).T
    for i in range(rows):                                 # 8-bit activations, one scale per row
        assert float((got[i] - exact[i]).norm() / exact[i].norm()) < 0.03


def test_int8_matmul_does_not_saturate_at_its_levels() -> None:
    """The worst case for byte products: every activation at the top of its range, every weight
    at the top of the levels this build takes (AVX2's pair sums saturate past 63)."""
    levels = int(weight_levels())
    qweight = torch.full((16, 576), levels, dtype=torch.int8)
    qweight[8:] = -levels
    x = torch.ones(2, 576)
    x[1] = -1.0
    got = cpu_kernels().int8_matmul(x, qweight, torch.ones(16), qweight.sum(dim=1, dtype=torch.int32))
    expected = torch.tensor([[576.0 * levels] * 8 + [-576.0 * levels] * 8, [-576.0 * levels] * 8 + [576.0 * levels] * 8])
    assert torch.equal(got, expected)


def test_int8_matmul_rows_do_not_depend_on_the_batch() -> None:
    qweight, scale, sums = _table(1000, 576)
    x = torch.randn(33, 576)
    x[7] *= 1e3                                           # an outlier token does not coarsen the others
    x[9] = 0.0
    batch = cpu_kernels().int8_matmul(x, qweight, scale, sums)
    assert torch.equal(batch[9], torch.zeros(1000))
    for i in (0, 7, 32):
        assert torch.equal(cpu_kernels().int8_matmul(x[i:i + 1], qweight, scale, sums), batch[i:i + 1])


@pytest.mark.parametrize("threads", [1, 4])
@pytest.mark.parametrize("window", [None, 300])
def test_long_sequence_split_over_threads_matches_sdpa(threads: int, window: int | None) -> None:
    """A batch smaller than the thread count: each long sequence is cut into stretches attended on
    different threads and merged by their softmax maxima; the result is the same attention."""
    lengths, block_size = [1000, 130, 5], 16
    tables = [list(range(i * 64, i * 64 + 63)) for i in range(len(lengths))]
    meta = build_metadata([1] * len(lengths), [n - 1 for n in lengths], tables, block_size, {window},
                          torch.device("cpu"))
    torch.manual_seed(threads)
    k_cache, v_cache = torch.randn(3 * 64 * block_size, 3, 64).half(), torch.randn(3 * 64 * block_size, 3, 64).half()
    q = torch.randn(len(lengths), 9, 64) * 3                # peaked scores: the merge must rescale
    expected = decode_gathered(q, k_cache, v_cache, meta.decode, window, 0.125, 3)
    before = torch.get_num_threads()
    torch.set_num_threads(threads)
    try:
        got = cpu_kernels().decode_attention(q, k_cache, v_cache, meta.decode.gather, meta.decode.lengths,
                                             0.125, window or 0)
    finally:
        torch.set_num_threads(before)
    torch.testing.assert_close(got, expected, atol=1e-5, rtol=1e-5)


@pytest.mark.parametrize("cache_dtype", [torch.float32, torch.int8])
@pytest.mark.parametrize("window", [None, 40])
def test_short_prefill_after_a_long_prefix_matches_sdpa(window: int | None, cache_dtype: torch.dtype,
                                                        monkeypatch: pytest.MonkeyPatch) -> None:
    """A 22-token chunk after 300 cached positions: the decode kernel, one query row at a time,
    against SDPA over the gathered prefix with the causal mask (an int8 cache: both write the
    chunk's K/V quantized, and read the same values back)."""
    from engine import attention

    start, count, block_size = 300, 22, 16
    meta = build_metadata([count], [start], [list(range(21))[::-1]], block_size, {window}, torch.device("cpu"))
    torch.manual_seed(1)
    q, k, v = torch.randn(count, 9, 64), torch.randn(count, 3, 64), torch.randn(count, 3, 64)
    k_cache = kv_format.encode(torch.randn(21 * block_size, 3, 64), cache_dtype)
    v_cache = kv_format.encode(torch.randn(21 * block_size, 3, 64), cache_dtype)
    got = attention.paged_attention(q, k, v, k_cache.clone(), v_cache.clone(), meta, window, 0.125)
    monkeypatch.setattr(attention, "SHORT_PREFILL", 0)
    monkeypatch.setattr(attention, "SMALL_PREFILL_WORK", 0)
    monkeypatch.setattr(attention, "prefill_dtype", lambda q, cache: q.dtype)   # SDPA in fp32, as the kernel
    expected = attention.paged_attention(q, k, v, k_cache.clone(), v_cache.clone(), meta, window, 0.125)
    torch.testing.assert_close(got, expected, atol=1e-5, rtol=1e-5)


@pytest.mark.parametrize(("slots", "lengths", "message"), [
    (torch.tensor([[0, 1, 10 ** 9]]), torch.tensor([3]), "slot 1000000000, outside the cache's 32 slots"),
    (torch.tensor([[0, -1, 2]]), torch.tensor([3]), "slot -1, outside"),
    (torch.tensor([[0, 1, 2]]), torch.tensor([-4]), "lengths\\[0\\] is negative"),
    (torch.tensor([0, 1, 2]), torch.tensor([3]), "slots must be \\[batch, positions\\]"),
    (torch.tensor([[0, 1, 2]]), torch.tensor([3, 3]), "lengths \\[batch\\]"),
])
def test_decode_attention_refuses_slots_outside_the_cache(slots: torch.Tensor, lengths: torch.Tensor,
                                                          message: str) -> None:
    """A bad slot table from upstream is an exception naming it, never a read outside the cache."""
    q, k_cache, v_cache = torch.randn(1, 4, 64), torch.randn(32, 2, 64), torch.randn(32, 2, 64)
    with pytest.raises(RuntimeError, match=message):
        cpu_kernels().decode_attention(q, k_cache, v_cache, slots, lengths, 0.125, 0)


def test_decode_attention_reads_only_slots_within_each_length() -> None:
    """Padding past a sequence's length may hold anything: it is neither read nor checked."""
    q, k_cache, v_cache = torch.randn(1, 4, 64), torch.randn(32, 2, 64), torch.randn(32, 2, 64)
    padded = cpu_kernels().decode_attention(q, k_cache, v_cache, torch.tensor([[3, 4, 10 ** 9]]),
                                            torch.tensor([2]), 0.125, 0)
    plain = cpu_kernels().decode_attention(q, k_cache, v_cache, torch.tensor([[3, 4]]), torch.tensor([2]), 0.125, 0)
    assert torch.equal(padded, plain)



def test_a_library_truncated_by_a_killed_build_is_removed_for_relinking(tmp_path, monkeypatch) -> None:
    """A build killed while linking leaves a short .so that the builder takes as done; loading
    it fails with "file too short", and that library (only that) is removed so the next build
    links it again."""
    from engine.kernels import _remove_damaged_library

    monkeypatch.setenv("TORCH_EXTENSIONS_DIR", str(tmp_path))
    from torch.utils.cpp_extension import _get_build_directory

    name = "airlock_cpu_kernels_test"
    library = Path(_get_build_directory(name, verbose=False)) / f"{name}.so"
    library.write_bytes(b"\x7fELF" + bytes(60))
    assert not _remove_damaged_library(name, ImportError("undefined symbol: _ZN2at4_ops"))   # a real bug: kept
    assert library.exists()
    assert _remove_damaged_library(name, ImportError(f"{library}: file too short"))
    assert not library.exists()
    assert not _remove_damaged_library(name, ImportError(f"{library}: file too short"))     # nothing left to remove
