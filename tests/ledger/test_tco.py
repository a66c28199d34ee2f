"""TCO arithmetic on worked examples; each expected figure is computed by hand in a comment."""
from __future__ import annotations

from datetime import timedelta
from pathlib import Path

import pytest

from appliance.ledger import InvalidTco, TcoInputs
from appliance.ledger.prices import InvalidPriceTable, load_cloud_prices
from appliance.ledger.tco import CloudPrice, UsageWindow, cost_of_compute, cost_per_hour_owned, tco_report
from .support import T0, TCO

approx = pytest.approx


def test_cost_per_hour_owned_worked_example() -> None:
    # capital:    (30000 - 3000) / (3 x 8760)      = 27000 / 26280  = 1.0273972602739727
    # energy:     0.7 kW x 1.4 x 0.15 x 0.5                         = 0.0735
    # operations: 200 / 730                                         = 0.2739726027397260
    # total                                                         = 1.3748698630136987
    assert cost_per_hour_owned(TCO) == approx(1.3748698630136987, rel=1e-12)
    # at full utilisation the energy term doubles to 0.147          = 1.4483698630136987
    assert cost_per_hour_owned(TCO, utilisation=1.0) == approx(1.4483698630136987, rel=1e-12)
    # a request using 90 compute seconds: 1.3748698630136987 x 90 / 3600 = 0.034371746575342466
    assert cost_of_compute(TCO, 90) == approx(0.034371746575342466, rel=1e-12)


def test_round_numbers_example() -> None:
    # capital (8760 + 0) / (1 x 8760) = 1.0; energy 1 kW x 1.5 x 0.2 x 1.0 = 0.3; ops 73 / 730 = 0.1
    inputs = TcoInputs(hardware_price=8760, amortization_years=1, residual_value=0, power_watts=1000,
                       price_per_kwh=0.2, pue=1.5, operations_per_month=73, utilisation=1.0)
    assert cost_per_hour_owned(inputs) == approx(1.4)


def test_window_report_worked_example() -> None:
    inputs = TcoInputs(hardware_price=8760, amortization_years=1, residual_value=0, power_watts=1000,
                       price_per_kwh=0.2, pue=1.5, operations_per_month=73)
    # 10 hours, 18000 busy seconds = 5 hours -> measured utilisation 0.5
    window = UsageWindow(hours=10, requests=1000, busy_seconds=18000, prefill_seconds=1000,
                         decode_seconds=3000, input_tokens=2_500_000, cached_tokens=500_000,
                         output_tokens=1_000_000)
    price = CloudPrice("Cloud", "big", input_per_million=3.0, output_per_million=15.0,
                       currency="USD", price_date="2025-01-01", source="list")
    report = tco_report(inputs, window, [price])
    # per hour at u = 0.5: 1.0 + 1 x 1.5 x 0.2 x 0.5 + 0.1 = 1.25
    assert report.cost_per_hour_owned == approx(1.25)
    assert report.window_cost == approx(12.5)                       # 1.25 x 10 h
    assert report.idle_cost == approx(6.25)                         # 12.5 x (1 - 0.5)
    # split by time: prefill 1000 / 4000 = 1/4 -> input 3.125, output 9.375
    # input per million counts computed prompt tokens: 3.125 / 2.0M x 1M = 1.5625
    assert report.cost_per_million_input == approx(1.5625)
    assert report.cost_per_million_output == approx(9.375)          # 9.375 / 1.0M x 1M
    assert report.cached_savings == approx(0.78125)                 # 0.5M x 1.5625 / 1M
    # cloud: 2.5M x 3 / 1M + 1M x 15 / 1M = 7.5 + 15 = 22.5; savings 22.5 - 12.5 = 10
    (cloud,) = report.cloud
    assert (cloud.cloud_cost, cloud.on_prem_cost, cloud.savings) == (approx(22.5), approx(12.5), approx(10.0))
    assert report.to_dict()["measured_utilisation"] == 0.5


