"""A tiny sweep on the real SmolLM2 engine: every point measured, figures consistent, Pareto marked."""
from __future__ import annotations

import pytest

from engine.bench.chat_mix import chat_mix_prompts, output_lengths
from engine.bench.frontier import SchedulerSetting
from engine.bench.sweep import SweepPlan, run_sweep


def test_sweep_measures_each_point_of_the_grid(smollm2_model) -> None:
    plan = SweepPlan(concurrency=(1, 3), settings=(SchedulerSetting(2, 64, 16), SchedulerSetting(4, 128)),
                     rounds=1, max_tokens=6, system_prompt=True)
    seen = []
    points = run_sweep(smollm2_model, plan, cost_per_hour=3.6, progress=lambda i, n, p: seen.append((i, n)))
    assert seen == [(0, 4), (1, 4), (2, 4), (3, 4), (4, 4)]
    assert [(p.concurrency, p.setting) for p in points] == plan.grid
    for p in points:
        assert p.requests == p.concurrency
        assert p.output_tokens == sum(output_lengths(6, p.concurrency))          # EOS ignored: exact lengths
        assert p.output_tokens_per_s > 0 and p.ttft_p95_s >= p.ttft_p50_s > 0
        assert p.itl_p95_s >= p.itl_p50_s > 0 and 0 < p.kv_peak_usage <= 1
        assert p.cost_per_million_output == pytest.approx(1000 / p.output_tokens_per_s)   # 3.6/h = 0.001/s
    assert any(p.pareto for p in points)
    best = max(points, key=lambda p: p.output_tokens_per_s)
    assert best.pareto                                                            # the fastest is never dominated


def test_chat_mix_has_mixed_lengths_and_a_shared_system_prompt(smollm2_model) -> None:
    tokenizer = smollm2_model.tokenizer
    plain, shared = chat_mix_prompts(tokenizer, 4), chat_mix_prompts(tokenizer, 4, system_prompt=True)
    assert len(plain[3]) > len(plain[2]) > 2 * len(plain[0])                     # short, short, medium, long
    common = next(i for i, (a, b) in enumerate(zip(shared[0], shared[1])) if a != b)
    assert common > 40                                                            # the system prompt is shared
    assert output_lengths(64, 4) == [64, 32, 48, 16]
