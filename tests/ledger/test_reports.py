"""Reports by day/week/month x key/tenant/model, top consumers, exports and `airlock usage`,
over a fixed set of rows placed around day, week (Monday) and month boundaries (UTC)."""
from __future__ import annotations

import csv
import io
import json
from datetime import UTC, datetime
from pathlib import Path

import pytest

from appliance.cli import main
from appliance.ledger.reports import InvalidReport
from .support import make_record

ROWS = [  # request_id, time (UTC), key_id, key_name, tenant, model, prompt, cached, completion, cost
    ("r1", "2026-03-02T09:00:00", "key_a", "alice", "bank", "m1", 100, 10, 20, 0.01),      # Monday
    ("r2", "2026-03-02T23:59:59", "key_a", "alice", "bank", "m2", 50, 0, 5, 0.02),
    ("r3", "2026-03-03T00:00:00", "key_b", "bob", "bank", "m1", 10, 0, 10, 0.03),
    ("r4", "2026-03-08T23:30:00", "key_c", "carol", "clinic", "m1", 7, 0, 3, 0.04),       # Sunday
    ("r5", "2026-03-09T00:30:00", "key_c", "carol", "clinic", "m1", 1000, 0, 1, 0.5),     # next Monday
    ("r6", "2026-04-01T00:00:00", "key_a", "alice", "bank", "m1", 1, 0, 1, 0.001),        # Wednesday
    ("r7", "2026-02-28T12:00:00", None, None, None, "m1", 2, 0, 2, 0.0),                  # Saturday, no auth
]


@pytest.fixture
def filled(ledger):
    for rid, when, key, name, tenant, model, prompt, cached, completion, cost in ROWS:
        ledger.record(make_record(request_id=rid, created_at=datetime.fromisoformat(when).replace(tzinfo=UTC),
                                  key_id=key, key_name=name, tenant=tenant, model=model, prompt_tokens=prompt,
                                  cached_tokens=cached, completion_tokens=completion, cost=cost,
                                  energy_wh=(prompt + completion) / 1000, compute_seconds=0.5))
    return ledger


def brief(rows: list[dict], label: str) -> list[tuple]:
    return [(r["period"], r[label], r["requests"], r["total_tokens"], round(r["cost"], 6)) for r in rows]


def test_day_by_key(filled) -> None:
    assert brief(filled.report("day", "key"), "key_id") == [
        ("2026-02-28", None, 1, 4, 0.0),
        ("2026-03-02", "key_a", 2, 175, 0.03),       # r1 + r2: 120 + 55 tokens, 23:59:59 still Monday
        ("2026-03-03", "key_b", 1, 20, 0.03),
        ("2026-03-08", "key_c", 1, 10, 0.04),
        ("2026-03-09", "key_c", 1, 1001, 0.5),
        ("2026-04-01", "key_a", 1, 2, 0.001),
    ]
    first = filled.report("day", "key")[1]
    assert (first["key_name"], first["prompt_tokens"], first["cached_tokens"], first["completion_tokens"]) == \
        ("alice", 150, 10, 25)
    assert (first["compute_seconds"], first["energy_wh"]) == (1.0, pytest.approx(0.175))


def test_week_by_tenant(filled) -> None:
    assert brief(filled.report("week", "tenant"), "tenant") == [
        ("2026-02-23", None, 1, 4, 0.0),
        ("2026-03-02", "bank", 3, 195, 0.06),        # r1 r2 r3
        ("2026-03-02", "clinic", 1, 10, 0.04),       # Sunday r4 belongs to the week of Monday 2 March
        ("2026-03-09", "clinic", 1, 1001, 0.5),
        ("2026-03-30", "bank", 1, 2, 0.001),         # Wednesday 1 April: week of Monday 30 March
    ]


def test_month_by_model(filled) -> None:
    assert brief(filled.report("month", "model"), "model") == [
        ("2026-02-01", "m1", 1, 4, 0.0),
        ("2026-03-01", "m1", 4, 1151, 0.58),         # r1 r3 r4 r5: 1117 prompt + 34 completion
        ("2026-03-01", "m2", 1, 55, 0.02),
        ("2026-04-01", "m1", 1, 2, 0.001),
    ]


def test_report_as_csv(filled) -> None:
    parsed = list(csv.DictReader(io.StringIO(filled.report_csv("week", "tenant"))))
    assert list(parsed[1]) == ["period", "tenant", "requests", "prompt_tokens", "cached_tokens",
                               "completion_tokens", "total_tokens", "compute_seconds", "energy_wh", "cost"]
    assert (parsed[1]["period"], parsed[1]["tenant"], parsed[1]["total_tokens"]) == ("2026-03-02", "bank", "195")


