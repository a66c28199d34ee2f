"""A recorded sweep (hand-made figures of the shape `airlock bench sweep` writes) for the tests."""
from __future__ import annotations

from engine.bench.frontier import SchedulerSetting, SweepPoint, mark_pareto

SMALL, MID, BIG = SchedulerSetting(8, 256), SchedulerSetting(32, 512, 128), SchedulerSetting(64, 1024, 256)


def point(concurrency: int, setting: SchedulerSetting, tok_s: float, ttft95: float, itl95: float) -> SweepPoint:
    return SweepPoint(concurrency=concurrency, setting=setting, requests=concurrency * 2, output_tokens=1000,
                      wall_seconds=1000 / tok_s, output_tokens_per_s=tok_s, ttft_p50_s=ttft95 / 2,
                      ttft_p95_s=ttft95, itl_p50_s=itl95 / 2, itl_p95_s=itl95, kv_peak_usage=0.5,
                      kv_peak_mib=10.0, cost_per_million_output=100.0 / tok_s)


def recorded_points() -> list[SweepPoint]:
    return mark_pareto([
        point(1, SMALL, 40.0, 0.05, 0.025),
        point(4, SMALL, 110.0, 0.20, 0.040),
        point(16, SMALL, 150.0, 1.50, 0.060),     # 8 running, 8 queued: long TTFT
        point(16, MID, 190.0, 0.60, 0.090),
        point(64, MID, 200.0, 4.00, 0.100),
        point(64, BIG, 230.0, 1.20, 0.250),
        point(16, BIG, 185.0, 0.50, 0.110),       # dominated by (16, MID): slower and later
    ])
