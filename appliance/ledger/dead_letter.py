"""The dead-letter file: ledger rows that could not be written, one JSON object per line.

Rows land here when the database refuses them or does not answer within the shutdown bound,
so that no accepted request goes unrecorded; a later replay can insert them (request_id is
the key: a row that did commit after all is a duplicate to skip).
"""
from __future__ import annotations

import json
from collections.abc import Iterable
from dataclasses import asdict, is_dataclass
from datetime import datetime
from pathlib import Path
from typing import Any

FILE_NAME = "ledger-dead-letter.jsonl"


def path(data_dir: str | Path) -> Path:
    return Path(data_dir) / FILE_NAME


def write(rows: Iterable[Any], data_dir: str | Path) -> int:
    """Append the rows (UsageRecords or dicts); returns how many were written."""
    lines = [json.dumps(asdict(row) if is_dataclass(row) else dict(row), default=_plain) + "\n" for row in rows]
    if lines:
        target = path(data_dir)
        target.parent.mkdir(parents=True, exist_ok=True)
        with target.open("a", encoding="utf-8") as out:
            out.writelines(lines)
            out.flush()
    return len(lines)


def read(data_dir: str | Path) -> list[dict]:
    target = path(data_dir)
    if not target.exists():
        return []
    return [json.loads(line) for line in target.read_text(encoding="utf-8").splitlines() if line.strip()]


def _plain(value: Any) -> Any:
    if isinstance(value, datetime):
        return value.isoformat()
    raise TypeError(f"cannot write {type(value).__name__} to the dead-letter file")
