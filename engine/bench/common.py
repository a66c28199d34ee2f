"""What every benchmark shares: the machine header it prints, the shape of its report (JSON and a
table of title, rows and notes), the ratio against a baseline measured in the same run, and the
range checks of its configuration.

Standard library and engine.cpu_isa only at import (torch is read when a header is taken), so
the appliance's benchmarks use it without loading the engine.
"""
from __future__ import annotations

import json
import math
import os
import platform
from dataclasses import asdict, dataclass
from datetime import datetime, timezone
from typing import Any

from engine.cpu_isa import cpu_isa


@dataclass(slots=True, frozen=True)
class Machine:
    """The machine a benchmark ran on, as every report prints it."""
    arch: str                    # platform.machine(): x86_64, aarch64
    cpus: int
    cpu_isa: str                 # the instruction-set level in use (engine/cpu_isa.py)
    threads: int | None          # torch's intra-op threads; None where torch is not loaded
    torch: str | None
    device: str
    date: str                    # UTC, to the minute

    @classmethod
    def now(cls, device: str = "cpu", with_torch: bool = True) -> Machine:
        """This machine now; `with_torch=False` for benchmarks that do not load torch."""
        threads = version = None
        if with_torch:
            import torch

            threads, version = torch.get_num_threads(), torch.__version__
        return cls(platform.machine(), os.cpu_count() or 0, cpu_isa().describe(), threads, version, device,
                   datetime.now(timezone.utc).strftime("%Y-%m-%d %H:%M UTC"))

    def line(self) -> str:
        """One line: arch, CPUs, ISA, threads, torch, device, date."""
        parts = [f"{self.arch}, {self.cpus} CPUs, CPU ISA {self.cpu_isa}"]
        if self.threads is not None:
            parts.append(f"{self.threads} threads")
        if self.torch is not None:
            parts.append(f"torch {self.torch}")
        return "; ".join(parts + [self.device, self.date])


class Report:
    """The base of every benchmark report (a dataclass): to_json() from as_dict(), which is the
    fields unless a report adds derived figures or the names earlier reports used, and to_table()
    from table_title(), table_rows() and table_notes()."""
    __slots__ = ()

    def as_dict(self) -> dict[str, Any]:
        return asdict(self)

    def to_json(self) -> str:
        return json.dumps(self.as_dict(), indent=2)

    def table_title(self) -> list[str]:
        raise NotImplementedError

    def table_rows(self) -> list[str]:
        raise NotImplementedError

    def table_notes(self) -> list[str]:
        return []

    def to_table(self) -> str:
        return "\n".join([*self.table_title(), *self.table_rows(), *self.table_notes()])


def long_over_short(by_context: dict[int, float]) -> float | None:
    """A figure at the longest context over the same figure at the shortest (ITL growth)."""
    return ratio(by_context[max(by_context)], by_context[min(by_context)]) if by_context else None


def ratio(candidate: float | None, baseline: float | None) -> float | None:
    """candidate / baseline, both measured in the same run; None when either is missing or the
    baseline is not positive."""
    if candidate is None or baseline is None or not baseline > 0:
        return None
    return candidate / baseline


def at_least(config: Any, floor: int, *names: str) -> None:
    """Each named field of `config` is an integer of at least `floor`, or ValueError."""
    for name in names:
        value = getattr(config, name)
        if isinstance(value, bool) or not isinstance(value, int) or value < floor:
            raise ValueError(f"{name} must be an integer of at least {floor}, got {value!r}")


def positive(name: str, value: float | None) -> None:
    """`value` is a positive number (None passes: no target), or ValueError."""
    if value is not None and not (isinstance(value, (int, float)) and math.isfinite(value) and value > 0):
        raise ValueError(f"{name} must be positive, got {value!r}")


def percentile(values: list[float], q: float) -> float | None:
    """Linear interpolation between closest ranks (numpy's default); None for no values."""
    if not values:
        return None
    ordered = sorted(values)
    position = (len(ordered) - 1) * q / 100
    low, high = math.floor(position), math.ceil(position)
    return ordered[low] + (ordered[high] - ordered[low]) * (position - low)
