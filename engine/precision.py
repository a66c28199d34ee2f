"""Which precision `auto` gives a CPU load, and how a precision name becomes load_model's arguments.

Assumptions, up front:
- Quality is the perplexity of SmolLM2-135M on a fixed English text against fp32
  (tests/models/test_quality.py measures it). AUTO_PERPLEXITY_BOUND is the cost `auto` accepts:
  1% from fp32. Measured costs (the size of the change) are in PERPLEXITY_COST: int8 (+1.2%
  with AVX2's 7-bit weights; 8-bit with VNNI is nearer fp32 but still +2.4% to +3% on 2,048-token
  texts) is over the bound, so it stays opt-in; bf16 (28.02 against fp32's 28.16,
  -0.5%) is within it.
- Speed ranks by the CPU's level (engine/cpu_isa.py): with AMX, bf16 runs the linear layers on
  AMX tiles and reads half fp32's bytes, fastest at every batch size; without AMX, bf16 has no
  hardware path (oneDNN emulates it, slower than fp32), so it is not a candidate there.
- On CUDA, `auto` is fp16 (the manager decides that); this module only speaks for the CPU.
"""
from __future__ import annotations

import torch

from engine.cpu_isa import CpuIsa
from engine.errors import InvalidParameter
from engine.planner import PRECISIONS

AUTO_PERPLEXITY_BOUND = 0.01
PERPLEXITY_COST = {"fp32": 0.0, "bf16": 0.005, "int8": 0.012}   # measured |change| relative to fp32
_FASTEST_FIRST = {"amx": ("bf16", "int8", "fp32"), "avx512": ("int8", "fp32"), "avx2": ("int8", "fp32"),
                  "portable": ("fp32",)}
TORCH_DTYPES = {"fp32": torch.float32, "fp16": torch.float16, "bf16": torch.bfloat16}


def auto_cpu_precision(isa: CpuIsa) -> str:
    """The fastest precision on a CPU at `isa.level` whose perplexity cost is within the bound."""
    return next(p for p in _FASTEST_FIRST[isa.level] if PERPLEXITY_COST[p] <= AUTO_PERPLEXITY_BOUND)


def compute_and_weights(precision: str, device: torch.device) -> tuple[torch.dtype, str]:
    """The one translation of a precision name (fp32|fp16|bf16|int8|nf4): the compute dtype
    between the layers, and the weight transform of engine/quantization.py.

    bf16 on CPU is bf16 weights with fp32 between the layers (AMX's path); on a GPU it is the
    bf16 compute dtype. int8 and nf4 compute in the device's default precision."""
    if precision not in PRECISIONS:
        raise InvalidParameter("precision", f"precision must be one of {', '.join(PRECISIONS)}, got {precision!r}")
    if precision in TORCH_DTYPES and (precision != "bf16" or device.type == "cuda"):
        return TORCH_DTYPES[precision], "none"
    return TORCH_DTYPES[default_precision(device)], precision


def default_precision(device: torch.device) -> str:
    """fp32 on CPU (what `auto` may improve on, above); bf16 on GPUs that have it, else fp16."""
    if device.type != "cuda":
        return "fp32"
    return "bf16" if torch.cuda.is_bf16_supported() else "fp16"
