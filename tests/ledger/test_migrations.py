"""Alembic migrations on a real SQLite file: from empty, from data at every earlier revision,
down to base and up again; the models match the head schema; PostgreSQL SQL renders."""
from __future__ import annotations

import io
import sqlite3
from pathlib import Path

import pytest
from alembic import command
from alembic.autogenerate import compare_metadata
from alembic.runtime.migration import MigrationContext
from sqlalchemy import inspect, text

from appliance.auth.key_table import KeyBase
from appliance.cli import main
from appliance.ledger import Ledger, database
from appliance.ledger.energy import ConstantPower
from appliance.ledger.models import LedgerBase
from .support import TCO

TABLES = {"alembic_version", "api_keys", "usage_records", "tco_inputs", "bench_runs", "audit_log", "alert_events",
          "alert_rules", "budget_holds", "fleet_nodes"}
USAGE_0001 = ("INSERT INTO usage_records (request_id, created_at, key_id, key_name, tenant, model, "
              "quantization, endpoint, prompt_tokens, cached_tokens, completion_tokens, finish_reason, "
              "queue_seconds, ttft_seconds, duration_seconds, compute_seconds, energy_wh, cost) VALUES "
              "(:rid, '2026-01-05 10:00:00.000000', 'key_old', 'old', 'bank', 'm', 'int8', 'chat', "
              "10, 4, 6, 'stop', 0.0, 0.1, 1.0, 0.5, 0.01, 0.002)")
USAGE_0002 = USAGE_0001.replace("energy_wh, cost)", "energy_wh, cost, response_cached)").replace(
    "0.002)", "0.002, :cached)")
KEY_0001 = ("INSERT INTO api_keys (id, name, tenant, prefix, secret_sha256, allowed_models, "
            "requests_per_minute, tokens_per_minute, token_budget, created_at) VALUES "
            "('key_old', 'old', 'bank', 'abcd1234', :sha, '', 0, 0, 500, '2026-01-01 00:00:00.000000')")
TCO_0003 = ("INSERT INTO tco_inputs (updated_at, hardware_price, amortization_years, residual_value, "
            "power_watts, price_per_kwh, pue, operations_per_month, utilisation, currency) VALUES "
            "('2026-01-01 00:00:00.000000', 12345, 4, 0, 500, 0.2, 1.2, 100, 0.25, 'EUR')")


def fill(engine, revision: str) -> None:
    """Write what an appliance at `revision` would have written."""
    with engine.begin() as conn:
        if revision == "0001":
            conn.execute(text(KEY_0001), {"sha": "0" * 64})
            conn.execute(text(USAGE_0001), {"rid": "at-0001"})
        if revision == "0002":
            conn.execute(text(USAGE_0002), {"rid": "at-0002", "cached": True})
        if revision == "0003":
            conn.execute(text(TCO_0003))


def schema_diff(engine) -> list:
    with engine.connect() as conn:
        context = MigrationContext.configure(conn, opts={"compare_type": True})
        return compare_metadata(context, [LedgerBase.metadata, KeyBase.metadata])


def test_upgrade_from_empty_matches_the_models(tmp_path: Path) -> None:
    engine = database.make_engine(f"sqlite:///{tmp_path / 'new.db'}")
    assert database.upgrade(engine) is None                # nothing to copy aside
    assert set(inspect(engine).get_table_names()) == TABLES
    assert database.current_revision(engine) == database.head_revision() == "0008"
    assert schema_diff(engine) == []
    with engine.connect() as conn:
        assert conn.exec_driver_sql("PRAGMA journal_mode").scalar() == "wal"
        assert conn.exec_driver_sql("PRAGMA foreign_keys").scalar() == 1


@pytest.mark.parametrize("start", ["0001", "0002"])
def test_upgrade_keeps_data_written_at_every_earlier_revision(tmp_path: Path, start: str) -> None:
    path = tmp_path / "old.db"
    engine = database.make_engine(f"sqlite:///{path}")
    for revision in ("0001", "0002")[: ("0001", "0002").index(start) + 1]:
        database.upgrade(engine, revision, backup=False)
        fill(engine, revision)
    engine.dispose()

    ledger = Ledger.open(f"sqlite:///{path}", tco=TCO, host_watts=1, power_source=ConstantPower(1))
    try:
        rows = {r["request_id"]: r for r in ledger.export_json()}
        assert rows["at-0001"]["response_cached"] is False             # server default filled in
        assert (rows["at-0001"]["prompt_tokens"], rows["at-0001"]["cost"]) == (10, 0.002)
        assert rows["at-0001"]["created_at"] == "2026-01-05T10:00:00+00:00"
        if start == "0002":
            assert rows["at-0002"]["response_cached"] is True
        with ledger.engine.connect() as conn:
            assert conn.execute(text("SELECT token_budget FROM api_keys")).scalar_one() == 500
            spent = conn.execute(text("SELECT budget_spent FROM api_keys")).scalar_one()
            assert spent == 16 * int(start[-1])                          # 0008 seeds it from the rows
        assert ledger.tco_inputs == TCO                                  # seeded on first open
    finally:
        ledger.close()
    copies = list(tmp_path.glob(f"old.db.{start}.*.bak"))
    assert len(copies) == 1
    with sqlite3.connect(copies[0]) as copy:
        assert copy.execute("SELECT version_num FROM alembic_version").fetchone() == (start,)
        assert copy.execute("SELECT COUNT(*) FROM usage_records").fetchone() == (int(start[-1]),)


