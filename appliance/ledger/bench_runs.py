"""Sweeps in the ledger database: one bench_runs row per point, the rows of one sweep sharing a
run_id. `airlock tune` and the console read the latest sweep back."""
from __future__ import annotations

import json
import uuid
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

from sqlalchemy import Engine, insert, select

from appliance.ledger.models import BenchRunRow
from engine.bench.frontier import SweepPoint

_HEADER = ("run_id", "created_at", "model", "quantization", "workload", "currency")


@dataclass(slots=True)
class SweepRecord:
    model: str
    quantization: str
    workload: str                               # what the clients sent, in words
    currency: str
    points: list[SweepPoint]
    setup: dict[str, Any] = field(default_factory=dict)   # machine, threads, ISA (JSON only)
    run_id: str = field(default_factory=lambda: uuid.uuid4().hex)
    created_at: datetime = field(default_factory=lambda: datetime.now(UTC))

    def as_dict(self) -> dict[str, Any]:
        return {"run_id": self.run_id, "created_at": self.created_at.isoformat(), "model": self.model,
                "quantization": self.quantization, "workload": self.workload, "currency": self.currency,
                "setup": self.setup, "points": [p.as_dict() for p in self.points]}

    def to_json(self) -> str:
        return json.dumps(self.as_dict(), indent=2)

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> SweepRecord:
        created = datetime.fromisoformat(data["created_at"]) if "created_at" in data else datetime.now(UTC)
        return cls(model=data["model"], quantization=data["quantization"], workload=data.get("workload", ""),
                   currency=data.get("currency", "USD"), setup=data.get("setup", {}),
                   points=[SweepPoint.from_dict(p) for p in data["points"]],
                   run_id=data.get("run_id", uuid.uuid4().hex), created_at=created)


def save_sweep(engine: Engine, record: SweepRecord) -> None:
    header = {name: getattr(record, name) for name in _HEADER}
    rows = [{**header, **point.as_dict()} for point in record.points]
    with engine.begin() as conn:
        conn.execute(insert(BenchRunRow), rows)


def latest_sweep(engine: Engine, model: str | None = None) -> SweepRecord | None:
    """The newest sweep (of `model`, when given), or None when there is none."""
    query = select(BenchRunRow.run_id).order_by(BenchRunRow.created_at.desc(), BenchRunRow.id.desc()).limit(1)
    if model is not None:
        query = query.where(BenchRunRow.model == model)
    with engine.connect() as conn:
        run_id = conn.execute(query).scalar()
        if run_id is None:
            return None
        rows = conn.execute(select(*BenchRunRow.__table__.c).where(BenchRunRow.run_id == run_id)
                            .order_by(BenchRunRow.id)).all()
    first = rows[0]
    return SweepRecord(model=first.model, quantization=first.quantization, workload=first.workload,
                       currency=first.currency, points=[SweepPoint.from_dict(r._asdict()) for r in rows],
                       run_id=run_id, created_at=first.created_at)
