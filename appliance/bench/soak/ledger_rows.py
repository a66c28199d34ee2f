"""The ledger as the soak reads it after the final stop: usage rows and dead-letter lines."""
from __future__ import annotations

import sqlite3
from dataclasses import dataclass
from pathlib import Path

from appliance.ledger.dead_letter import FILE_NAME as DEAD_LETTER_FILE


@dataclass(slots=True, frozen=True)
class LedgerRow:
    request_id: str
    key_name: str | None
    endpoint: str
    prompt_tokens: int
    completion_tokens: int
    finish_reason: str


def read_rows(data_dir: Path) -> list[LedgerRow]:
    with sqlite3.connect(data_dir / "airlock.db") as db:
        rows = db.execute("SELECT request_id, key_name, endpoint, prompt_tokens, completion_tokens, finish_reason "
                          "FROM usage_records ORDER BY id").fetchall()
    return [LedgerRow(*row) for row in rows]


def dead_letter_lines(data_dir: Path) -> int:
    path = data_dir / DEAD_LETTER_FILE
    return sum(1 for line in path.read_text().splitlines() if line.strip()) if path.exists() else 0
