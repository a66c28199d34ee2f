"""The background writer: batching, no loss under concurrency, close, retry, pending counts."""
from __future__ import annotations

import sqlite3
import threading
import time
from datetime import timedelta

import pytest
from sqlalchemy import func, select

from appliance.ledger import InvalidUsage
from appliance.ledger.models import UsageRow
from appliance.ledger.writer import BatchWriter, WriterClosed
from .support import T0, make_record


def count_rows(ledger) -> int:
    with ledger.engine.connect() as conn:
        return conn.execute(select(func.count()).select_from(UsageRow)).scalar_one()


def test_batches_and_loses_nothing_under_concurrent_puts() -> None:
    batches: list[list[int]] = []
    writer = BatchWriter(batches.append, flush_interval=0.05, max_batch=500)

    def produce(base: int) -> None:
        for i in range(5000):
            writer.put(base + i)

    threads = [threading.Thread(target=produce, args=(n * 10_000,)) for n in range(8)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert writer.close(timeout=10)
    written = [item for batch in batches for item in batch]
    assert sorted(written) == sorted(n * 10_000 + i for n in range(8) for i in range(5000))
    assert len(batches) < len(written) / 10          # rows really travel in batches
    assert max(len(b) for b in batches) > 100


def test_failed_write_is_retried_without_loss_or_duplicates() -> None:
    written: list[int] = []
    failures = [2]

    def flaky(batch: list[int]) -> None:
        if failures[0]:
            failures[0] -= 1
            raise OSError("disk busy")
        written.extend(batch)

    writer = BatchWriter(flaky, flush_interval=0.02)
    for i in range(100):
        writer.put(i)
    assert writer.flush(timeout=10)
    assert written == list(range(100))
    assert writer.backlog() == 0
    writer.close()


def test_put_after_close_is_refused() -> None:
    writer = BatchWriter(lambda batch: None, flush_interval=0.05)
    writer.close()
    with pytest.raises(WriterClosed, match="closed"):
        writer.put(1)


def test_concurrent_records_reach_sqlite_exactly_once(ledger) -> None:
    def produce(n: int) -> None:
        for i in range(1000):
            ledger.record(make_record(request_id=f"t{n}-{i}", completion_tokens=i % 7))

    threads = [threading.Thread(target=produce, args=(n,)) for n in range(6)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert ledger.flush(timeout=30)
    with ledger.engine.connect() as conn:
        rows = conn.execute(select(UsageRow.request_id, UsageRow.completion_tokens)).all()
    assert len(rows) == 6000
    assert len({r.request_id for r in rows}) == 6000
    assert sum(r.completion_tokens for r in rows) == 6 * sum(i % 7 for i in range(1000))


def test_close_after_a_burst_writes_every_row(open_ledger) -> None:
    ledger = open_ledger(flush_interval=60.0)     # only close() can write these
    for i in range(3000):
        ledger.record(make_record(request_id=f"b{i}"))
    assert ledger.backlog() == 3000
    assert ledger.close(timeout=30)
    reopened = open_ledger()
    assert count_rows(reopened) == 3000


def test_tokens_used_counts_written_and_pending_once(open_ledger) -> None:
    ledger = open_ledger(flush_interval=60.0)
    ledger.record(make_record(request_id="a", prompt_tokens=100, completion_tokens=20))
    ledger.record(make_record(request_id="b", key_id="key_b", prompt_tokens=7, completion_tokens=3))
    ledger.record(make_record(request_id="old", created_at=T0 - timedelta(days=2)))
    since = T0 - timedelta(hours=1)
    assert ledger.tokens_used("key_a", since) == 120           # still queued
    assert ledger.flush(timeout=10)
    ledger.record(make_record(request_id="c", prompt_tokens=50, completion_tokens=5))
    assert ledger.tokens_used("key_a", since) == 175           # 120 written + 55 queued
    assert ledger.tokens_used("key_b", since) == 10
    assert ledger.tokens_used("key_a", T0 - timedelta(days=3)) == 295
    assert ledger.tokens_used("key_a") == 295                   # since=None: ever


def test_tokens_used_is_exact_while_the_writer_commits(open_ledger) -> None:
    ledger = open_ledger(flush_interval=0.03)
    stop = threading.Event()

    def produce() -> None:
        i = 0
        while not stop.is_set():
            ledger.record(make_record(request_id=f"x{i}", prompt_tokens=1, completion_tokens=0))
            i += 1
            time.sleep(0.0005)

    producer = threading.Thread(target=produce)
    producer.start()
    try:
        deadline = time.monotonic() + 0.6               # spans many commits
        readings = []
        while time.monotonic() < deadline:
            readings.append(ledger.tokens_used("key_a", T0))
    finally:
        stop.set()
        producer.join()
    assert readings == sorted(readings)                     # never goes backwards
    assert ledger.flush(timeout=10)
    assert ledger.tokens_used("key_a", T0) == count_rows(ledger)


def test_energy_and_cost_are_filled_in(ledger) -> None:
    ledger.record(make_record(compute_seconds=10.0))
    ledger.record(make_record(request_id="given", compute_seconds=10.0, energy_wh=2.5, cost=0.75))
    rows = {r["request_id"]: r for r in ledger.export_json()}
    assert rows["req-1"]["energy_wh"] == pytest.approx(10.0 * 360.0 / 3600)   # 1.0 Wh at 360 W
    # cost per hour owned at utilisation 0.5 is 1.3748698630136987 (see test_tco); 10 s of it:
    assert rows["req-1"]["cost"] == pytest.approx(1.3748698630136987 * 10 / 3600)
    assert (rows["given"]["energy_wh"], rows["given"]["cost"]) == (2.5, 0.75)


@pytest.mark.parametrize(("field", "value", "message"), [
    ("finish_reason", "done", "finish_reason must be one of"),
    ("prompt_tokens", -1, "prompt_tokens must be a non-negative integer"),
    ("cached_tokens", 500, "cached_tokens .500. exceeds prompt_tokens"),
    ("compute_seconds", float("nan"), "compute_seconds must be a finite"),
    ("model", "", "model must be a non-empty string"),
    ("request_id", "r" * 65, "request_id must be a string of at most 64 characters"),
    ("tenant", 7, "tenant must be a string of at most 200 characters"),
])
def test_bad_records_are_refused_with_the_field_named(field: str, value: object, message: str) -> None:
    with pytest.raises(InvalidUsage, match=message):
        make_record(**{field: value})


def test_naive_created_at_is_refused() -> None:
    with pytest.raises(InvalidUsage, match="created_at must be a timezone-aware"):
        make_record(created_at=T0.replace(tzinfo=None))


def test_record_does_not_wait_for_a_locked_database(open_ledger, db_url: str) -> None:
    ledger = open_ledger(flush_interval=0.05)
    blocker = sqlite3.connect(db_url.removeprefix("sqlite:///"), timeout=1)
    blocker.execute("BEGIN EXCLUSIVE")          # another writer holds the database for 1.5 s
    try:
        time.sleep(0.1)
        slowest = 0.0
        for i in range(500):
            start = time.perf_counter()
            ledger.record(make_record(request_id=f"l{i}"))
            slowest = max(slowest, time.perf_counter() - start)
        time.sleep(1.4)
        assert ledger.backlog() == 500          # nothing could be written yet
    finally:
        blocker.rollback()
        blocker.close()
    assert slowest < 0.5                        # far below the 1.5 s the database was held
    assert ledger.flush(timeout=30)
    assert count_rows(ledger) == 500
