"""What the CPU can do: the instruction-set level the engine's CPU paths are chosen by.

Assumptions, up front:
- Levels are ordered: portable < avx2 < avx512 < amx. Each includes the one below it
  (avx2 means AVX2 + FMA + F16C; avx512 means F/BW/VL/DQ + VNNI; amx means AMX-BF16 +
  AMX-INT8 + AVX512-BF16 on top), which holds for every x86 server CPU shipped with them.
- The level is read at run time from the CPU flags (Linux /proc/cpuinfo; elsewhere torch's
  own detection), never from the machine the kernels or the bundle were built on.
- AIRLOCK_CPU_ISA=portable|avx2|avx512|amx forces a lower level (to test the AVX2 path on an
  AMX machine, or to sidestep a fault). A level above what the CPU has is refused: the
  detected level is used and the override is reported as ignored.
- The forced level also caps oneDNN and torch's own kernels (ONEDNN_MAX_CPU_ISA,
  ATEN_CPU_CAPABILITY) when it is applied before their first use, which importing the engine
  does; an explicit setting of those variables is left alone.
"""
from __future__ import annotations

import functools
import logging
import os
import platform
from dataclasses import dataclass
from pathlib import Path

LEVELS = ("portable", "avx2", "avx512", "amx")
OVERRIDE_ENV = "AIRLOCK_CPU_ISA"
_REQUIRED = {  # /proc/cpuinfo flags each level needs, on top of the level below
    "avx2": ("avx2", "fma", "f16c"),
    "avx512": ("avx512f", "avx512bw", "avx512vl", "avx512dq", "avx512_vnni"),
    "amx": ("amx_tile", "amx_bf16", "amx_int8", "avx512_bf16"),
}
_ONEDNN_ISA = {"portable": "SSE41", "avx2": "AVX2", "avx512": "AVX512_CORE_VNNI", "amx": "AVX512_CORE_AMX"}
_ATEN_CAPABILITY = {"portable": "default", "avx2": "avx2", "avx512": "avx512", "amx": "avx512"}
log = logging.getLogger(__name__)


@dataclass(slots=True, frozen=True)
class CpuIsa:
    detected: str                 # the highest level the CPU supports
    level: str                    # the level in use: detected, or lower when forced
    forced: bool                  # AIRLOCK_CPU_ISA lowered it
    note: str = ""                # why an override was ignored, if it was

    @property
    def has_amx(self) -> bool:
        return at_least(self.level, "amx")

    def as_dict(self) -> dict[str, object]:
        return {"detected": self.detected, "level": self.level, "forced": self.forced, "note": self.note}

    def describe(self) -> str:
        text = self.level if not self.forced else f"{self.level} (forced by {OVERRIDE_ENV}; CPU has {self.detected})"
        return text + (f"; {self.note}" if self.note else "")


def at_least(level: str, floor: str) -> bool:
    return LEVELS.index(level) >= LEVELS.index(floor)


def level_of(flags: set[str]) -> str:
    """The highest level whose flags (and every lower level's) are all in `flags`."""
    level = "portable"
    for candidate in LEVELS[1:]:
        if not all(flag in flags for flag in _REQUIRED[candidate]):
            break
        level = candidate
    return level


def resolve(detected: str, requested: str | None) -> CpuIsa:
    """The level in use for a CPU at `detected` and an override `requested` (None: none)."""
    if not requested:
        return CpuIsa(detected, detected, False)
    requested = requested.strip().lower()
    if requested not in LEVELS:
        return CpuIsa(detected, detected, False,
                      f"{OVERRIDE_ENV}={requested!r} ignored: use one of {', '.join(LEVELS)}")
    if not at_least(detected, requested):
        return CpuIsa(detected, detected, False, f"{OVERRIDE_ENV}={requested} ignored: this CPU lacks it")
    return CpuIsa(detected, requested, requested != detected)


@functools.cache
def cpu_isa() -> CpuIsa:
    """The CPU's level and the one in use, read once per process."""
    isa = resolve(_detect(), os.environ.get(OVERRIDE_ENV))
    if isa.note:
        log.warning("%s", isa.note)
    return isa


def apply_limits(isa: CpuIsa | None = None) -> None:
    """Cap oneDNN and torch's kernels at a forced level (effective before their first use)."""
    isa = isa or cpu_isa()
    if isa.forced:
        os.environ.setdefault("ONEDNN_MAX_CPU_ISA", _ONEDNN_ISA[isa.level])
        os.environ.setdefault("ATEN_CPU_CAPABILITY", _ATEN_CAPABILITY[isa.level])


def _detect() -> str:
    if platform.machine().lower() not in ("x86_64", "amd64"):
        return "portable"
    flags = _cpuinfo_flags()
    return level_of(flags) if flags else _torch_level()


def _cpuinfo_flags() -> set[str]:
    try:
        text = Path("/proc/cpuinfo").read_text()
    except OSError:
        return set()
    for line in text.splitlines():
        if line.startswith("flags"):
            return set(line.partition(":")[2].split())
    return set()


def _torch_level() -> str:
    """Without /proc/cpuinfo: torch's own detection (it does not report AMX; avx512 then)."""
    import torch

    capability = torch.backends.cpu.get_cpu_capability().lower()
    return "avx512" if capability.startswith("avx512") else "avx2" if capability == "avx2" else "portable"
