"""The dashboard's figures, read from GET /admin/stats (one snapshot per poll)."""
from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from tui.figures import as_list, first, number


@dataclass(slots=True)
class Gpu:
    name: str
    utilization: float | None
    memory_used: float | None
    memory_total: float | None
    power_watts: float | None
    temperature_c: float | None


@dataclass(slots=True)
class LiveStats:
    tokens_per_second: float | None = None
    generation_tokens_total: float | None = None
    running: int = 0
    waiting: int = 0
    ttft_p50: float | None = None
    ttft_p95: float | None = None
    itl_p50: float | None = None
    itl_p95: float | None = None
    kv_usage: float | None = None
    prefix_hit_rate: float | None = None
    response_hit_rate: float | None = None
    cpu_percent: float | None = None
    ram_used: float | None = None
    ram_total: float | None = None
    gpus: list[Gpu] = field(default_factory=list)
    models: list[str] = field(default_factory=list)
    spec_draft_tokens: int = 0           # speculative draft tokens verified, all models, since start
    spec_accepted_tokens: int = 0        # of which accepted

    @property
    def spec_acceptance(self) -> float | None:
        return self.spec_accepted_tokens / self.spec_draft_tokens if self.spec_draft_tokens else None


def _sum(models: list[dict], *names: str) -> float | None:
    values = [number(first(m, *names)) for m in models]
    values = [v for v in values if v is not None]
    return sum(values) if values else None


def _max(models: list[dict], *names: str) -> float | None:
    values = [number(first(m, *names)) for m in models]
    values = [v for v in values if v is not None]
    return max(values) if values else None


def _gpu(raw: dict) -> Gpu:
    return Gpu(
        name=str(first(raw, "name", default="GPU")),
        utilization=number(first(raw, "utilization", "util", "utilization_percent")),
        memory_used=number(first(raw, "memory_used_bytes", "memory_used")),
        memory_total=number(first(raw, "memory_total_bytes", "memory_total")),
        power_watts=number(first(raw, "power_watts", "power")),
        temperature_c=number(first(raw, "temperature_c", "temperature")),
    )


def read_stats(data: Any) -> LiveStats:
    """Engine figures summed (counts) or maxed (fractions) over the loaded models. Latency
    percentiles come from /metrics (see the dashboard), unless the service adds them here."""
    models = as_list(data, "models", "engines")
    machine = first(data, "machine", default={}) or {}
    latency = first(data, "latency", default={}) or {}
    return LiveStats(
        tokens_per_second=number(first(data, "tokens_per_second")),
        generation_tokens_total=_sum(models, "generation_tokens_total"),
        running=int(number(first(data, "queue.running")) or _sum(models, "running") or 0),
        waiting=int(number(first(data, "queue.waiting")) or _sum(models, "waiting") or 0),
        ttft_p50=number(first(latency, "ttft_p50")),
        ttft_p95=number(first(latency, "ttft_p95")),
        itl_p50=number(first(latency, "itl_p50")),
        itl_p95=number(first(latency, "itl_p95")),
        kv_usage=_max(models, "kv_usage"),
        prefix_hit_rate=_max(models, "cache.window_hit_rate", "prefix_cache_hit_rate"),
        response_hit_rate=number(first(data, "response_cache.hit_rate", "response_cache_hit_rate")),
        cpu_percent=number(first(machine, "cpu_percent")),
        ram_used=number(first(machine, "ram_used_bytes")),
        ram_total=number(first(machine, "ram_total_bytes")),
        gpus=[_gpu(g) for g in as_list(machine, "gpus") if isinstance(g, dict)],
        models=[str(first(m, "model", "name", default="?")) for m in models],
        spec_draft_tokens=int(_sum(models, "spec_num_draft_tokens") or 0),
        spec_accepted_tokens=int(_sum(models, "spec_num_accepted_tokens") or 0),
    )


def with_rate(now: LiveStats, before: LiveStats | None, seconds: float) -> LiveStats:
    """Fill tokens/s from the growth of the generated-token total when the service gives none."""
    if now.tokens_per_second is None and before and seconds > 0:
        if now.generation_tokens_total is not None and before.generation_tokens_total is not None:
            now.tokens_per_second = max(now.generation_tokens_total - before.generation_tokens_total, 0) / seconds
    return now
