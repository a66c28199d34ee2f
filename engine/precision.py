"""Which precision `auto` gives a CPU load, and how a precision name becomes load_model's arguments.

Assumptions, up front:
- Quality is the perplexity of SmolLM2-135M on a fixed English text against fp32
  (tests/models/test_quality.py measures it). AUTO_PERPLEXITY_BOUND is the cost `auto` accepts:
  1% from fp32. Measured costs (the size of the change) are in PERPLEXITY_COST: int8 (7-bit
  weights, +1.2%) is over the bound, so it stays opt-in; bf16 (28.02 against fp32's 28.16,
  -0.5%) is within it.
- Speed ranks by the CPU's level (engine/cpu_isa.py): with AMX, bf16 runs the linear layers on
  AMX tiles and reads half fp32's bytes, fastest at every batch size; without AMX, bf16 has no
  hardware path (oneDNN emulates it, slower than fp32), so it is not a candidate there.
- On CUDA, `auto` is fp16 (the manager decides that); this module only speaks for the CPU.
"""
from __future__ import annotations

from typing import Any

import torch

from engine.cpu_isa import CpuIsa

AUTO_PERPLEXITY_BOUND = 0.01
PERPLEXITY_COST = {"fp32": 0.0, "bf16": 0.005, "int8": 0.012}   # measured |change| relative to fp32
_FASTEST_FIRST = {"amx": ("bf16", "int8", "fp32"), "avx512": ("int8", "fp32"), "avx2": ("int8", "fp32"),
                  "portable": ("fp32",)}
_DTYPES = {"fp32": torch.float32, "fp16": torch.float16, "bf16": torch.bfloat16}


def auto_cpu_precision(isa: CpuIsa) -> str:
    """The fastest precision on a CPU at `isa.level` whose perplexity cost is within the bound."""
    return next(p for p in _FASTEST_FIRST[isa.level] if PERPLEXITY_COST[p] <= AUTO_PERPLEXITY_BOUND)


def loader_arguments(precision: str, device: str = "cpu") -> dict[str, Any]:
    """load_model's dtype and quantization for a precision name (fp32|fp16|bf16|int8|nf4).

    bf16 on CPU is the engine's "bf16" quantization (bf16 weights, fp32 between the layers);
    on a GPU it is the bf16 compute dtype."""
    if precision == "bf16" and not device.startswith("cuda"):
        return {"dtype": torch.float32, "quantization": "bf16"}
    if precision in _DTYPES:
        return {"dtype": _DTYPES[precision], "quantization": "none"}
    return {"dtype": None, "quantization": precision}
