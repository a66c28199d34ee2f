"""The ledger on a real PostgreSQL server on loopback: migrations, writer, reports, budgets, TCO.
Skipped where no PostgreSQL server binaries are installed (the server: tests/postgres_support.py)."""
from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest
from sqlalchemy import inspect

from appliance.ledger import Ledger, database
from appliance.ledger.energy import ConstantPower
from .support import TCO, make_record
from .test_migrations import TABLES, schema_diff
from .test_reports import ROWS, brief


def test_migrations_on_postgresql(postgres_url: str) -> None:
    engine = database.make_engine(postgres_url)
    assert database.upgrade(engine) is None                   # no file to copy aside
    assert set(inspect(engine).get_table_names()) == TABLES
    assert schema_diff(engine) == []
    database.downgrade(engine, "base")
    assert set(inspect(engine).get_table_names()) == {"alembic_version"}
    database.upgrade(engine)
    assert schema_diff(engine) == []
    engine.dispose()


def test_ledger_on_postgresql(postgres_url: str) -> None:
    ledger = Ledger.open(postgres_url, flush_interval=0.2, tco=TCO, host_watts=360,
                         power_source=ConstantPower(360))
    try:
        for rid, when, key, name, tenant, model, prompt, cached, completion, cost in ROWS:
            ledger.record(make_record(request_id=rid, created_at=datetime.fromisoformat(when).replace(tzinfo=UTC),
                                      key_id=key, key_name=name, tenant=tenant, model=model, prompt_tokens=prompt,
                                      cached_tokens=cached, completion_tokens=completion, cost=cost))
        ledger.record(make_record(request_id="computed", created_at=datetime(2026, 5, 1, tzinfo=UTC),
                                  key_id="key_z", compute_seconds=10.0))
        assert ledger.tokens_used("key_a", datetime(2026, 3, 1, tzinfo=UTC)) == 177   # partly queued
        assert brief(ledger.report("week", "tenant", until=datetime(2026, 5, 1, tzinfo=UTC)), "tenant") == [
            ("2026-02-23", None, 1, 4, 0.0), ("2026-03-02", "bank", 3, 195, 0.06),
            ("2026-03-02", "clinic", 1, 10, 0.04), ("2026-03-09", "clinic", 1, 1001, 0.5),
            ("2026-03-30", "bank", 1, 2, 0.001)]
        assert brief(ledger.report("month", "model", until=datetime(2026, 5, 1, tzinfo=UTC)), "model")[1] == \
            ("2026-03-01", "m1", 4, 1151, 0.58)
        assert brief(ledger.report("day", "key", since=datetime(2026, 3, 8, tzinfo=UTC),
                                   until=datetime(2026, 3, 10, tzinfo=UTC)), "key_id") == [
            ("2026-03-08", "key_c", 1, 10, 0.04), ("2026-03-09", "key_c", 1, 1001, 0.5)]
        assert [r["key_id"] for r in ledger.top_consumers(n=2)] == ["key_c", "key_a"]
        computed = ledger.export_json(key_id="key_z")[0]
        assert computed["created_at"] == "2026-05-01T00:00:00+00:00"
        assert computed["energy_wh"] == pytest.approx(1.0)                 # 10 s at 360 W
        assert computed["cost"] == pytest.approx(1.3748698630136987 * 10 / 3600)
        nine = datetime(2026, 3, 2, 9, tzinfo=UTC)
        window = ledger.tco(nine, nine + timedelta(hours=1))
        assert (window.window.requests, window.window.input_tokens) == (1, 100)   # r1 only
    finally:
        ledger.close()
