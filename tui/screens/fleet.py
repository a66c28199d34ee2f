"""Fleet: every appliance on the service's database (GET /admin/fleet), whichever node the
console is attached to: up or down, draining, load and loaded models."""
from __future__ import annotations

from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import Vertical
from textual.widgets import Label

from tui.figures import fmt_any
from tui.screens.base import ConsoleScreen
from tui.widgets.common.table import RowsTable


class FleetTable(RowsTable):
    """Rows: tui.payloads.FleetNode"""

    def __init__(self, **kwargs) -> None:
        super().__init__([("node", "node", fmt_any), ("state", "state", fmt_any), ("address", "address", fmt_any),
                          ("running", "running", fmt_any), ("waiting", "waiting", fmt_any),
                          ("models", "models", lambda m: ", ".join(m or []) or "-"),
                          ("seen (s ago)", "seen_seconds_ago", fmt_any)], key="node", **kwargs)


class FleetScreen(ConsoleScreen):
    HEADING = "Fleet"
    BINDINGS = [Binding("r", "refresh", "Refresh")]

    def body(self) -> ComposeResult:
        with Vertical(classes="body"):
            yield Label("Nodes on this database (each reports every 2 s; down after 6 s silent)",
                        classes="panel-title")
            yield FleetTable(id="fleet-nodes")

    async def load(self) -> None:
        reply = await self.client.fleet()
        if not self.check(reply):
            return
        self.query_one(FleetTable).show(reply.data.nodes)

    def action_refresh(self) -> None:
        self.refresh_data()
