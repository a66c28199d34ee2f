"""The CPU's instruction-set level (engine/cpu_isa.py), its override, and the kernel build per
level: every level this CPU has gives the same results, and a lower level's build holds no
instruction of a higher one (an AMX machine's AVX2 build runs on an AVX2-only CPU)."""
from __future__ import annotations

import shutil
import subprocess

import pytest
import torch

from engine.cpu_isa import LEVELS, CpuIsa, at_least, cpu_isa, level_of, resolve
from engine.kernels import cpu_kernels, kernels_at
from engine.precision import auto_cpu_precision, compute_and_weights
from engine.quantization import weight_levels

AVX2 = {"avx2", "fma", "f16c"}
AVX512 = AVX2 | {"avx512f", "avx512bw", "avx512vl", "avx512dq", "avx512_vnni"}
AMX = AVX512 | {"amx_tile", "amx_bf16", "amx_int8", "avx512_bf16"}


@pytest.mark.parametrize("flags,level", [(set(), "portable"), ({"avx2", "fma"}, "portable"), (AVX2, "avx2"),
                                         (AVX512 - {"avx512_vnni"}, "avx2"), (AVX512, "avx512"), (AMX, "amx"),
                                         (AMX - AVX2, "portable")])
def test_level_needs_every_flag_below_it(flags: set[str], level: str) -> None:
    assert level_of(flags) == level


def test_override_lowers_the_level_and_never_raises_it() -> None:
    assert resolve("amx", None) == CpuIsa("amx", "amx", False)
    assert resolve("amx", "AVX2") == CpuIsa("amx", "avx2", True)
    assert resolve("amx", "amx") == CpuIsa("amx", "amx", False)
    raised = resolve("avx2", "amx")
    assert raised.level == "avx2" and not raised.forced and "lacks" in raised.note
    unknown = resolve("avx512", "sse9")
    assert unknown.level == "avx512" and "portable, avx2, avx512, amx" in unknown.note


def test_auto_precision_follows_the_level() -> None:
    assert auto_cpu_precision(CpuIsa("amx", "amx", False)) == "bf16"
    assert auto_cpu_precision(CpuIsa("amx", "avx512", True)) == "fp32"      # int8 is over the quality bound
    assert auto_cpu_precision(CpuIsa("avx2", "avx2", False)) == "fp32"
    cpu, cuda = torch.device("cpu"), torch.device("cuda")
    assert compute_and_weights("bf16", cpu) == (torch.float32, "bf16")     # bf16 weights, fp32 between layers
    assert compute_and_weights("bf16", cuda) == (torch.bfloat16, "none")   # bf16 compute
    assert compute_and_weights("int8", cpu) == (torch.float32, "int8")
    assert compute_and_weights("fp16", cpu) == (torch.float16, "none")


def test_int8_weights_keep_8_bits_where_vnni_sums_bytes_without_saturating() -> None:
    assert weight_levels(CpuIsa("amx", "amx", False)) == weight_levels(CpuIsa("avx512", "avx512", False)) == 127
    assert weight_levels(CpuIsa("amx", "avx2", True)) == 63    # a forced AVX2 build takes 7-bit weights
    assert weight_levels(CpuIsa("portable", "portable", False)) == 63


def test_a_level_above_the_cpu_is_refused() -> None:
    above = [level for level in LEVELS if not at_least(cpu_isa().detected, level)]
    for level in above + ["sse9"]:
        with pytest.raises(ValueError, match="at most this CPU's"):
            kernels_at(level)


def _lower_level() -> str | None:
    """avx2 where the CPU has more (the build an older machine would load), else None."""
    return "avx2" if cpu_isa().level not in ("portable", "avx2") else None


@pytest.mark.skipif(_lower_level() is None or cpu_kernels() is None,
                    reason="the CPU has no level above avx2, or no C++ compiler")
def test_lower_level_gives_the_same_results() -> None:
    low, high = kernels_at(_lower_level()), cpu_kernels()
    assert low is not None and low is not high
    torch.manual_seed(0)
    q, k_cache, v_cache = torch.randn(3, 9, 64), torch.randn(600, 3, 64).half(), torch.randn(600, 3, 64).half()
    slots, lengths = torch.randperm(600)[:600].view(1, 600).expand(3, 600).contiguous(), torch.tensor([1, 77, 600])
    torch.testing.assert_close(low.decode_attention(q, k_cache, v_cache, slots, lengths, 0.125, 0),
                               high.decode_attention(q, k_cache, v_cache, slots, lengths, 0.125, 0),
                               atol=1e-5, rtol=1e-5)
    x, weight = torch.randn(5, 576), torch.randn(576)
    torch.testing.assert_close(low.rms_norm(x, weight, 1e-5, 0.0), high.rms_norm(x, weight, 1e-5, 0.0))
    qweight = torch.randint(-63, 64, (100, 576), dtype=torch.int8)
    scale, sums = torch.rand(100), qweight.sum(dim=1, dtype=torch.int32)
    assert torch.equal(low.int8_matmul(x, qweight, scale, sums), high.int8_matmul(x, qweight, scale, sums))


@pytest.mark.skipif(_lower_level() is None or cpu_kernels() is None or shutil.which("objdump") is None,
                    reason="no level above avx2 here, no C++ compiler or no objdump")
def test_avx2_build_holds_no_avx512_instruction() -> None:
    """What makes a bundle from an AMX machine safe on an AVX2 one: no zmm register, no AMX tile."""
    path = kernels_at("avx2").__file__
    listing = subprocess.run(["objdump", "-d", "--no-show-raw-insn", path], capture_output=True, text=True,
                             check=True).stdout
    assert "vfmadd" in listing                                   # it is vectorized (AVX2 + FMA) ...
    assert "%zmm" not in listing and "%tmm" not in listing       # ... but not beyond
