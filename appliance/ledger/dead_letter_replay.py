"""Replaying the dead-letter file into the ledger (`airlock db replay-dead-letter`).

The file is moved aside first (rows dead-lettered while the replay runs start a new file),
each row is written unless its request_id is already in the ledger (replay is idempotent),
and the lines that still cannot be written are put back for a later try.
"""
from __future__ import annotations

from dataclasses import dataclass, fields
from datetime import UTC, datetime
from pathlib import Path

from sqlalchemy import select

from appliance.ledger import dead_letter
from appliance.ledger.ledger import Ledger
from appliance.ledger.models import UsageRow
from appliance.ledger.record import MAX_LENGTHS, InvalidUsage, UsageRecord

RECORD_FIELDS = {f.name for f in fields(UsageRecord)}


@dataclass(slots=True)
class ReplayResult:
    written: int = 0
    already_in_ledger: int = 0
    kept: int = 0   # lines that still cannot be written; they stay in the dead-letter file


def replay(ledger: Ledger, source: Path | None = None) -> ReplayResult:
    source = Path(source) if source else dead_letter.path()
    aside = source.with_name(source.name + ".replaying")
    if source.exists():
        if aside.exists():   # a replay that stopped part way: take both
            aside.write_text(aside.read_text(encoding="utf-8") + source.read_text(encoding="utf-8"), encoding="utf-8")
            source.unlink()
        else:
            source.rename(aside)
    result, kept, records = ReplayResult(), [], []
    entries = dead_letter.read(aside)
    known = _in_ledger(ledger, {d.get("request_id") for _, d, _ in entries if isinstance(d, dict)})
    for _, data, line in entries:
        if isinstance(data, dict) and data.get("request_id") in known:
            result.already_in_ledger += 1
            continue
        try:
            records.append(to_record(data))
        except (InvalidUsage, KeyError, TypeError, ValueError):
            kept.append(line)
    for record in records:
        ledger.record(record)
    if not ledger.flush(timeout=60):
        raise RuntimeError("the ledger did not accept the rows within 60 s; the dead-letter file was kept at "
                           f"{aside}, run the replay again")
    _put_back(source, kept)
    aside.unlink(missing_ok=True)
    result.written, result.kept = len(records), len(kept)
    return result


def to_record(data: dict) -> UsageRecord:
    """A dead-lettered row as a valid UsageRecord: names cut to the columns, figures clamped."""
    if "created_at" in data:
        values = {k: v for k, v in data.items() if k in RECORD_FIELDS}
        values["created_at"] = _aware(datetime.fromisoformat(values["created_at"]))
    else:   # a row that could not even be built: only its token figures are known
        values = {k: data[k] for k in ("request_id", "key_id", "key_name", "tenant", "model", "quantization",
                                       "endpoint", "prompt_tokens", "cached_tokens", "completion_tokens",
                                       "finish_reason")}
        values.update(created_at=datetime.fromtimestamp(data["arrival_time"], UTC), queue_seconds=0.0,
                      ttft_seconds=None, duration_seconds=0.0, compute_seconds=0.0,
                      response_cached=bool(data.get("response_cached", False)))
    for name, limit in MAX_LENGTHS.items():
        if isinstance(values.get(name), str):
            values[name] = values[name][:limit]
    for name in ("queue_seconds", "duration_seconds", "compute_seconds"):
        values[name] = max(0.0, float(values[name]))
    if values.get("ttft_seconds") is not None:
        values["ttft_seconds"] = min(max(0.0, float(values["ttft_seconds"])), values["duration_seconds"])
    values["cached_tokens"] = min(values["cached_tokens"], values["prompt_tokens"])
    return UsageRecord(**values)


def _in_ledger(ledger: Ledger, request_ids: set) -> set[str]:
    ids = [i for i in request_ids if isinstance(i, str)]
    if not ids:
        return set()
    with ledger.engine.connect() as conn:
        return set(conn.execute(select(UsageRow.request_id).where(UsageRow.request_id.in_(ids))).scalars())


def _put_back(source: Path, lines: list[str]) -> None:
    if lines:
        with source.open("a", encoding="utf-8") as file:
            file.write("\n".join(lines) + "\n")


def _aware(moment: datetime) -> datetime:
    return moment if moment.tzinfo else moment.replace(tzinfo=UTC)
