"""Figures of one benchmark run: per-system results, percentiles, ratios, table and JSON."""
from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from engine.bench.common import Report, percentile, ratio
from engine.bench.workload import Scenario

__all__ = ["BenchReport", "RequestTiming", "SystemResult", "percentile", "seconds"]


@dataclass(slots=True)
class RequestTiming:
    prompt_tokens: int
    token_ids: list[int]
    ttft: float                                   # seconds from the request's start to its first token
    inter_token: list[float] = field(default_factory=list)


@dataclass(slots=True)
class SystemResult:
    name: str
    wall_seconds: float                           # first request in to last token out
    requests: list[RequestTiming]
    note: str = ""
    same_tokens: float | None = None              # share of requests whose tokens equal Airlock's

    @property
    def output_tokens(self) -> int:
        return sum(len(r.token_ids) for r in self.requests)

    @property
    def output_tokens_per_s(self) -> float:
        return self.output_tokens / self.wall_seconds if self.wall_seconds > 0 else 0.0

    @property
    def prefill_tokens_per_s(self) -> float:
        """Prompt tokens over the time to the first token, averaged over the requests."""
        rates = [r.prompt_tokens / r.ttft for r in self.requests if r.ttft > 0]
        return sum(rates) / len(rates) if rates else 0.0

    def figures(self) -> dict[str, Any]:
        ttfts = [r.ttft for r in self.requests]
        gaps = [g for r in self.requests for g in r.inter_token]
        return {
            "system": self.name, "requests": len(self.requests), "output_tokens": self.output_tokens,
            "wall_seconds": self.wall_seconds, "output_tokens_per_s": self.output_tokens_per_s,
            "prefill_tokens_per_s": self.prefill_tokens_per_s,
            "ttft_p50_s": percentile(ttfts, 50), "ttft_p95_s": percentile(ttfts, 95),
            "itl_p50_s": percentile(gaps, 50), "itl_p95_s": percentile(gaps, 95),
            "same_tokens": self.same_tokens, "note": self.note,
        }


@dataclass(slots=True)
class BenchReport(Report):
    scenario: Scenario
    model: str
    setup: dict[str, Any]                         # the machine (common.Machine), dtype, precision, quick ...
    airlock: SystemResult
    baselines: list[SystemResult]

    def ratio(self, baseline: SystemResult) -> float | None:
        key = self.scenario.headline
        return ratio(getattr(self.airlock, key), getattr(baseline, key))

    def as_dict(self) -> dict[str, Any]:
        return {
            "scenario": self.scenario.name, "description": self.scenario.description,
            "model": self.model, "setup": self.setup, "headline": self.scenario.headline,
            "airlock": self.airlock.figures(),
            "baselines": [{**b.figures(), "airlock_ratio": self.ratio(b)} for b in self.baselines],
        }

    def table_title(self) -> list[str]:
        s = self.setup
        return [f"airlock bench: {self.scenario.name} ({self.scenario.description}), greedy, EOS ignored",
                f"model {self.model}, {s.get('device')} {s.get('dtype')}, engine precision "
                f"{s.get('precision')}, {s.get('threads')} threads, CPU ISA {s.get('cpu_isa')}, {s.get('date')}",
                ""]

    def table_rows(self) -> list[str]:
        prefill = bool(self.scenario.prompt_tokens)
        head = ["system", "reqs", "prefill tok/s" if prefill else "out tok/s", "TTFT p50", "TTFT p95",
                "ITL p50", "ITL p95", "Airlock ×", "same tokens"]
        rows = [self._row(self.airlock, prefill, None)]
        rows += [self._row(b, prefill, self.ratio(b)) for b in self.baselines]
        widths = [max(len(str(r[i])) for r in [head] + rows) for i in range(len(head))]
        return ["  ".join(str(c).ljust(w) if i == 0 else str(c).rjust(w)
                          for i, (c, w) in enumerate(zip(r, widths))) for r in [head] + rows]

    def table_notes(self) -> list[str]:
        notes = [f"  {b.name}: {b.note}" for b in [self.airlock] + self.baselines if b.note]
        return ["", "notes:", *notes] if notes else []

    def _row(self, result: SystemResult, prefill: bool, ratio: float | None) -> list[str]:
        f = result.figures()
        rate = f["prefill_tokens_per_s"] if prefill else f["output_tokens_per_s"]
        same = "-" if result.same_tokens is None else f"{result.same_tokens:.0%}"
        return [result.name, str(f["requests"]), f"{rate:.1f}", seconds(f["ttft_p50_s"]), seconds(f["ttft_p95_s"]),
                seconds(f["itl_p50_s"]), seconds(f["itl_p95_s"]), "-" if ratio is None else f"{ratio:.2f}",
                same]


def seconds(value: float | None) -> str:
    if value is None:
        return "-"
    return f"{value * 1000:.1f} ms" if value < 1 else f"{value:.2f} s"
