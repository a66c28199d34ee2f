"""Dead letters: usage rows the ledger could not write, kept as JSON lines so none is lost.

A row lands here when the database refuses it for good (a constraint it cannot meet, a
record that cannot be built) or when the service stops before it could be written.
`airlock db replay-dead-letter` writes them into the ledger later; a row whose request_id
is already in the ledger is skipped, so replaying twice bills nothing twice. /metrics counts
the rows written here since start (airlock:ledger_dead_letter_rows_total).

Assumptions: one appliance process writes the file (appends of whole lines under a lock);
the file lives beside the data (default <data_dir>/ledger_dead_letter.jsonl).
"""
from __future__ import annotations

import json
import logging
import threading
from collections.abc import Iterable
from dataclasses import asdict, is_dataclass
from datetime import datetime
from pathlib import Path
from typing import Any

log = logging.getLogger(__name__)
FILE_NAME = "ledger_dead_letter.jsonl"

_lock = threading.Lock()
_path: Path = Path("var") / FILE_NAME
_count = 0


def use(path: Path | str) -> None:
    """Where `write` appends from now on (the appliance sets it from its data dir)."""
    global _path
    _path = Path(path)


def path() -> Path:
    return _path


def count() -> int:
    """Rows written to the dead-letter file by this process."""
    return _count


def write(rows: Iterable[Any]) -> int:
    """Append `rows` (UsageRecords, or dicts of their fields) as JSON lines; how many were written."""
    global _count
    lines = [json.dumps(_as_dict(row), default=_json_default, ensure_ascii=False) for row in rows]
    if not lines:
        return 0
    with _lock:
        _path.parent.mkdir(parents=True, exist_ok=True)
        with _path.open("a", encoding="utf-8") as file:
            file.write("\n".join(lines) + "\n")
            file.flush()
        _count += len(lines)
    log.error("%d ledger row(s) written to the dead-letter file %s; replay them with "
              "`airlock db replay-dead-letter`", len(lines), _path)
    return len(lines)


def read(source: Path | str | None = None) -> list[tuple[int, dict | None, str]]:
    """(line number, the row's fields or None if the line is not JSON, the raw line) per line."""
    file = Path(source) if source else _path
    if not file.exists():
        return []
    out = []
    for number, line in enumerate(file.read_text(encoding="utf-8").splitlines(), 1):
        if line.strip():
            try:
                out.append((number, json.loads(line), line))
            except ValueError:
                out.append((number, None, line))
    return out


def _as_dict(row: Any) -> dict:
    return asdict(row) if is_dataclass(row) else dict(row)


def _json_default(value: Any) -> str:
    if isinstance(value, datetime):
        return value.isoformat()
    return str(value)
