"""A small Prometheus text-format writer: counters, gauges and histograms with labels."""
from __future__ import annotations

import bisect
import math
import threading
from dataclasses import dataclass, field

TTFT_BUCKETS = (0.001, 0.005, 0.01, 0.02, 0.04, 0.06, 0.08, 0.1, 0.25, 0.5, 0.75, 1.0, 2.5, 5.0,
                7.5, 10.0, 20.0, 40.0, 80.0)
ITL_BUCKETS = (0.001, 0.005, 0.01, 0.015, 0.02, 0.025, 0.03, 0.04, 0.05, 0.075, 0.1, 0.15, 0.2,
               0.3, 0.4, 0.5, 0.75, 1.0, 2.5)
SECONDS_BUCKETS = (0.01, 0.05, 0.1, 0.3, 0.5, 0.8, 1.0, 2.5, 5.0, 10.0, 15.0, 20.0, 30.0, 40.0,
                   50.0, 60.0, 120.0)


def _labels(labels: dict[str, str]) -> str:
    if not labels:
        return ""
    inner = ",".join(f'{k}="{_escape(v)}"' for k, v in labels.items())
    return "{" + inner + "}"


def _escape(value: str) -> str:
    return str(value).replace("\\", "\\\\").replace("\n", "\\n").replace('"', '\\"')


def _num(value: float) -> str:
    if math.isinf(value):
        return "+Inf" if value > 0 else "-Inf"
    return repr(float(value)) if not float(value).is_integer() else str(int(value)) + ".0"


@dataclass(slots=True)
class Histogram:
    name: str
    help: str
    buckets: tuple[float, ...]
    _series: dict[tuple, list] = field(default_factory=dict)   # labels -> [counts..., sum, count]
    _lock: threading.Lock = field(default_factory=threading.Lock)

    def observe(self, value: float, **labels: str) -> None:
        self.observe_many([value], **labels)

    def observe_many(self, values: list[float], **labels: str) -> None:
        key = tuple(sorted(labels.items()))
        with self._lock:
            series = self._series.setdefault(key, [0] * len(self.buckets) + [0.0, 0])
            for value in values:
                index = bisect.bisect_left(self.buckets, value)
                if index < len(self.buckets):
                    series[index] += 1
                series[-2] += value
                series[-1] += 1

    def bucket_totals(self) -> list[int]:
        """Per-bucket counts summed over every label set, the overflow (+Inf) bucket last."""
        with self._lock:
            series = list(self._series.values())
        totals = [0] * (len(self.buckets) + 1)
        for s in series:
            for i in range(len(self.buckets)):
                totals[i] += s[i]
            totals[-1] += s[-1] - sum(s[:len(self.buckets)])
        return totals

    def render(self) -> list[str]:
        lines = [f"# HELP {self.name} {self.help}", f"# TYPE {self.name} histogram"]
        with self._lock:
            items = [(dict(k), list(v)) for k, v in self._series.items()]
        for labels, series in items:
            running = 0
            for bound, count in zip(self.buckets, series):
                running += count
                lines.append(f"{self.name}_bucket{_labels({**labels, 'le': _num(bound)})} {running}")
            lines.append(f"{self.name}_bucket{_labels({**labels, 'le': '+Inf'})} {series[-1]}")
            lines.append(f"{self.name}_sum{_labels(labels)} {_num(series[-2])}")
            lines.append(f"{self.name}_count{_labels(labels)} {series[-1]}")
        return lines


def family(name: str, kind: str, help: str, samples: list[tuple[dict[str, str], float]]) -> list[str]:
    """One counter or gauge family whose values are read at scrape time."""
    lines = [f"# HELP {name} {help}", f"# TYPE {name} {kind}"]
    lines += [f"{name}{_labels(labels)} {_num(value)}" for labels, value in samples]
    return lines
