"""The efficient frontier of a sweep: its points, which are Pareto-optimal, and the point an SLO picks.

Assumptions, stated once:
- A point is better with more output tokens per second and with lower p95 inter-token latency
  (ITL). The frontier is drawn in that plane, so Pareto marking uses those two figures only.
- An SLO is met by a point when its p95 TTFT and p95 ITL are each at or under the target
  (a target of None is no constraint). Among the points that meet it, the one with the most
  output tokens per second wins; ties go to the lower p95 ITL.
"""
from __future__ import annotations

from dataclasses import asdict, dataclass, field, fields
from typing import Any


@dataclass(slots=True, frozen=True)
class SchedulerSetting:
    """The scheduler knobs a sweep turns (EngineConfig's fields of the same names)."""
    max_num_seqs: int
    max_num_batched_tokens: int
    max_prefill_chunk: int = 0                  # 0: a prefill chunk may take the step's whole budget

    @property
    def label(self) -> str:
        chunk = self.max_prefill_chunk or "-"
        return f"seqs {self.max_num_seqs}, budget {self.max_num_batched_tokens}, chunk {chunk}"


@dataclass(slots=True)
class SweepPoint:
    concurrency: int                            # clients, each sending its next request when one ends
    setting: SchedulerSetting
    requests: int = 0
    output_tokens: int = 0
    wall_seconds: float = 0.0
    output_tokens_per_s: float = 0.0
    ttft_p50_s: float | None = None
    ttft_p95_s: float | None = None
    itl_p50_s: float | None = None
    itl_p95_s: float | None = None
    kv_peak_usage: float = 0.0                  # highest share of the KV pool in use
    kv_peak_mib: float = 0.0
    cost_per_million_output: float | None = None
    pareto: bool = False

    def as_dict(self) -> dict[str, Any]:
        data = asdict(self)
        data.update(data.pop("setting"))
        return data

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> SweepPoint:
        knobs = {f.name for f in fields(SchedulerSetting)}
        setting = SchedulerSetting(**{k: int(data[k]) for k in knobs if k in data})
        own = {f.name for f in fields(cls)} - {"setting"}
        return cls(setting=setting, **{k: v for k, v in data.items() if k in own})


def dominates(a: tuple[float, ...], b: tuple[float, ...]) -> bool:
    """a is at least as good as b everywhere and better somewhere (higher is better)."""
    return all(x >= y for x, y in zip(a, b)) and any(x > y for x, y in zip(a, b))


def pareto_mask(scores: list[tuple[float, ...]]) -> list[bool]:
    """For each score vector (higher is better in every position), whether no other dominates it."""
    return [not any(dominates(other, s) for other in scores) for s in scores]


def mark_pareto(points: list[SweepPoint]) -> list[SweepPoint]:
    """Set each point's `pareto` flag (throughput up, p95 ITL down); points without ITL never are."""
    measured = [p for p in points if p.itl_p95_s is not None]
    mask = pareto_mask([(p.output_tokens_per_s, -p.itl_p95_s) for p in measured])
    for point in points:
        point.pareto = False
    for point, optimal in zip(measured, mask):
        point.pareto = optimal
    return points


@dataclass(slots=True)
class Choice:
    point: SweepPoint | None                    # None: no point meets the SLO
    meeting: int                                # how many points meet it
    explanation: list[str] = field(default_factory=list)


def meets(point: SweepPoint, ttft_p95: float | None, itl_p95: float | None) -> bool:
    return _within(point.ttft_p95_s, ttft_p95) and _within(point.itl_p95_s, itl_p95)


def choose(points: list[SweepPoint], ttft_p95: float | None, itl_p95: float | None) -> Choice:
    """The highest-throughput point meeting the SLO, with the reasons in plain sentences."""
    ok = [p for p in points if meets(p, ttft_p95, itl_p95)]
    slo = _slo_text(ttft_p95, itl_p95)
    if not ok:
        return Choice(None, 0, [f"no point of the sweep meets {slo}.", _closest(points, ttft_p95, itl_p95)])
    best = max(ok, key=lambda p: (p.output_tokens_per_s, -(p.itl_p95_s or 0.0)))
    lines = [f"{len(ok)} of {len(points)} points meet {slo}; the fastest of them is chosen.",
             f"chosen: {best.setting.label} (measured at {best.concurrency} concurrent streams): "
             f"{best.output_tokens_per_s:.1f} output tok/s, p95 TTFT {_s(best.ttft_p95_s)}, "
             f"p95 ITL {_s(best.itl_p95_s)}" + _cost(best) + "."]
    faster = [p for p in points if p.output_tokens_per_s > best.output_tokens_per_s]
    if faster:
        top = max(faster, key=lambda p: p.output_tokens_per_s)
        lines.append(f"the fastest point overall ({top.output_tokens_per_s:.1f} tok/s, {top.setting.label}) "
                     f"misses it: p95 TTFT {_s(top.ttft_p95_s)}, p95 ITL {_s(top.itl_p95_s)}.")
    return Choice(best, len(ok), lines)


def _within(value: float | None, target: float | None) -> bool:
    return target is None or (value is not None and value <= target)


def _closest(points: list[SweepPoint], ttft_p95: float | None, itl_p95: float | None) -> str:
    if not points:
        return "the sweep has no points."
    def excess(p: SweepPoint) -> float:
        return max(_ratio(p.ttft_p95_s, ttft_p95), _ratio(p.itl_p95_s, itl_p95))
    near = min(points, key=excess)
    return (f"the nearest is {near.setting.label} at {near.concurrency} streams: p95 TTFT "
            f"{_s(near.ttft_p95_s)}, p95 ITL {_s(near.itl_p95_s)}; relax the SLO or add hardware.")


def _ratio(value: float | None, target: float | None) -> float:
    if target is None:
        return 0.0
    return float("inf") if value is None else value / target


def _slo_text(ttft_p95: float | None, itl_p95: float | None) -> str:
    parts = [f"p95 TTFT <= {_s(ttft_p95)}" if ttft_p95 is not None else "",
             f"p95 ITL <= {_s(itl_p95)}" if itl_p95 is not None else ""]
    return "the SLO (" + ", ".join(p for p in parts if p) + ")" if any(parts) else "no SLO"


def _cost(point: SweepPoint) -> str:
    c = point.cost_per_million_output
    return "" if c is None else f", {c:.2f} per 1M output tokens"


def _s(value: float | None) -> str:
    if value is None:
        return "-"
    return f"{value * 1000:.0f} ms" if value < 1 else f"{value:.2f} s"