def test_window_bounds(filled) -> None:
    since, until = datetime(2026, 3, 2, tzinfo=UTC), datetime(2026, 3, 9, tzinfo=UTC)
    expected = [("2026-03-01", "key_a", 2, 175, 0.03), ("2026-03-01", "key_b", 1, 20, 0.03),
                ("2026-03-01", "key_c", 1, 10, 0.04)]
    assert brief(filled.report("month", "key", since, until), "key_id") == expected
    naive = (since.replace(tzinfo=None), until.replace(tzinfo=None))       # taken as UTC
    assert brief(filled.report("month", "key", *naive), "key_id") == expected
    assert filled.tokens_used("key_a", naive[0]) == 177


def test_top_consumers(filled) -> None:
    by_tokens = filled.top_consumers(n=2, by="tokens")
    assert [(r["key_id"], r["total_tokens"], r["tenant"]) for r in by_tokens] == [
        ("key_c", 1011, "clinic"), ("key_a", 177, "bank")]
    by_cost = filled.top_consumers(by="cost")
    assert [(r["key_id"], round(r["cost"], 6)) for r in by_cost] == [
        ("key_c", 0.54), ("key_a", 0.031), ("key_b", 0.03), (None, 0.0)]
    since = filled.top_consumers(by="tokens", since=datetime(2026, 3, 9, 0, 30, tzinfo=UTC))
    assert [(r["key_id"], r["total_tokens"]) for r in since] == [("key_c", 1001), ("key_a", 2)]


@pytest.mark.parametrize(("call", "message"), [
    (lambda ledger: ledger.report("year", "key"), "period must be one of"),
    (lambda ledger: ledger.report("day", "colour"), "group must be one of"),
    (lambda ledger: ledger.top_consumers(by="speed"), "by must be one of"),
    (lambda ledger: ledger.top_consumers(n=0), "n must be a positive integer"),
])
def test_bad_report_parameters_are_named(ledger, call, message: str) -> None:
    with pytest.raises(InvalidReport, match=message):
        call(ledger)


def test_csv_and_json_export(filled) -> None:
    rows = filled.export_json()
    assert [r["request_id"] for r in rows] == ["r7", "r1", "r2", "r3", "r4", "r5", "r6"]   # by time
    assert rows[1]["created_at"] == "2026-03-02T09:00:00+00:00"
    json.dumps(rows)                                                  # serialisable as is
    parsed = list(csv.DictReader(io.StringIO(filled.export_csv())))
    assert [r["request_id"] for r in parsed] == [r["request_id"] for r in rows]
    assert parsed[1]["prompt_tokens"] == "100" and parsed[1]["key_name"] == "alice"
    clinic = filled.export_json(tenant="clinic")
    assert [r["request_id"] for r in clinic] == ["r4", "r5"]
    window = filled.export_csv(datetime(2026, 3, 3, tzinfo=UTC), datetime(2026, 3, 9, tzinfo=UTC))
    assert [r["request_id"] for r in csv.DictReader(io.StringIO(window))] == ["r3", "r4"]


def test_usage_command_line(filled, db_url: str, tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    filled.flush()
    config = tmp_path / "airlock.toml"
    config.write_text(f'[ledger]\ndatabase_url = "{db_url}"\n')
    args = ["--config", str(config)]
    assert main(["usage", "report", "--period", "week", "--group", "tenant", "--format", "json", *args]) == 0
    weeks = json.loads(capsys.readouterr().out)
    assert [(r["period"], r["tenant"], r["total_tokens"]) for r in weeks][1] == ("2026-03-02", "bank", 195)
    assert main(["usage", "top", "-n", "1", *args]) == 0
    table = capsys.readouterr().out.splitlines()
    assert table[0].split()[:3] == ["key_id", "key_name", "tenant"] and table[1].split()[:3] == ["key_c", "carol", "clinic"]
    out = tmp_path / "rows.csv"
    assert main(["usage", "export", "--tenant", "bank", "--since", "2026-03-03", "-o", str(out), *args]) == 0
    assert capsys.readouterr().out == f"wrote 2 rows to {out}\n"
    assert [r["request_id"] for r in csv.DictReader(out.open())] == ["r3", "r6"]
    assert main(["usage", "top", "-n", "0", *args]) == 2
    assert "n must be a positive integer" in capsys.readouterr().err
    assert main(["usage", "tco", "--format", "json", *args]) == 0
    assert json.loads(capsys.readouterr().out)["inputs"]["hardware_price"] == 30000.0
    prices = tmp_path / "prices.csv"
    prices.write_text("provider,model\n")
    config.write_text(f'[ledger]\ndatabase_url = "{db_url}"\ncloud_prices_path = "{prices}"\n')
    assert main(["usage", "tco", *args]) == 1
    assert "missing column(s) input_per_million" in capsys.readouterr().err
