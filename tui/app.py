"""The Airlock console: a Textual app over the admin API, one screen per concern.

`create_app(client)` is shared by `airlock console` and the tests; a replaying client and
`poll_seconds=None` give a frozen, deterministic console for snapshots.
"""
from __future__ import annotations

from textual.app import App
from textual.binding import Binding
from textual.reactive import reactive

from tui.client import AdminClient
from tui.screens.alerts import AlertsScreen
from tui.screens.base import ConsoleScreen
from tui.screens.caches import CachesScreen
from tui.screens.cost import CostScreen
from tui.screens.dashboard import DashboardScreen
from tui.screens.fleet import FleetScreen
from tui.screens.frontier import FrontierScreen
from tui.screens.keys import KeysScreen
from tui.screens.memory import MemoryScreen
from tui.screens.models import ModelsScreen


class AirlockConsole(App):
    CSS_PATH = "styles/console.tcss"
    TITLE = "Airlock console"
    MODES = {
        "dashboard": DashboardScreen,
        "models": ModelsScreen,
        "memory": MemoryScreen,
        "caches": CachesScreen,
        "cost": CostScreen,
        "keys": KeysScreen,
        "frontier": FrontierScreen,
        "alerts": AlertsScreen,
        "fleet": FleetScreen,
    }
    BINDINGS = [
        Binding("f1", "switch_mode('dashboard')", "Dash", show=False),
        Binding("f2", "switch_mode('models')", "Models", show=False),
        Binding("f3", "switch_mode('memory')", "Memory", show=False),
        Binding("f4", "switch_mode('caches')", "Caches", show=False),
        Binding("f5", "switch_mode('cost')", "Cost", show=False),
        Binding("f6", "switch_mode('keys')", "Keys", show=False),
        Binding("f7", "switch_mode('frontier')", "Frontier", show=False),
        Binding("f8", "switch_mode('alerts')", "Alerts", show=False),
        Binding("f9", "switch_mode('fleet')", "Fleet", show=False),
        Binding("ctrl+q", "quit", "Quit", priority=True),
    ]
    HORIZONTAL_BREAKPOINTS = [(0, "-narrow"), (100, "-wide")]
    connected: reactive[bool | None] = reactive(None)
    firing_alerts: reactive[list] = reactive(list, always_update=True)

    def __init__(self, client: AdminClient, poll_seconds: float | None = 2.0) -> None:
        super().__init__()
        if poll_seconds is not None and poll_seconds <= 0:
            raise ValueError(f"poll_seconds must be positive, got {poll_seconds}")
        self.client = client
        self.poll_seconds = poll_seconds
        client.on_connection = self._connection_changed

    def on_mount(self) -> None:
        self.switch_mode("dashboard")
        if self.poll_seconds:
            self.set_interval(self.poll_seconds, self.poll)

    def poll(self) -> None:
        """Refresh the screen in view; while the service is down this is the retry."""
        if isinstance(self.screen, ConsoleScreen):
            self.screen.poll_data()
        self.run_worker(self.poll_alerts, group="alerts", exclusive=True, exit_on_error=False)

    async def poll_alerts(self) -> None:
        """What fires now, for the banner on every screen."""
        reply = await self.client.alerts(limit=1)
        if reply.ok:
            self.firing_alerts = reply.data.firing

    def _connection_changed(self, connected: bool) -> None:
        was, self.connected = self.connected, connected
        if connected and was is False:
            self.notify("the service answers again", title="Reconnected")

    async def on_unmount(self) -> None:
        await self.client.close()


def create_app(client: AdminClient, poll_seconds: float | None = 2.0) -> AirlockConsole:
    return AirlockConsole(client, poll_seconds=poll_seconds)
