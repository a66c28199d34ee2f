"""Reports by route and tier, and cost per 1M tokens per tier with routing's savings."""
from __future__ import annotations

from datetime import timedelta

import pytest

from .support import T0


def test_usage_groups_by_route_and_tier_and_tco_prices_each_tier(open_ledger, record) -> None:
    ledger = open_ledger()
    rows = [("small", "int8", "auto", "default", 100, 0.5), ("small", "int8", "auto", "spill", 100, 0.5),
            ("big", "fp32", "auto", "complex", 100, 4.0), ("big", "fp32", None, None, 100, 4.0)]
    for i, (model, quantization, route, rule, tokens, seconds) in enumerate(rows):
        ledger.record(record(request_id=f"r{i}", model=model, quantization=quantization, route=route, rule=rule,
                             prompt_tokens=tokens - 20, completion_tokens=20, compute_seconds=seconds, cost=seconds,
                             created_at=T0 + timedelta(minutes=i)))
    report = ledger.report("day", "route")
    assert [(r["route"], r["tier"], r["requests"]) for r in report] == [(None, "big", 1), ("auto", "big", 1),
                                                                        ("auto", "small", 2)]
    assert "period,route,tier,requests" in ledger.report_csv("day", "route")
    costs = ledger.tier_costs(T0 - timedelta(hours=1), T0 + timedelta(hours=1))
    tiers = {t["tier"]: t for t in costs["tiers"]}
    assert tiers["small"]["cost_per_million_tokens"] == pytest.approx(1.0 / 200 * 1e6)
    assert tiers["big"]["cost_per_million_tokens"] == pytest.approx(8.0 / 200 * 1e6)
    assert (tiers["big"]["routed_requests"], tiers["small"]["routed_requests"]) == (1, 2)
    routing = costs["routing"]
    assert routing["largest_tier"] == "big"
    assert routing["routed_cost"] == pytest.approx(5.0)
    assert routing["always_largest_cost"] == pytest.approx(300 * 8.0 / 200)     # 300 routed tokens at big's rate
    assert routing["savings"] == pytest.approx(12.0 - 5.0)


def test_no_routed_rows_saves_nothing(open_ledger, record) -> None:
    ledger = open_ledger()
    ledger.record(record())
    assert ledger.tier_costs(T0 - timedelta(hours=1), T0 + timedelta(hours=1))["routing"]["savings"] == 0.0
