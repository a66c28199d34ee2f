"""The dashboard's figures, read from GET /admin/stats (one snapshot per poll)."""
from __future__ import annotations

from dataclasses import dataclass, field

from tui.payloads import Gpu, Stats


@dataclass(slots=True)
class LiveStats:
    tokens_per_second: float | None = None     # from the growth of generation_tokens_total
    generation_tokens_total: float | None = None
    running: int = 0
    waiting: int = 0
    ttft_p50: float | None = None              # latency percentiles: from /metrics (the dashboard)
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


def _sum(values: list[float | None]) -> float | None:
    present = [v for v in values if v is not None]
    return sum(present) if present else None


def _max(values: list[float | None]) -> float | None:
    return max((v for v in values if v is not None), default=None)


def read_stats(stats: Stats) -> LiveStats:
    """Engine figures summed (counts) or maxed (fractions) over the loaded models."""
    models = list(stats.models.values())
    machine = stats.machine
    return LiveStats(
        generation_tokens_total=_sum([m.generation_tokens_total for m in models]),
        running=stats.queue.running,
        waiting=stats.queue.waiting,
        kv_usage=_max([m.kv_usage for m in models]),
        prefix_hit_rate=_max([m.cache.window_hit_rate for m in models]),
        response_hit_rate=stats.response_cache.lookup_hit_rate if stats.response_cache else None,
        cpu_percent=machine.cpu_percent,
        ram_used=machine.ram_used_bytes,
        ram_total=machine.ram_total_bytes,
        gpus=list(machine.gpus),
        models=[m.model for m in models],
        spec_draft_tokens=sum(m.spec_num_draft_tokens for m in models),
        spec_accepted_tokens=sum(m.spec_num_accepted_tokens for m in models),
    )


def with_rate(now: LiveStats, before: LiveStats | None, seconds: float) -> LiveStats:
    """Fill tokens/s from the growth of the generated-token total between two polls."""
    if now.tokens_per_second is None and before and seconds > 0:
        if now.generation_tokens_total is not None and before.generation_tokens_total is not None:
            now.tokens_per_second = max(now.generation_tokens_total - before.generation_tokens_total, 0) / seconds
    return now
