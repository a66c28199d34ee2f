"""Airlock's own CPU kernels (engine/csrc/), compiled once per machine and instruction-set level.

torch's C++ extension builder compiles the sources with the local compiler and caches the
result (TORCH_EXTENSIONS_DIR, default ~/.cache/torch_extensions). Each level of
engine/cpu_isa.py gets its own build, named after it and compiled for that level's
instructions only (never -march=native): a cache or bundle made on an AMX machine holds an
`amx` build that an AVX2 machine never loads; it builds and loads its `avx2` one. The level
in use is the CPU's, or the lower one AIRLOCK_CPU_ISA forces. `make install` and the
installer build it ahead of time (`airlock kernels`). Without a compiler, or with
AIRLOCK_TORCH_ONLY=1, the engine runs its pure torch path instead: the same results (up to
float rounding), more slowly. With AIRLOCK_REQUIRE_KERNELS=1 (the test suite's setting) a
failed build is an error instead: a compile error must not hide behind the fallback.

A build killed half-way leaves torch's `lock` file in its build folder, and every later load
would wait on it forever; a lock older than STALE_LOCK_SECONDS is taken for such a leftover
and removed (a real build takes a few minutes).
"""
from __future__ import annotations

import functools
import hashlib
import logging
import os
import time
from pathlib import Path
from types import ModuleType

import torch

from engine.cpu_isa import LEVELS, apply_limits, at_least, cpu_isa

log = logging.getLogger(__name__)
_CSRC = Path(__file__).parent / "csrc"
_SOURCES = [_CSRC / name for name in ("bindings.cpp", "decode_attention.cpp", "anchored_rows.cpp", "rms_norm.cpp",
                                      "fused_decode.cpp", "int8_matmul.cpp")]
_AVX2 = ["-mavx2", "-mfma", "-mf16c"]
_AVX512 = _AVX2 + ["-mavx512f", "-mavx512bw", "-mavx512vl", "-mavx512dq", "-mavx512vnni"]
LEVEL_FLAGS = {   # each level's instructions and no more: its build runs on any CPU at that level
    "portable": [],
    "avx2": _AVX2,
    "avx512": _AVX512,
    "amx": _AVX512 + ["-mavx512bf16", "-mamx-tile", "-mamx-bf16", "-mamx-int8"],
}

STALE_LOCK_SECONDS = 1800.0

apply_limits()   # a forced level caps oneDNN and torch's kernels too, before their first use


@functools.cache
def cpu_kernels() -> ModuleType | None:
    """The compiled extension for the level in use, or None when it cannot be built here (logged once)."""
    if os.environ.get("AIRLOCK_TORCH_ONLY") == "1":
        return None
    return kernels_at(cpu_isa().level)


@functools.cache
def kernels_at(level: str) -> ModuleType | None:
    """The extension built for `level` (at most the CPU's own level), or None when it cannot be built."""
    if level not in LEVELS or not at_least(cpu_isa().detected, level):
        raise ValueError(f"CPU level must be one of {', '.join(LEVELS)} and at most this CPU's "
                         f"({cpu_isa().detected}), got {level!r}")
    name = f"airlock_cpu_kernels_{level}"
    try:
        try:
            return _build(name, level)
        except ImportError as exc:
            if not _remove_damaged_library(name, exc):
                raise
            return _build(name, level)
    except Exception as exc:  # no compiler, no headers, a failed build: fall back, keep serving
        if os.environ.get("AIRLOCK_REQUIRE_KERNELS") == "1":
            raise
        log.warning("CPU kernels (%s) unavailable, using the torch path (slower decode attention): %s", level,
                    str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__)
        return None


def _build(name: str, level: str) -> ModuleType:
    from torch.utils.cpp_extension import load

    _remove_stale_lock(name)
    return load(name=name, sources=[str(s) for s in _SOURCES],
                extra_cflags=["-O3", "-fopenmp", *LEVEL_FLAGS[level], f"-DAIRLOCK_HEADERS={_headers_digest()}"],
                extra_ldflags=["-fopenmp"])


def _headers_digest() -> str:
    """The builder rebuilds when a source or a flag changes, not a header: the headers' digest
    is a flag, so a changed header rebuilds too."""
    return hashlib.sha256(b"".join(h.read_bytes() for h in sorted(_CSRC.glob("*.h")))).hexdigest()[:16]


def _remove_damaged_library(name: str, error: ImportError) -> bool:
    """A build killed while linking leaves a truncated library that the builder takes as done:
    remove it so the next build links it again. True when there was one to remove."""
    from torch.utils.cpp_extension import _get_build_directory

    library = Path(_get_build_directory(name, verbose=False)) / f"{name}.so"
    if not library.is_file() or not any(s in str(error) for s in ("file too short", "invalid ELF header")):
        return False
    log.warning("removing %s, damaged by a build that did not finish (%s); building it again", library, error)
    library.unlink()
    return True


def _remove_stale_lock(name: str) -> None:
    from torch.utils.cpp_extension import _get_build_directory

    lock = Path(_get_build_directory(name, verbose=False)) / "lock"
    try:
        age = time.time() - lock.stat().st_mtime
    except FileNotFoundError:
        return
    if age > STALE_LOCK_SECONDS:
        log.warning("removing %s, left %.0f minutes ago by a build that did not finish", lock, age / 60)
        lock.unlink(missing_ok=True)


def kernels_for(*tensors: torch.Tensor) -> ModuleType | None:
    """The kernels when every tensor is float32 on the CPU (all they handle), else None."""
    if all(t.dtype == torch.float32 and t.device.type == "cpu" for t in tensors):
        return cpu_kernels()
    return None
