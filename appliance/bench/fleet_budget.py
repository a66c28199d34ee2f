"""What a budget hold costs: one `KeyBudgets.hold` + `settle` pair (two write transactions),
the price every keyed request pays for a budget that holds across the fleet."""
from __future__ import annotations

import statistics
import time
from dataclasses import dataclass, field

from sqlalchemy import Engine

from appliance.auth.budgets import KeyBudgets
from appliance.auth.keys import KeySpec, KeyStore
from engine.bench.common import Machine, Report


@dataclass(frozen=True, slots=True)
class HoldCost(Report):
    database: str            # the dialect: sqlite, postgresql
    pairs: int
    p50_ms: float
    p95_ms: float
    per_second: float        # hold + settle pairs per second, one thread
    machine: Machine = field(default_factory=lambda: Machine.now(with_torch=False))

    def table_title(self) -> list[str]:
        return [self.machine.line()]

    def table_rows(self) -> list[str]:
        return [f"{self.database}: {self.pairs} hold+settle pairs, p50 {self.p50_ms:.2f} ms, "
                f"p95 {self.p95_ms:.2f} ms, {self.per_second:.0f} pairs/s (one thread)"]


def hold_cost(db: Engine, pairs: int = 500) -> HoldCost:
    """Time `pairs` hold + settle pairs of a fresh key on a migrated database."""
    if pairs < 1:
        raise ValueError(f"pairs must be an integer of at least 1, got {pairs!r}")
    key = KeyStore(db).create(KeySpec(name="bench-budget", token_budget=2**31 - 1))[0]
    budgets = KeyBudgets(db, "bench")
    times = []
    for _ in range(pairs):
        start = time.perf_counter()
        budgets.hold(key.id, 100)
        budgets.settle(key.id, 100, 60)
        times.append(time.perf_counter() - start)
    cuts = statistics.quantiles(times, n=20) if pairs > 1 else times * 19
    return HoldCost(db.dialect.name, pairs, statistics.median(times) * 1000, cuts[18] * 1000, pairs / sum(times))
