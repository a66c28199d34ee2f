"""Airlock's own CPU kernels (engine/csrc/), compiled once on the machine that runs them.

torch's C++ extension builder compiles the sources with the local compiler for the local CPU
(-march=native) and caches the result (TORCH_EXTENSIONS_DIR, default ~/.cache/torch_extensions).
`make install` and the installer build it ahead of time (`airlock kernels`). Without a compiler,
or with AIRLOCK_TORCH_ONLY=1, the engine runs its pure torch path instead: the same results
(up to float rounding), more slowly.
"""
from __future__ import annotations

import functools
import logging
import os
from pathlib import Path
from types import ModuleType

import torch

log = logging.getLogger(__name__)
_SOURCES = [Path(__file__).parent / "csrc" / name
            for name in ("bindings.cpp", "decode_attention.cpp", "anchored_rows.cpp", "rms_norm.cpp",
                          "fused_decode.cpp", "int8_matmul.cpp")]


@functools.cache
def cpu_kernels() -> ModuleType | None:
    """The compiled extension, or None when it cannot be built here (logged once)."""
    if os.environ.get("AIRLOCK_TORCH_ONLY") == "1":
        return None
    try:
        from torch.utils.cpp_extension import load

        return load(name="airlock_cpu_kernels", sources=[str(s) for s in _SOURCES],
                    extra_cflags=["-O3", "-march=native", "-fopenmp"], extra_ldflags=["-fopenmp"])
    except Exception as exc:  # no compiler, no headers, a failed build: fall back, keep serving
        log.warning("CPU kernels unavailable, using the torch path (slower decode attention): %s",
                    str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__)
        return None



def kernels_for(*tensors: torch.Tensor) -> ModuleType | None:
    """The kernels when every tensor is float32 on the CPU (all they handle), else None."""
    if all(t.dtype == torch.float32 and t.device.type == "cpu" for t in tensors):
        return cpu_kernels()
    return None
