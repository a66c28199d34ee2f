"""Ledger fixtures: a real SQLite file per test, a constant power source for exact energy."""
from __future__ import annotations

from collections.abc import Callable, Iterator
from datetime import UTC, datetime
from pathlib import Path

import pytest

from appliance.ledger import Ledger, TcoInputs, UsageRecord
from appliance.ledger.energy import ConstantPower

T0 = datetime(2026, 3, 2, 9, 0, tzinfo=UTC)   # a Monday
TCO = TcoInputs(hardware_price=30000, amortization_years=3, residual_value=3000, power_watts=700,
                price_per_kwh=0.15, pue=1.4, operations_per_month=200, utilisation=0.5)


def make_record(**overrides: object) -> UsageRecord:
    fields: dict[str, object] = dict(
        request_id="req-1", created_at=T0, key_id="key_a", key_name="alice", tenant="bank",
        model="smollm2-135m-instruct", quantization="int8", endpoint="chat.completions",
        prompt_tokens=100, cached_tokens=0, completion_tokens=20, finish_reason="stop",
        queue_seconds=0.1, ttft_seconds=0.5, duration_seconds=2.0, compute_seconds=1.0)
    fields.update(overrides)
    return UsageRecord(**fields)


@pytest.fixture
def record() -> Callable[..., UsageRecord]:
    return make_record


@pytest.fixture
def db_url(tmp_path: Path) -> str:
    return f"sqlite:///{tmp_path / 'airlock.db'}"


@pytest.fixture
def open_ledger(db_url: str) -> Iterator[Callable[..., Ledger]]:
    opened: list[Ledger] = []

    def _open(flush_interval: float = 0.2, watts: float = 360.0) -> Ledger:
        ledger = Ledger.open(db_url, flush_interval=flush_interval, tco=TCO, host_watts=watts,
                             power_source=ConstantPower(watts))
        opened.append(ledger)
        return ledger

    yield _open
    for ledger in opened:
        ledger.close()


@pytest.fixture
def ledger(open_ledger: Callable[..., Ledger]) -> Ledger:
    return open_ledger()
