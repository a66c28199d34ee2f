"""A sweep over concurrency levels and scheduler settings, one in-process Engine per point.

Each point runs `concurrency` client threads in a closed loop (a client sends its next request
when the previous one ends) over the chat mix (engine/bench/chat_mix.py), sampling greedily
with EOS ignored so every request makes exactly its output length. The KV pool holds every
client's longest request at once, so no point is slowed by preemption; KV use is sampled as it
runs. Cost per 1M output tokens is the machine's cost per hour owned (at full utilisation,
since the sweep keeps it busy) spread over the point's output tokens per second.
"""
from __future__ import annotations

import itertools
import math
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass

from engine.bench.airlock import kv_dtype_for
from engine.bench.chat_mix import chat_mix_prompts, output_lengths
from engine.bench.common import at_least, percentile
from engine.bench.frontier import SchedulerSetting, SweepPoint, mark_pareto
from engine.config import EngineConfig
from engine.kv_format import KV_TORCH_DTYPES
from engine.llm_engine import Engine
from engine.loader import LoadedModel
from engine.model_runner import ModelRunner
from engine.sampling_params import SamplingParams

_BLOCK_SIZE = 16
_KV_POLL_SECONDS = 0.02

# (point index, points in all, the point just measured or None before the first)
Progress = Callable[[int, int, SweepPoint | None], None]


@dataclass(slots=True, frozen=True)
class SweepPlan:
    concurrency: tuple[int, ...]
    settings: tuple[SchedulerSetting, ...]
    rounds: int = 2                             # requests per client
    max_tokens: int = 64                        # the longest output; others are shares of it
    system_prompt: bool = False

    def __post_init__(self) -> None:
        if not self.concurrency or min(self.concurrency) < 1:
            raise ValueError(f"concurrency levels must be positive integers, got {self.concurrency!r}")
        if not self.settings:
            raise ValueError("a sweep needs at least one scheduler setting")
        at_least(self, 1, "rounds")
        at_least(self, 4, "max_tokens")

    @property
    def grid(self) -> list[tuple[int, SchedulerSetting]]:
        return list(itertools.product(self.concurrency, self.settings))

    def work(self, concurrency: int) -> int:
        """Relative cost of a point (output tokens it makes), for the progress bar's time left."""
        return concurrency * self.rounds * self.max_tokens


QUICK = SweepPlan(concurrency=(1, 4, 16), rounds=1, max_tokens=32,
                  settings=(SchedulerSetting(8, 256), SchedulerSetting(32, 512, 128)))
FULL = SweepPlan(concurrency=(1, 4, 16, 32, 64), rounds=2, max_tokens=64,
                 settings=(SchedulerSetting(8, 256), SchedulerSetting(32, 512, 128),
                           SchedulerSetting(64, 1024, 256)))


def run_sweep(model: LoadedModel, plan: SweepPlan, cost_per_hour: float | None,
              progress: Progress = lambda *_: None) -> list[SweepPoint]:
    points: list[SweepPoint] = []
    grid = plan.grid
    progress(0, len(grid), None)
    for i, (concurrency, setting) in enumerate(grid):
        point = run_point(model, plan, concurrency, setting)
        point.cost_per_million_output = cost_per_million(cost_per_hour, point.output_tokens_per_s)
        points.append(point)
        progress(i + 1, len(grid), point)
    return mark_pareto(points)


def cost_per_million(cost_per_hour: float | None, tokens_per_s: float) -> float | None:
    if cost_per_hour is None or tokens_per_s <= 0:
        return None
    return cost_per_hour / 3600 / tokens_per_s * 1_000_000


def run_point(model: LoadedModel, plan: SweepPlan, concurrency: int, setting: SchedulerSetting) -> SweepPoint:
    count = concurrency * plan.rounds
    prompts = chat_mix_prompts(model.tokenizer, count, plan.system_prompt)
    lengths = output_lengths(plan.max_tokens, count)
    engine = Engine(model, point_config(model, prompts, plan.max_tokens, concurrency, setting))
    try:
        engine.submit(prompts[0][:16], SamplingParams(max_tokens=2, temperature=0.0)).collect()
        kv = _KvSampler(engine)
        start = time.monotonic()
        streams = _closed_loop(engine, prompts, lengths, concurrency)
        kv.stop()
    finally:
        engine.shutdown(abort_running=True)
    wall = max(s.metrics.finished_clock for s in streams) - start
    return _figures(concurrency, setting, streams, wall, kv, engine)


def point_config(model: LoadedModel, prompts: list[list[int]], max_tokens: int, concurrency: int,
                 setting: SchedulerSetting) -> EngineConfig:
    longest = max(len(p) for p in prompts) + max_tokens
    blocks = (math.ceil(longest / _BLOCK_SIZE) + 2) * concurrency + 16
    kv_dtype = kv_dtype_for(model)
    block_bytes = ModelRunner.kv_bytes_per_block(model, _BLOCK_SIZE, KV_TORCH_DTYPES[kv_dtype])
    return EngineConfig(block_size=_BLOCK_SIZE, kv_cache_bytes=blocks * block_bytes, kv_dtype=kv_dtype,
                        max_num_seqs=setting.max_num_seqs, max_num_batched_tokens=setting.max_num_batched_tokens,
                        max_prefill_chunk=setting.max_prefill_chunk, max_waiting=len(prompts) + 8)


def _closed_loop(engine: Engine, prompts: list[list[int]], lengths: list[int], clients: int) -> list:
    streams: list = [None] * len(prompts)
    counter = itertools.count()

    def client() -> None:
        while (i := next(counter)) < len(prompts):
            params = SamplingParams(max_tokens=lengths[i], temperature=0.0, ignore_eos=True)
            streams[i] = engine.submit(prompts[i], params)
            streams[i].collect()

    threads = [threading.Thread(target=client, daemon=True) for _ in range(clients)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    return streams


class _KvSampler:
    """Polls the engine's KV use while a point runs and keeps the peak."""

    def __init__(self, engine: Engine) -> None:
        self.engine, self.peak_blocks = engine, 0
        self._done = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)
        self._thread.start()

    def _run(self) -> None:
        while not self._done.wait(_KV_POLL_SECONDS):
            self.peak_blocks = max(self.peak_blocks, self.engine.block_manager.num_used)

    def stop(self) -> None:
        self._done.set()
        self._thread.join()


def _figures(concurrency: int, setting: SchedulerSetting, streams: list, wall: float, kv: _KvSampler,
             engine: Engine) -> SweepPoint:
    metrics = [s.metrics for s in streams]
    tokens = sum(m.completion_tokens for m in metrics)
    ttfts = [m.ttft for m in metrics if m.ttft is not None]
    gaps = [g for m in metrics for g in m.inter_token_latencies]
    bm = engine.block_manager
    block_bytes = engine.config.kv_cache_bytes / bm.num_blocks
    return SweepPoint(concurrency=concurrency, setting=setting, requests=len(metrics), output_tokens=tokens,
                      wall_seconds=wall, output_tokens_per_s=tokens / wall if wall > 0 else 0.0,
                      ttft_p50_s=percentile(ttfts, 50), ttft_p95_s=percentile(ttfts, 95),
                      itl_p50_s=percentile(gaps, 50), itl_p95_s=percentile(gaps, 95),
                      kv_peak_usage=kv.peak_blocks / bm.num_blocks,
                      kv_peak_mib=kv.peak_blocks * block_bytes / 2**20)
