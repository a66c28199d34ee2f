"""Alerts: what fires now, the history of state changes, and acknowledge."""
from __future__ import annotations

from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import Vertical
from textual.widgets import Label

from tui.figures import fmt_any
from tui.screens.base import ConsoleScreen
from tui.widgets.common.table import RowsTable


def _time(value: object) -> str:
    return str(value)[:19].replace("T", " ") if value else "-"


def _value(value: object) -> str:
    return f"{value:.4g}" if isinstance(value, float) else fmt_any(value)


class FiringTable(RowsTable):
    """Rows: tui.payloads.AlertEvent"""

    def __init__(self, **kwargs) -> None:
        super().__init__([("since", "at", _time), ("severity", "severity", fmt_any), ("rule", "rule", fmt_any),
                          ("subject", "subject", fmt_any), ("value", "value", _value),
                          ("threshold", "threshold", _value), ("ack", "acknowledged_by", fmt_any)],
                         key="id", **kwargs)


class HistoryTable(RowsTable):
    """Rows: tui.payloads.AlertEvent"""

    def __init__(self, **kwargs) -> None:
        super().__init__([("time", "at", _time), ("state", "state", fmt_any), ("severity", "severity", fmt_any),
                          ("rule", "rule", fmt_any), ("subject", "subject", fmt_any), ("value", "value", _value),
                          ("ack", "acknowledged_by", fmt_any), ("message", "message", fmt_any)],
                         key="id", **kwargs)


class AlertsScreen(ConsoleScreen):
    HEADING = "Alerts"
    BINDINGS = [Binding("a", "acknowledge", "Acknowledge"), Binding("r", "refresh", "Refresh")]

    def body(self) -> ComposeResult:
        with Vertical(classes="body"):
            yield Label("Firing now", classes="panel-title")
            yield FiringTable(id="alerts-firing")
            yield Label("History (newest first; select a row and press a to acknowledge)", classes="panel-title")
            yield HistoryTable(id="alerts-history")

    async def load(self) -> None:
        reply = await self.client.alerts()
        if not self.check(reply):
            return
        events = reply.data.events
        acknowledged = {e.id: e.acknowledged_by for e in events}     # the history has the latest
        firing = [e.model_copy(update={"acknowledged_by": acknowledged.get(e.id, e.acknowledged_by)})
                  for e in reply.data.firing]
        self.query_one(FiringTable).show(firing)
        self.query_one(HistoryTable).show(events)
        self.app.firing_alerts = firing   # type: ignore[attr-defined]

    def action_refresh(self) -> None:
        self.refresh_data()

    async def action_acknowledge(self) -> None:
        focused = self.focused if isinstance(self.focused, RowsTable) else self.query_one(HistoryTable)
        event = focused.selected
        if event is None:
            self.notify("no alert selected", severity="warning")
            return
        if self.check(await self.client.acknowledge_alert(event.id)):
            self.notify(f"acknowledged {event.rule}")
        self.refresh_data()