def test_empty_window_has_no_per_token_cost() -> None:
    report = tco_report(TCO, UsageWindow(hours=2), [])
    # idle machine: u = 0 -> 1.0273972602739727 + 0 + 0.273972602739726 = 1.3013698630136987 per hour
    assert report.window_cost == approx(2 * 1.3013698630136987)
    assert report.idle_cost == report.window_cost
    assert report.cost_per_million_input is None and report.cost_per_million_output is None


@pytest.mark.parametrize(("change", "message"), [
    ({"amortization_years": 0}, "amortization_years must be positive"),
    ({"residual_value": 40000}, "residual_value .40000.0. exceeds hardware_price"),
    ({"pue": 0.9}, "pue must be at least 1"),
    ({"utilisation": 1.5}, "utilisation must be between 0 and 1"),
    ({"price_per_kwh": -1}, "price_per_kwh must be a finite non-negative number"),
    ({"power_watts": "lots"}, "power_watts must be a finite non-negative number"),
    ({"colour": "red"}, "unknown TCO input.s.: colour"),
])
def test_bad_inputs_are_named(change: dict, message: str) -> None:
    with pytest.raises(InvalidTco, match=message):
        TcoInputs.from_mapping({**TCO.to_dict(), **change})


def test_shipped_price_table_is_dated_and_sourced() -> None:
    prices = load_cloud_prices()
    assert len(prices) >= 10
    assert all(p.price_date[:2] == "20" and p.source and p.input_per_million > 0 for p in prices)


def test_a_broken_price_table_names_the_line(tmp_path: Path) -> None:
    table = tmp_path / "prices.csv"
    table.write_text("provider,model,input_per_million,output_per_million,currency,price_date,source\n"
                     "A,m,1,2,USD,2025-01-01,list\nB,n,cheap,2,USD,2025-01-01,list\n")
    with pytest.raises(InvalidPriceTable, match="line 3: input_per_million must be a non-negative number"):
        load_cloud_prices(table)


def test_ledger_tco_from_recorded_usage_and_set_tco(ledger, record) -> None:
    # two requests in a 1-hour window: compute 900 s each -> 1800 s busy, u = 0.5
    # prefill (ttft - queue) 0.4 s each, decode (duration - ttft) 1.5 s each
    ledger.record(record(request_id="a", compute_seconds=900.0, prompt_tokens=1000, cached_tokens=200,
                         completion_tokens=300))
    ledger.record(record(request_id="b", compute_seconds=900.0, prompt_tokens=1000, cached_tokens=0,
                         completion_tokens=500))
    report = ledger.tco(since=T0, until=T0 + timedelta(hours=1))
    assert report.window.utilisation == 0.5
    assert report.cost_per_hour_owned == approx(1.3748698630136987)   # u = 0.5, as TCO's default
    # input share 0.8 / (0.8 + 3.0); 1800 computed prompt tokens
    assert report.cost_per_million_input == approx(1.3748698630136987 * 0.8 / 3.8 / 1800 * 1e6)
    assert report.cost_per_million_output == approx(1.3748698630136987 * 3.0 / 3.8 / 800 * 1e6)
    updated = ledger.set_tco({"hardware_price": 3000.0, "residual_value": 0.0, "amortization_years": 1.0})
    # capital 3000 / 8760 = 0.3424657534246575; at the input utilisation 0.5 (used for each
    # row's cost): + 0.0735 + 0.273972602739726 = 0.6899383561643835
    assert updated.capital_per_hour == approx(0.3424657534246575)
    assert cost_per_hour_owned(ledger.tco_inputs) == approx(0.6899383561643835)
    assert ledger.tco_inputs.hardware_price == 3000.0
    with pytest.raises(InvalidTco, match="pue must be at least 1"):
        ledger.set_tco({"pue": 0.5})
    assert ledger.tco_inputs.pue == 1.4                               # refused change left no trace
