"""A one-line banner on every screen while alerts fire (hidden otherwise); click or F8 opens
the alerts screen."""
from __future__ import annotations

from textual.widgets import Static

from tui.payloads import AlertEvent

SEVERITY_ORDER = {"critical": 0, "warning": 1, "info": 2}


class AlertBanner(Static):
    def on_mount(self) -> None:
        self.watch(self.app, "firing_alerts", self.show, init=True)

    def show(self, firing: list[AlertEvent] | None) -> None:
        firing = sorted(firing or [], key=lambda e: SEVERITY_ORDER.get(e.severity, 3))
        self.display = bool(firing)
        if not firing:
            return
        worst = firing[0].severity
        self.set_class(worst == "critical", "-critical")
        names = ", ".join(f"{e.rule}{' (' + e.subject + ')' if e.subject else ''}" for e in firing[:3])
        more = f" and {len(firing) - 3} more" if len(firing) > 3 else ""
        self.update(f"⚠ {len(firing)} alert{'s' if len(firing) > 1 else ''} firing ({worst}): {names}{more}  [F8]")

    async def on_click(self) -> None:
        await self.app.switch_mode("alerts")
