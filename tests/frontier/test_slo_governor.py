"""The SLO governor and the scheduler's run-time caps, from plain numbers (no model)."""
from __future__ import annotations

import pytest

from engine.block_manager import BlockManager
from engine.config import EngineConfig
from engine.outputs import RequestMetrics
from engine.scheduler import Scheduler
from engine.slo import Slo, SloGovernor, SloQueueFull, StepTimeFit
from engine.sampling_params import SamplingParams
from engine.sequence import Sequence


def scheduler(**kw: int) -> Scheduler:
    config = EngineConfig(block_size=4, max_num_batched_tokens=64, max_num_seqs=16, **kw)
    return Scheduler(config, BlockManager(128, 4, config.cache, model_name="m"))


def seq(n: int, first: int) -> Sequence:
    return Sequence("r", list(range(first, first + n)), SamplingParams(max_tokens=8))


def test_prefill_chunk_caps_each_sequence_per_step() -> None:
    s = scheduler(max_prefill_chunk=8)
    for i in range(3):
        s.add(seq(20, 100 * i))
    batch = s.schedule()
    assert batch.num_tokens == [8, 8, 8]                  # not 20 + 20 + 20 within 64


def test_run_time_caps_hold_back_admission_and_tokens() -> None:
    s = scheduler()
    s.seq_limit, s.token_limit = 2, 10
    for i in range(4):
        s.add(seq(6, 100 * i))
    batch = s.schedule()
    assert len(batch) == 2 and batch.total_tokens == 10 and len(s.waiting) == 2
    s.seq_limit = s.token_limit = None
    assert len(s.schedule()) == 4                         # lifted: the rest are admitted


def test_step_time_fit_finds_the_line_and_the_tokens_within_a_target() -> None:
    fit = StepTimeFit()
    assert fit.tokens_within(0.1) is None                 # nothing to fit yet
    for tokens in (1, 8, 16, 32, 64, 1, 8, 16):
        fit.add(tokens, 0.02 + 0.001 * tokens)
    a, b = fit.line()
    assert a == pytest.approx(0.02) and b == pytest.approx(0.001)
    assert fit.tokens_within(0.1) == 80
    assert fit.tokens_within(1.0) == 128                 # 980 by the line, but no more than 2 x 64 seen


def test_a_lowered_cap_never_starves_running_decodes() -> None:
    s = scheduler()
    for i in range(6):
        s.add(seq(2, 100 * i))
    s.schedule()
    for q in s.running:                                   # all six prefilled, now decoding
        s.advance(q, 2)
        q.token_ids.append(7)
    s.seq_limit = s.token_limit = 2
    s.add(seq(4, 999))
    batch = s.schedule()
    assert batch.num_tokens == [1] * 6 and len(s.waiting) == 1      # every runner decodes, none admitted


def metrics(ttft: float, gaps: list[float], t0: float = 0.0) -> RequestMetrics:
    return RequestMetrics("r", arrival_time=t0, arrival_clock=t0, ttft=ttft, inter_token_latencies=gaps,
                          completion_tokens=len(gaps) + 1, finished_clock=t0 + ttft + sum(gaps))


def test_attainment_counts_requests_within_both_targets_over_five_minutes() -> None:
    now = [1000.0]
    governor = SloGovernor(Slo(ttft_p95=1.0, itl_p95=0.1), clock=lambda: now[0])
    governor.record(metrics(0.5, [0.05] * 20))            # met
    governor.record(metrics(2.0, [0.05] * 20))            # TTFT missed
    governor.record(metrics(0.5, [0.05] * 10 + [0.5] * 10))   # ITL p95 missed
    live = governor.live()
    assert live["requests"] == 3 and live["attainment"] == pytest.approx(1 / 3)
    now[0] += 301
    assert governor.live()["requests"] == 0 and governor.live()["attainment"] is None


def test_admission_refuses_when_the_expected_wait_breaks_the_ttft_target() -> None:
    governor = SloGovernor(Slo(ttft_p95=2.0))
    governor.check_admission(queued=50, running=4, running_limit=4)      # no service time known yet
    for _ in range(4):
        governor.record(metrics(0.1, [0.1] * 9))          # 1 s of service each
    governor.check_admission(queued=0, running=3, running_limit=4)       # a free slot
    governor.check_admission(queued=3, running=4, running_limit=4)       # 1 round: 1 s
    with pytest.raises(SloQueueFull, match="expected wait of 3.0 s would break the TTFT target of 2.0 s") as exc:
        governor.check_admission(queued=8, running=4, running_limit=4)
    assert exc.value.retry_after >= 1 and governor.live()["rejected"] == 1
