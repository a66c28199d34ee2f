"""The alerts' rows in the ledger database: state changes (alert_events) and the rules
edited at run time (alert_rules), which override the config's rule of the same name."""
from __future__ import annotations

import json
from datetime import UTC, datetime

from sqlalchemy import Engine, delete, insert, select, update

from appliance.alerts.rules import AlertRule
from appliance.ledger.models import AlertEventRow, AlertRuleRow

EVENT_COLUMNS = ("id", "at", "rule", "kind", "subject", "state", "severity", "value", "threshold", "message",
                 "acknowledged_at", "acknowledged_by")


class AlertStore:
    def __init__(self, engine: Engine) -> None:
        self.engine = engine

    def add_event(self, rule: AlertRule, subject: str, state: str, value: float | None, message: str) -> dict:
        values = {"at": datetime.now(UTC), "rule": rule.name, "kind": rule.kind, "subject": subject,
                  "state": state, "severity": rule.severity, "value": value, "threshold": rule.threshold,
                  "message": message}
        with self.engine.begin() as conn:
            event_id = conn.execute(insert(AlertEventRow).values(**values)).inserted_primary_key[0]
        return _event({"id": event_id, **values, "acknowledged_at": None, "acknowledged_by": None})

    def events(self, limit: int = 200, since_id: int = 0) -> list[dict]:
        """Newest first."""
        query = (select(AlertEventRow).where(AlertEventRow.id > since_id)
                 .order_by(AlertEventRow.id.desc()).limit(limit))
        with self.engine.connect() as conn:
            return [_event(r._mapping) for r in conn.execute(query)]

    def firing(self) -> list[dict]:
        """The events whose alert is still active: the newest event of its (rule, subject) fired."""
        latest: dict[tuple[str, str], dict] = {}
        with self.engine.connect() as conn:
            for row in conn.execute(select(AlertEventRow).order_by(AlertEventRow.id)):
                latest[(row.rule, row.subject)] = _event(row._mapping)
        return [e for e in latest.values() if e["state"] == "firing"]

    def acknowledge(self, event_id: int, actor: str) -> dict | None:
        with self.engine.begin() as conn:
            conn.execute(update(AlertEventRow).where(AlertEventRow.id == event_id,
                                                     AlertEventRow.acknowledged_at.is_(None))
                         .values(acknowledged_at=datetime.now(UTC), acknowledged_by=actor[:200]))
            row = conn.execute(select(AlertEventRow).where(AlertEventRow.id == event_id)).first()
        return _event(row._mapping) if row is not None else None

    def rule_overrides(self) -> dict[str, AlertRule | None]:
        """name -> the rule set at run time, or None where it was removed."""
        with self.engine.connect() as conn:
            rows = conn.execute(select(AlertRuleRow.name, AlertRuleRow.spec)).all()
        return {name: (AlertRule.from_mapping(json.loads(spec)) if spec != "null" else None) for name, spec in rows}

    def save_rule(self, name: str, rule: AlertRule | None) -> None:
        spec = json.dumps(rule.to_dict() if rule is not None else None)
        with self.engine.begin() as conn:
            conn.execute(delete(AlertRuleRow).where(AlertRuleRow.name == name))
            conn.execute(insert(AlertRuleRow).values(name=name, spec=spec, updated_at=datetime.now(UTC)))


def _event(row) -> dict:
    event = {c: row[c] for c in EVENT_COLUMNS}
    for c in ("at", "acknowledged_at"):
        if event[c] is not None:
            event[c] = event[c].isoformat()
    return event