def test_tco_inputs_written_at_head_survive_reopen(tmp_path: Path) -> None:
    engine = database.make_engine(f"sqlite:///{tmp_path / 'h.db'}")
    database.upgrade(engine)
    fill(engine, "0003")
    engine.dispose()
    ledger = Ledger.open(f"sqlite:///{tmp_path / 'h.db'}", tco=TCO, host_watts=1, power_source=ConstantPower(1))
    try:
        assert (ledger.tco_inputs.hardware_price, ledger.tco_inputs.currency) == (12345, "EUR")
    finally:
        ledger.close()
    assert not list(tmp_path.glob("*.bak"))                # already at head: no copy


def test_downgrade_to_base_and_upgrade_again(tmp_path: Path) -> None:
    engine = database.make_engine(f"sqlite:///{tmp_path / 'd.db'}")
    database.upgrade(engine, "0001")
    fill(engine, "0001")
    database.upgrade(engine)
    fill(engine, "0002")
    database.downgrade(engine, "0001")                     # drops a column, keeps the rows
    with engine.connect() as conn:
        assert conn.execute(text("SELECT COUNT(*) FROM usage_records")).scalar_one() == 2
    assert "response_cached" not in {c["name"] for c in inspect(engine).get_columns("usage_records")}
    database.downgrade(engine, "base")
    assert set(inspect(engine).get_table_names()) == {"alembic_version"}
    assert database.current_revision(engine) is None
    database.upgrade(engine)
    assert set(inspect(engine).get_table_names()) == TABLES
    assert schema_diff(engine) == []


def test_postgresql_migrations_render_without_sqlite_sql() -> None:
    out = io.StringIO()
    config = database.alembic_config("postgresql://airlock@localhost/airlock")
    config.output_buffer = out
    command.upgrade(config, "head", sql=True)
    command.downgrade(config, "head:base", sql=True)
    sql = out.getvalue()
    assert "CREATE TABLE usage_records" in sql and "id BIGSERIAL" in sql
    assert "TIMESTAMP WITH TIME ZONE" in sql
    assert "ALTER TABLE usage_records DROP COLUMN response_cached" in sql
    assert "ALTER TABLE usage_records ADD COLUMN node VARCHAR(64)" in sql and "CREATE TABLE budget_holds" in sql
    assert "PRAGMA" not in sql and "_alembic_tmp" not in sql


def test_db_command_line(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    config = tmp_path / "airlock.toml"
    config.write_text(f'[ledger]\ndatabase_url = "sqlite:///{tmp_path / "cli.db"}"\n')
    assert main(["db", "current", "--config", str(config)]) == 0
    assert "current: base  head: 0008" in capsys.readouterr().out
    assert main(["db", "upgrade", "--config", str(config)]) == 0
    assert "schema at 0008" in capsys.readouterr().out
    assert main(["db", "downgrade", "--config", str(config)]) == 0
    assert "schema at 0007" in capsys.readouterr().out
    assert main(["db", "upgrade", "0042", "--config", str(config)]) == 1
    assert "Can't locate revision identified by '0042'" in capsys.readouterr().err
    assert main(["db", "upgrade", "--config", str(config)]) == 0
    assert "copied the database aside" in capsys.readouterr().out


def test_api_keys_made_before_migrations_are_adopted(tmp_path: Path) -> None:
    engine = database.make_engine(f"sqlite:///{tmp_path / 'keys-first.db'}")
    database.upgrade(engine, "0001", backup=False)         # api_keys as KeyStore.create_tables made it,
    with engine.begin() as conn:                           # with no other table and no revision
        for table in set(inspect(engine).get_table_names()) - {"api_keys"}:
            conn.execute(text(f"DROP TABLE {table}"))
    fill_key = text(KEY_0001)
    with engine.begin() as conn:
        conn.execute(fill_key, {"sha": "1" * 64})
    database.upgrade(engine)
    assert set(inspect(engine).get_table_names()) == TABLES
    with engine.connect() as conn:
        assert conn.execute(text("SELECT id FROM api_keys")).scalar_one() == "key_old"
    assert schema_diff(engine) == []


def test_a_database_from_a_newer_build_is_refused_clearly(tmp_path: Path) -> None:
    engine = database.make_engine(f"sqlite:///{tmp_path / 'newer.db'}")
    database.upgrade(engine)
    with engine.begin() as conn:
        conn.execute(text("UPDATE alembic_version SET version_num = '0099'"))
    with pytest.raises(database.SchemaError, match="at migration '0099', which this build does not know"):
        database.upgrade(engine)
