"""AuditLog: administrative changes in a hash-chained table (audit_log).

Invariants:
- Row n stores prev_hash = hash of row n-1 (GENESIS for the first) and
  hash = sha256(canonical JSON of prev_hash, id, at, actor, action, target, before, after).
- Rows are appended only. Appending inserts first and links second, inside one transaction:
  the insert takes SQLite's write lock, so appends from the service and from the CLI (another
  process) are serialised and the chain never forks.
- `verify()` walks the rows in id order and names the first whose content no longer matches
  its hash (an edit) or whose prev_hash no longer matches the row before it (a removal or an
  edit of the row before). Removing the newest rows leaves no trace inside the table; export
  the log (or note the newest hash) to hold an anchor outside it.
"""
from __future__ import annotations

import hashlib
import json
import threading
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from sqlalchemy import Engine, insert, select, update

from appliance.ledger.models import AuditRow

GENESIS = "0" * 64


def canonical(value: Any) -> str:
    """The JSON text stored and hashed: sorted keys, no spaces, non-JSON values as strings."""
    return json.dumps(value, sort_keys=True, separators=(",", ":"), default=str)


@dataclass(slots=True, frozen=True)
class AuditEntry:
    id: int
    at: datetime
    actor: str
    action: str
    target: str
    before: str
    after: str
    prev_hash: str
    hash: str

    def digest(self, prev_hash: str | None = None) -> str:
        fields = [self.prev_hash if prev_hash is None else prev_hash, self.id, self.at.isoformat(),
                  self.actor, self.action, self.target, self.before, self.after]
        return hashlib.sha256(canonical(fields).encode()).hexdigest()

    def to_dict(self) -> dict:
        return {"id": self.id, "at": self.at.isoformat(), "actor": self.actor, "action": self.action,
                "target": self.target, "before": json.loads(self.before), "after": json.loads(self.after),
                "prev_hash": self.prev_hash, "hash": self.hash}


@dataclass(slots=True, frozen=True)
class ChainBreak:
    row_id: int
    reason: str

    def __str__(self) -> str:
        return f"row {self.row_id}: {self.reason}"


class AuditLog:
    def __init__(self, engine: Engine) -> None:
        self.engine = engine
        self._lock = threading.Lock()   # one append at a time within this process

    def append(self, actor: str, action: str, target: str, before: Any = None, after: Any = None) -> AuditEntry:
        at = datetime.now(UTC)
        values = {"at": at, "actor": actor[:200], "action": action[:64], "target": str(target)[:200],
                  "before": canonical(before), "after": canonical(after)}
        with self._lock, self.engine.begin() as conn:
            row_id = conn.execute(insert(AuditRow).values(prev_hash="", hash="", **values)).inserted_primary_key[0]
            prev = conn.execute(select(AuditRow.hash).where(AuditRow.id < row_id)
                                .order_by(AuditRow.id.desc()).limit(1)).scalar() or GENESIS
            entry = AuditEntry(id=row_id, prev_hash=prev, hash="", **values)
            digest = entry.digest()
            conn.execute(update(AuditRow).where(AuditRow.id == row_id).values(prev_hash=prev, hash=digest))
        return AuditEntry(id=row_id, prev_hash=prev, hash=digest, **values)

    def entries(self, since: datetime | None = None, limit: int | None = None,
                action: str | None = None) -> list[AuditEntry]:
        """Newest last; with `limit`, the newest `limit` rows."""
        query = select(AuditRow).order_by(AuditRow.id.desc())
        if since is not None:
            query = query.where(AuditRow.at >= since)
        if action:
            query = query.where(AuditRow.action == action)
        if limit:
            query = query.limit(limit)
        with self.engine.connect() as conn:
            return [_entry(r) for r in reversed(conn.execute(query).all())]

    def verify(self) -> tuple[int, ChainBreak | None]:
        """(rows checked, the first break or None)."""
        expected, checked = GENESIS, 0
        for entry in self._walk():
            checked += 1
            if entry.prev_hash != expected:
                return checked, ChainBreak(entry.id, "its link does not match the row before it "
                                                     "(a row before it was removed or edited)")
            if entry.digest() != entry.hash:
                return checked, ChainBreak(entry.id, "its content does not match its hash (edited)")
            expected = entry.hash
        return checked, None

    def _walk(self, batch: int = 1000) -> Iterator[AuditEntry]:
        last = 0
        while True:
            with self.engine.connect() as conn:
                rows = conn.execute(select(AuditRow).where(AuditRow.id > last)
                                    .order_by(AuditRow.id).limit(batch)).all()
            if not rows:
                return
            for row in rows:
                yield _entry(row)
            last = rows[-1].id


def _entry(row: Any) -> AuditEntry:
    at = row.at if row.at.tzinfo else row.at.replace(tzinfo=UTC)
    return AuditEntry(id=row.id, at=at, actor=row.actor, action=row.action, target=row.target,
                      before=row.before, after=row.after, prev_hash=row.prev_hash, hash=row.hash)
