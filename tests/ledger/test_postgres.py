"""The ledger on a real PostgreSQL server on loopback: migrations, writer, reports, budgets, TCO.
Skipped where no PostgreSQL server binaries are installed."""
from __future__ import annotations

import glob
import os
import shutil
import socket
import subprocess
import tempfile
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from sqlalchemy import inspect

from appliance.ledger import Ledger, database
from appliance.ledger.energy import ConstantPower
from .support import TCO, make_record
from .test_migrations import TABLES, schema_diff
from .test_reports import ROWS, brief


def _pg_bin() -> Path | None:
    found = shutil.which("initdb")
    candidates = [found] if found else sorted(glob.glob("/usr/lib/postgresql/*/bin/initdb"))
    return Path(os.path.realpath(candidates[-1])).parent if candidates else None


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@pytest.fixture(scope="module")
def postgres_url() -> Iterator[str]:
    bindir = _pg_bin()
    if bindir is None:
        pytest.skip("no PostgreSQL server binaries (initdb) on this machine")
    as_user: list[str] = []
    root = Path(tempfile.mkdtemp(prefix="airlock-pg-"))
    if os.geteuid() == 0:        # the server refuses to run as root
        if shutil.which("runuser") is None or subprocess.run(["id", "postgres"], capture_output=True).returncode:
            pytest.skip("running as root without a postgres user to run the server as")
        shutil.chown(root, "postgres")
        as_user = ["runuser", "-u", "postgres", "--"]
    port, data = _free_port(), root / "data"
    subprocess.run([*as_user, bindir / "initdb", "-D", data, "-A", "trust", "-U", "airlock", "--no-sync"],
                   check=True, capture_output=True)
    options = f"-p {port} -k {root} -c listen_addresses=127.0.0.1 -c fsync=off"
    subprocess.run([*as_user, bindir / "pg_ctl", "-D", data, "-o", options, "-l", root / "log", "-w", "start"],
                   check=True, capture_output=True)
    try:
        import psycopg
        with psycopg.connect(f"postgresql://airlock@127.0.0.1:{port}/postgres", autocommit=True) as conn:
            conn.execute("CREATE DATABASE airlock")
        yield f"postgresql+psycopg://airlock@127.0.0.1:{port}/airlock"
    finally:
        subprocess.run([*as_user, bindir / "pg_ctl", "-D", data, "-m", "immediate", "stop"], capture_output=True)
        shutil.rmtree(root, ignore_errors=True)


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
