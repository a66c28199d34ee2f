"""Ledger fixtures: a real SQLite file per test, a constant power source for exact energy."""
from __future__ import annotations

from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

from appliance.ledger import Ledger, UsageRecord
from appliance.ledger.energy import ConstantPower

from .support import TCO, make_record


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
