"""`airlock usage chargeback` on a hand-made month of ledger rows, against a worked example.

The worked example (February 2026: 28 days = 672 hours):
  TCO inputs: hardware 87,600, residual 0, 1 year, no power, no operations cost
      -> cost per hour owned = 87,600 / 8,760 = 10.00; the month costs 672 x 10 = 6,720.
  Rows: bank 3 requests x 120,960 compute seconds = 362,880 s (75% of busy time);
        clinic 1 request x 120,960 s = 120,960 s (25%). Busy 483,840 s = 134.4 h = 20% of 672 h.
      -> used capacity 6,720 x 20% = 1,344: bank 1,008, clinic 336.
      -> idle capacity 6,720 x 80% = 5,376: by share bank 4,032, clinic 1,344; or one central line.
  Each request spends a quarter of its time in prefill, so input tokens carry 6,720 / 4 = 1,680.
  Computed prompt tokens: bank 3 x (1,000,000 - 400,000 cached) + clinic 1,200,000 = 3,000,000
      -> 560 per million; bank's 1,200,000 cached tokens saved 672, clinic's none.
  A January and a March row must not count.
"""
from __future__ import annotations

import csv
import io
import json
from datetime import UTC, datetime
from pathlib import Path

import pytest

from appliance.cli import main
from appliance.ledger import Ledger, TcoInputs
from appliance.ledger.energy import ConstantPower

from .support import make_record

EXAMPLE_TCO = TcoInputs(hardware_price=87_600, amortization_years=1, residual_value=0, power_watts=0,
                        price_per_kwh=0.15, pue=1.0, operations_per_month=0, currency="EUR")
BUSY = 120_960.0


def _row(n: int, tenant: str, day: datetime, prompt: int, cached: int) -> object:
    return make_record(request_id=f"r{n}", created_at=day, key_id=f"key_{tenant}", key_name=tenant, tenant=tenant,
                       prompt_tokens=prompt, cached_tokens=cached, completion_tokens=100_000, queue_seconds=0.0,
                       ttft_seconds=BUSY / 4, duration_seconds=BUSY, compute_seconds=BUSY)


@pytest.fixture()
def config(tmp_path: Path) -> str:
    ledger = Ledger.open(f"sqlite:///{tmp_path / 'airlock.db'}", tco=EXAMPLE_TCO, host_watts=0,
                         power_source=ConstantPower(0))
    rows = [_row(i, "bank", datetime(2026, 2, 3 + 7 * i, 12, tzinfo=UTC), 1_000_000, 400_000) for i in range(3)]
    rows += [_row(3, "clinic", datetime(2026, 2, 27, 23, 59, tzinfo=UTC), 1_200_000, 0),
             _row(4, "bank", datetime(2026, 1, 31, 23, 59, tzinfo=UTC), 5, 0),
             _row(5, "clinic", datetime(2026, 3, 1, 0, 0, tzinfo=UTC), 5, 0)]
    for row in rows:
        ledger.record(row)
    ledger.close()
    path = tmp_path / "airlock.toml"
    path.write_text(f'data_dir = "{tmp_path}"\n')
    return str(path)


def _chargeback(config: str, capsys, *args: str) -> str:
    assert main(["usage", "chargeback", "--period", "month", "--start", "2026-02-10", "--config", config, *args]) == 0
    return capsys.readouterr().out


def test_shares_used_and_idle_capacity_match_the_worked_example(config: str, capsys) -> None:
    report = json.loads(_chargeback(config, capsys, "--format", "json"))
    assert (report["since"], report["until"]) == ("2026-02-01T00:00:00+00:00", "2026-03-01T00:00:00+00:00")
    assert report["hours"] == 672 and report["utilisation"] == pytest.approx(0.2)
    assert report["period_cost"] == pytest.approx(6720)
    assert (report["used_cost"], report["idle_cost"]) == (pytest.approx(1344), pytest.approx(5376))
    rows = {r["tenant"]: r for r in report["rows"]}
    assert set(rows) == {"bank", "clinic"}
    bank, clinic = rows["bank"], rows["clinic"]
    assert (bank["requests"], bank["prompt_tokens"], bank["cached_tokens"]) == (3, 3_000_000, 1_200_000)
    assert (bank["compute_share"], clinic["compute_share"]) == (pytest.approx(0.75), pytest.approx(0.25))
    assert (bank["used_cost"], bank["idle_cost"], bank["total_cost"]) == (
        pytest.approx(1008), pytest.approx(4032), pytest.approx(5040))
    assert (clinic["used_cost"], clinic["idle_cost"], clinic["total_cost"]) == (
        pytest.approx(336), pytest.approx(1344), pytest.approx(1680))
    assert (bank["cached_savings"], clinic["cached_savings"]) == (pytest.approx(672), 0)


def test_idle_kept_central_is_its_own_line_and_lines_add_up_to_the_tco_cost(config: str, capsys) -> None:
    report = json.loads(_chargeback(config, capsys, "--format", "json", "--idle", "central"))
    rows = {r["tenant"]: r for r in report["rows"]}
    assert (rows["bank"]["total_cost"], rows["clinic"]["total_cost"]) == (pytest.approx(1008), pytest.approx(336))
    assert rows["(idle capacity)"]["idle_cost"] == pytest.approx(5376)
    assert main(["usage", "tco", "--since", "2026-02-01", "--until", "2026-03-01", "--format", "json",
                 "--config", config]) == 0
    tco = json.loads(capsys.readouterr().out)
    assert sum(r["total_cost"] for r in report["rows"]) == pytest.approx(tco["window_cost"]) == pytest.approx(6720)
    assert sum(r["cached_savings"] for r in report["rows"]) == pytest.approx(tco["cached_savings"])


def test_csv_and_a_printable_html_report_with_a_chart(config: str, capsys, tmp_path: Path) -> None:
    rows = list(csv.DictReader(io.StringIO(_chargeback(config, capsys, "--format", "csv"))))
    assert [r["tenant"] for r in rows] == ["bank", "clinic"] and float(rows[0]["total_cost"]) == pytest.approx(5040)
    out = tmp_path / "feb.html"
    assert "wrote the month's chargeback" in _chargeback(config, capsys, "--format", "html", "-o", str(out))
    page = out.read_text()
    assert page.startswith("<!doctype html>") and "<svg" in page and "@media print" in page
    assert page.count('class="idle"') == 3 and "bank" in page and "6,720.00 EUR" in page
    assert "<script" not in page and "src=" not in page        # self-contained, nothing fetched
    assert "used 1344.00 + idle 5376.00" in _chargeback(config, capsys)


def test_a_period_not_begun_is_a_clear_error(config: str, capsys) -> None:
    assert main(["usage", "chargeback", "--start", "2099-01-01", "--config", config]) == 2
    assert "has not begun yet" in capsys.readouterr().err
