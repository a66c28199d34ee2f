"""The fleet's roll call: each node reports itself in `fleet_nodes` every few seconds, and any
node can list them all, so the console pointed at one node sees every node.

Invariants:
- A row is one node's latest report (its health, load and loaded models), written by that
  node alone, keyed by its unique node name.
- A node is `up` while its report is younger than `STALE_AFTER` heartbeats; a node that
  stops reporting (killed, or cut off from the database) turns `down`, and its row stays.
- A heartbeat that cannot be written is logged and skipped: serving never waits on it.
"""
from __future__ import annotations

import logging
import threading
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime

from sqlalchemy import Engine, select
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.exc import SQLAlchemyError

from appliance.ledger.models import FleetNodeRow

log = logging.getLogger("airlock.fleet")
HEARTBEAT_SECONDS = 2.0
STALE_AFTER = 3            # heartbeats missed before a node counts as down
_INSERTS = {"sqlite": sqlite.insert, "postgresql": postgresql.insert}


@dataclass(frozen=True, slots=True)
class Report:
    """What a node says of itself at one heartbeat."""
    address: str
    draining: bool
    running: int
    waiting: int
    models: list[str]


class NodeRegistry:
    def __init__(self, db: Engine, node: str, report: Callable[[], Report],
                 interval: float = HEARTBEAT_SECONDS) -> None:
        self.db, self.node, self.report, self.interval = db, node, report, interval
        self.started_at = datetime.now(UTC)
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, name="airlock-fleet-heartbeat", daemon=True)

    def start(self) -> NodeRegistry:
        self.beat()
        self._thread.start()
        return self

    def stop(self) -> None:
        self._stop.set()

    def beat(self) -> None:
        """Write this node's report now; a database error is logged, not raised."""
        r = self.report()
        values = {"node": self.node, "address": r.address, "started_at": self.started_at,
                  "seen_at": datetime.now(UTC), "draining": r.draining, "running": r.running,
                  "waiting": r.waiting, "models": ",".join(r.models)}
        insert = _INSERTS[self.db.dialect.name](FleetNodeRow).values(**values)
        try:
            with self.db.begin() as conn:
                conn.execute(insert.on_conflict_do_update(index_elements=[FleetNodeRow.node], set_=values))
        except SQLAlchemyError as exc:
            log.warning("fleet heartbeat of node %s not written: %s", self.node, exc)

    def _run(self) -> None:
        while not self._stop.wait(self.interval):
            self.beat()


def fleet_status(db: Engine, interval: float = HEARTBEAT_SECONDS) -> list[dict]:
    """Every node that ever reported, by name, with `up` and the age of its last report."""
    now = datetime.now(UTC)
    with db.connect() as conn:
        rows = conn.execute(select(FleetNodeRow).order_by(FleetNodeRow.node)).all()
    nodes = []
    for row in rows:
        age = (now - row.seen_at).total_seconds()
        nodes.append({"node": row.node, "address": row.address, "up": age < STALE_AFTER * interval,
                      "seen_seconds_ago": round(age, 1), "started_at": row.started_at.isoformat(),
                      "draining": row.draining, "running": row.running, "waiting": row.waiting,
                      "models": [m for m in row.models.split(",") if m]})
    return nodes
