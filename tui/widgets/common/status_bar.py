"""One line above the footer: where the console is attached and whether the service answers."""
from __future__ import annotations

from textual.widgets import Static

from tui.client import DISCONNECTED


class StatusBar(Static):
    def on_mount(self) -> None:
        self.watch(self.app, "connected", self.show, init=True)

    def show(self, connected: bool | None) -> None:
        url = getattr(self.app, "client").base_url
        self.set_class(connected is False, "-down")
        if connected is False:
            self.update(f"{DISCONNECTED}  ({url})")
        elif connected:
            self.update(f"connected  {url}")
        else:
            self.update(f"connecting  {url}")
