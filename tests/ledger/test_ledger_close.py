"""A stop with a locked database: the ledger close is bounded and the rows it could not write
go to the dead-letter file instead of being lost."""
from __future__ import annotations

import sqlite3
import time
from pathlib import Path

from appliance.front.drain import close_ledger
from appliance.ledger import dead_letter


def test_rows_that_cannot_be_written_in_time_go_to_the_dead_letter_file(open_ledger, record, tmp_path: Path,
                                                                       monkeypatch) -> None:
    monkeypatch.setattr(dead_letter, "_path", tmp_path / dead_letter.FILE_NAME)   # restored afterwards
    ledger = open_ledger(flush_interval=0.05)
    ledger.record(record(request_id="req-written"))
    assert ledger.flush(timeout=10)
    locker = sqlite3.connect(tmp_path / "airlock.db", isolation_level=None)
    locker.execute("BEGIN EXCLUSIVE")   # another process holds the database
    try:
        ledger.record(record(request_id="req-stuck-1"))
        ledger.record(record(request_id="req-stuck-2"))
        started = time.monotonic()
        assert close_ledger(ledger, 1.0) == 2
        assert time.monotonic() - started < 5   # bounded, not the 30 s busy timeout
    finally:
        locker.execute("ROLLBACK")
        locker.close()
    rows = [row for _, row, _ in dead_letter.read()]
    assert [row["request_id"] for row in rows] == ["req-stuck-1", "req-stuck-2"]
    assert rows[0]["completion_tokens"] == 20 and rows[0]["created_at"].startswith("2026-03-02")


def test_a_healthy_close_writes_no_dead_letter(open_ledger, record, tmp_path: Path, monkeypatch) -> None:
    monkeypatch.setattr(dead_letter, "_path", tmp_path / dead_letter.FILE_NAME)
    ledger = open_ledger(flush_interval=0.05)
    ledger.record(record(request_id="req-ok"))
    assert close_ledger(ledger, 10.0) == 0
    assert dead_letter.read() == []
