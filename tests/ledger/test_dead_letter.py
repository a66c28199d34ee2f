"""No usage row is silently dropped: a row the database refuses goes to the dead-letter file,
/metrics' counter counts it, and `airlock db replay-dead-letter` writes it in once."""
from __future__ import annotations

from pathlib import Path

from sqlalchemy import text

from appliance.cli import main
from appliance.ledger import dead_letter
from appliance.ledger.record import UsageRecord
from engine.outputs import RequestMetrics

from .support import make_record


def _refuse(ledger, key_name: str | None) -> None:
    """A trigger makes SQLite refuse rows of one key for good (as a constraint would)."""
    with ledger.engine.begin() as conn:
        conn.execute(text("DROP TRIGGER IF EXISTS refuse"))
        if key_name:
            conn.execute(text(f"CREATE TRIGGER refuse BEFORE INSERT ON usage_records WHEN NEW.key_name = "
                              f"'{key_name}' BEGIN SELECT RAISE(ABORT, 'refused'); END"))


def test_refused_row_is_dead_lettered_and_replayed_once(ledger, tmp_path: Path, monkeypatch, capsys) -> None:
    monkeypatch.setenv("AIRLOCK_DATA_DIR", str(tmp_path))
    monkeypatch.delenv("AIRLOCK_CONFIG", raising=False)
    monkeypatch.setattr(dead_letter, "_path", tmp_path / dead_letter.FILE_NAME)   # restored afterwards
    before = dead_letter.count()
    _refuse(ledger, "mallory")
    for i, name in enumerate(("alice", "mallory", "bob")):
        ledger.record(make_record(request_id=f"req-{i}", key_name=name))
    assert ledger.flush(timeout=30)
    assert sorted(r["request_id"] for r in ledger.export_json()) == ["req-0", "req-2"]   # not blocked by the bad row
    assert dead_letter.count() == before + 1
    [(_, row, _)] = dead_letter.read()
    assert row["request_id"] == "req-1" and row["key_name"] == "mallory"

    _refuse(ledger, None)                      # the cause is fixed; replay through the CLI
    assert main(["db", "replay-dead-letter"]) == 0
    assert "replayed 1 row(s)" in capsys.readouterr().out
    rows = {r["request_id"]: r for r in ledger.export_json()}
    assert set(rows) == {"req-0", "req-1", "req-2"} and rows["req-1"]["prompt_tokens"] == 100
    dead_letter.write([make_record(request_id="req-1")])   # a row that is in the ledger already
    assert main(["db", "replay-dead-letter"]) == 0
    assert "0 row(s)" in capsys.readouterr().out and len(ledger.export_json()) == 3
    assert dead_letter.read() == []


def test_clock_steps_cannot_make_a_row_invalid() -> None:
    metrics = RequestMetrics("r", arrival_time=1000.0, arrival_clock=50.0, queue_time=-3.0, ttft=-2.0,
                             prompt_tokens=5, finished_clock=49.0)   # figures no clock should give
    record = UsageRecord.from_metrics(metrics, key_id=None, key_name=None, tenant=None, model="m",
                                      quantization="fp32", endpoint="chat", finish_reason="stop")
    assert record.duration_seconds == record.ttft_seconds == record.queue_seconds == 0.0
    later = RequestMetrics("r", arrival_time=1000.0, arrival_clock=50.0, ttft=50.0, prompt_tokens=5,
                           finished_clock=52.0)
    assert UsageRecord.from_metrics(later, key_id=None, key_name=None, tenant=None, model="m", quantization="fp32",
                                    endpoint="chat", finish_reason="stop").ttft_seconds == 2.0
